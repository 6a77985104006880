//! The built-in plugins as one component. Each member is still its own
//! plugin to the host (name, rules, config, verdicts), but they share one
//! instance, one memory and one copy of the inventory: judging 100,000
//! listeners once instead of five times over is what makes the built-ins
//! cheap (see the README's Plugins benchmark).
//!
//! Natively this crate is empty: the members are unit-tested in their own
//! crates.

#[cfg(target_arch = "wasm32")]
mod component {
    use portcullis_sdk::{Evaluation, Inventory, Plugin, PluginError, PluginInfo};

    wit_bindgen::generate!({
        path: ["../../wit", "wit"],
        world: "portcullis:builtins/builtins",
        with: {
            "portcullis:plugin/types@0.2.4": portcullis_sdk::portcullis::plugin::types,
            "portcullis:plugin/host@0.2.4": portcullis_sdk::portcullis::plugin::host,
            "portcullis:plugin/inventory@0.2.4": portcullis_sdk::portcullis::plugin::inventory,
        },
    });

    /// One member's entry points.
    struct Member {
        name: &'static str,
        describe: fn() -> PluginInfo,
        validate_config: fn(String) -> Result<(), PluginError>,
        evaluate: fn(String, &Inventory) -> Result<Evaluation, PluginError>,
    }

    macro_rules! member {
        ($name:literal, $plugin:ty) => {
            Member {
                name: $name,
                describe: <$plugin as Plugin>::describe,
                validate_config: <$plugin as Plugin>::validate_config,
                evaluate: <$plugin as Plugin>::evaluate,
            }
        };
    }

    /// In the order the host lists them.
    const MEMBERS: [Member; 5] = [
        member!("baseline", baseline::BaselinePlugin),
        member!("expected", expected::Expected),
        member!("exposure", exposure::Exposure),
        member!("profiles", profiles::Profiles),
        member!("services", services::Services),
    ];

    fn member(name: &str) -> Result<&'static Member, PluginError> {
        MEMBERS
            .iter()
            .find(|m| m.name == name)
            .ok_or_else(|| PluginError::Internal(format!("no built-in plugin is named `{name}`")))
    }

    struct Bundle;

    impl exports::portcullis::builtins::bundle::Guest for Bundle {
        fn describe() -> Vec<PluginInfo> {
            MEMBERS.iter().map(|m| (m.describe)()).collect()
        }

        fn validate_config(plugin: String, config: String) -> Result<(), PluginError> {
            (member(&plugin)?.validate_config)(config)
        }

        fn evaluate(members: Vec<(String, String)>) -> Vec<Result<Evaluation, PluginError>> {
            let inventory = Inventory::fetch();
            let answers = members
                .into_iter()
                .map(|(name, config)| (member(&name)?.evaluate)(config, &inventory))
                .collect();
            // The host gives every evaluation a fresh instance and drops it
            // after this call: freeing a fleet's inventory record by record
            // would only cost time (a tenth of the built-ins' own).
            std::mem::forget(inventory);
            answers
        }
    }

    export!(Bundle);
}
