//! Exports the rules interface of ABI 0.3.0, which this host must refuse.
#![cfg(target_arch = "wasm32")]

wit_bindgen::generate!({
    inline: "
        package portcullis:plugin@0.3.0;
        interface rules { describe: func() -> string; }
        world plugin { export rules; }
    ",
});

struct Future;

impl exports::portcullis::plugin::rules::Guest for Future {
    fn describe() -> String {
        "from the future".into()
    }
}

export!(Future);
