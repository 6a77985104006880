//! Serving every ABI version from one set of records. The host speaks the
//! current ABI (0.2); a plugin built for 0.1 gets the same inventory
//! converted to 0.1's records, and its answers are converted to 0.2's.
//! Nothing past this module knows which version a plugin was built for.

use std::sync::Arc;

use wasmtime::Store;
use wasmtime::component::{Component, Linker};

use super::abi::{Served, bundle, current, v0_1, wit};
use super::run::State;

/// The inventory a plugin reads, shared by every plugin of one
/// evaluation. Each list becomes records when a plugin asks for it (see
/// `convert`); command lines and socket units' services cross into a plugin
/// only when it asks, one process at a time.
#[derive(Debug)]
pub struct Records {
    pub inventory: Arc<crate::model::Inventory>,
    /// Each process plugins see, as (listener, holder) indexes of the
    /// holder it was first seen as.
    pub processes: Vec<(u32, u32)>,
    /// Each holder's process index, listener after listener.
    pub holder_processes: Vec<u32>,
}

/// How much of the inventory one evaluation may read. Copying it is the
/// host's work, which the plugin's fuel does not count, so it is bounded
/// here, by counts that do not depend on the machine's load: each list a
/// few times over, and each process's details a few times over.
#[derive(Debug, Default)]
pub struct ReadBudget {
    lists: u32,
    details: u64,
    details_allowed: u64,
    over: Option<String>,
}

/// Reads of a whole list (host facts, namespaces, processes, listeners or
/// their columns, containers…) in one evaluation: the SDK reads each once.
const LIST_READS: u32 = 64;
/// Reads of one process's details (command line, activated service), per
/// process, plus a floor.
const DETAIL_READS_PER_PROCESS: u64 = 8;
const DETAIL_READS_FLOOR: u64 = 4096;

impl ReadBudget {
    fn for_records(records: &Records) -> ReadBudget {
        ReadBudget {
            details_allowed: DETAIL_READS_FLOOR
                + DETAIL_READS_PER_PROCESS * records.processes.len() as u64,
            ..ReadBudget::default()
        }
    }

    fn list(&mut self) -> wasmtime::Result<()> {
        self.lists += 1;
        if self.lists > LIST_READS {
            return self.refuse(format!(
                "read the inventory's lists more than {LIST_READS} times in one evaluation"
            ));
        }
        Ok(())
    }

    fn detail(&mut self) -> wasmtime::Result<()> {
        self.details += 1;
        if self.details > self.details_allowed {
            return self.refuse(format!(
                "asked for processes' details more than {} times in one evaluation ({DETAIL_READS_PER_PROCESS} per process)",
                self.details_allowed
            ));
        }
        Ok(())
    }

    fn refuse(&mut self, what: String) -> wasmtime::Result<()> {
        let message = format!("{what}: stopped (the host's copying is bounded like its fuel)");
        self.over = Some(message.clone());
        Err(wasmtime::Error::msg(message))
    }

    /// Why the budget stopped the plugin, if it did.
    pub fn exceeded(&self) -> Option<String> {
        self.over.clone()
    }
}

impl current::portcullis::plugin::inventory::Host for State {
    fn host(&mut self) -> wasmtime::Result<wit::HostFacts> {
        self.reads.list()?;
        Ok(self.records().map_or_else(no_host, Records::host))
    }

    fn namespaces(&mut self) -> wasmtime::Result<Vec<wit::Netns>> {
        self.reads.list()?;
        Ok(self.records().map(Records::namespaces).unwrap_or_default())
    }

    fn processes(&mut self) -> wasmtime::Result<Vec<wit::Process>> {
        self.reads.list()?;
        Ok(self.records().map(Records::processes).unwrap_or_default())
    }

    fn listeners(&mut self) -> wasmtime::Result<Vec<wit::Listener>> {
        self.reads.list()?;
        Ok(self.records().map(Records::listeners).unwrap_or_default())
    }

    fn cmdline(&mut self, process: u32) -> wasmtime::Result<Vec<String>> {
        self.reads.detail()?;
        Ok(self
            .records()
            .map(|r| r.cmdline(process))
            .unwrap_or_default())
    }

    fn containers(&mut self) -> wasmtime::Result<Vec<wit::Container>> {
        self.reads.list()?;
        Ok(self.records().map(Records::containers).unwrap_or_default())
    }

    fn reachabilities(&mut self) -> wasmtime::Result<Vec<Option<wit::Reachability>>> {
        self.reads.list()?;
        Ok(self
            .records()
            .map(Records::reachabilities)
            .unwrap_or_default())
    }

    fn published(&mut self) -> wasmtime::Result<Vec<wit::PublishedPort>> {
        self.reads.list()?;
        Ok(self.records().map(Records::published).unwrap_or_default())
    }

    fn listener_columns(&mut self) -> wasmtime::Result<wit::ListenerTable> {
        self.reads.list()?;
        Ok(self.records().map_or_else(
            || super::convert::listener_table(&[], &[]),
            Records::listener_table,
        ))
    }

    fn activates(&mut self, process: u32) -> wasmtime::Result<Option<String>> {
        self.reads.detail()?;
        Ok(self.records().and_then(|r| r.activates(process)))
    }
}

impl State {
    /// Outside `evaluate` there is no inventory: every list is empty.
    fn records(&self) -> Option<&Records> {
        self.inventory.as_deref()
    }
}

fn no_host() -> wit::HostFacts {
    wit::HostFacts {
        hostname: String::new(),
        os_id: None,
        os_version_id: None,
        kernel: String::new(),
        arch: String::new(),
    }
}

/// A component ready to instantiate, for the ABI version it was built for.
pub enum Pre {
    V0_1(v0_1::PluginPre<State>),
    V0_2(current::PluginPre<State>),
    /// One member of the built-ins' shared component.
    Bundled {
        bundle: Arc<bundle::BuiltinsPre<State>>,
        member: String,
    },
}

impl Pre {
    pub fn new(
        linker: &Linker<State>,
        component: &Component,
        abi: Served,
    ) -> wasmtime::Result<Pre> {
        let pre = linker.instantiate_pre(component)?;
        Ok(match abi {
            Served::V0_1 => Pre::V0_1(v0_1::PluginPre::new(pre)?),
            Served::V0_2 => Pre::V0_2(current::PluginPre::new(pre)?),
        })
    }

    /// The built-ins' component, for a member of it.
    pub fn bundle(&self) -> Option<&bundle::BuiltinsPre<State>> {
        match self {
            Pre::Bundled { bundle, .. } => Some(bundle),
            _ => None,
        }
    }

    /// Whether both are members of the same component.
    pub fn bundled_with(&self, other: &Pre) -> bool {
        match (self, other) {
            (Pre::Bundled { bundle: a, .. }, Pre::Bundled { bundle: b, .. }) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    pub fn abi(&self) -> Served {
        match self {
            Pre::V0_1(_) => Served::V0_1,
            Pre::V0_2(_) | Pre::Bundled { .. } => Served::V0_2,
        }
    }

    pub fn describe(&self, store: &mut Store<State>) -> wasmtime::Result<wit::PluginInfo> {
        match self {
            Pre::V0_1(pre) => {
                let plugin = pre.instantiate(&mut *store)?;
                let info = plugin.portcullis_plugin_rules().call_describe(store)?;
                Ok(old::plugin_info(info))
            }
            Pre::V0_2(pre) => {
                let plugin = pre.instantiate(&mut *store)?;
                plugin.portcullis_plugin_rules().call_describe(store)
            }
            Pre::Bundled { bundle, member } => describe_members(bundle, store)?
                .into_iter()
                .find(|info| info.name == *member)
                .ok_or_else(|| wasmtime::Error::msg(format!("no built-in named {member}"))),
        }
    }

    pub fn validate_config(
        &self,
        store: &mut Store<State>,
        config: &str,
    ) -> wasmtime::Result<Result<(), wit::PluginError>> {
        match self {
            Pre::V0_1(pre) => {
                let plugin = pre.instantiate(&mut *store)?;
                let answer = plugin
                    .portcullis_plugin_rules()
                    .call_validate_config(store, config)?;
                Ok(answer.map_err(old::plugin_error))
            }
            Pre::V0_2(pre) => {
                let plugin = pre.instantiate(&mut *store)?;
                plugin
                    .portcullis_plugin_rules()
                    .call_validate_config(store, config)
            }
            Pre::Bundled { bundle, member } => {
                let plugin = bundle.instantiate(&mut *store)?;
                plugin
                    .portcullis_builtins_bundle()
                    .call_validate_config(store, member, config)
            }
        }
    }

    pub fn evaluate(
        &self,
        store: &mut Store<State>,
        config: &str,
        records: &Arc<Records>,
    ) -> wasmtime::Result<Result<wit::Evaluation, wit::PluginError>> {
        match self {
            Pre::V0_1(pre) => {
                // The old ABI takes everything at once, command lines too.
                let inventory = old::inventory(records);
                let plugin = pre.instantiate(&mut *store)?;
                let answer = plugin
                    .portcullis_plugin_rules()
                    .call_evaluate(store, config, &inventory)?;
                Ok(answer.map(old::evaluation).map_err(old::plugin_error))
            }
            Pre::V0_2(pre) => {
                store.data_mut().reads = ReadBudget::for_records(records);
                store.data_mut().inventory = Some(records.clone());
                let plugin = pre.instantiate(&mut *store)?;
                plugin
                    .portcullis_plugin_rules()
                    .call_evaluate(store, config)
            }
            Pre::Bundled { bundle, member } => {
                let members = [(member.clone(), config.to_owned())];
                let mut answers = evaluate_members(bundle, store, &members, records)?;
                // evaluate_members answers for exactly the members asked.
                answers
                    .pop()
                    .ok_or_else(|| wasmtime::Error::msg("the built-ins answered for no member"))
            }
        }
    }
}

/// What every member of the built-ins' component says it is, in order.
pub fn describe_members(
    bundle: &bundle::BuiltinsPre<State>,
    store: &mut Store<State>,
) -> wasmtime::Result<Vec<wit::PluginInfo>> {
    let plugin = bundle.instantiate(&mut *store)?;
    plugin.portcullis_builtins_bundle().call_describe(store)
}

/// Asks several built-ins in one instance whether they accept their
/// configs: `(member, config)` in, one answer per member out.
pub fn validate_members(
    bundle: &bundle::BuiltinsPre<State>,
    store: &mut Store<State>,
    members: &[(String, String)],
) -> wasmtime::Result<Vec<Result<(), wit::PluginError>>> {
    let plugin = bundle.instantiate(&mut *store)?;
    let rules = plugin.portcullis_builtins_bundle();
    members
        .iter()
        .map(|(member, config)| rules.call_validate_config(&mut *store, member, config))
        .collect()
}

/// Judges the inventory with several built-ins in one instance, which
/// reads the inventory once for all of them: `(member, config)` in, one
/// answer per member out, in the same order.
pub fn evaluate_members(
    bundle: &bundle::BuiltinsPre<State>,
    store: &mut Store<State>,
    members: &[(String, String)],
    records: &Arc<Records>,
) -> wasmtime::Result<Vec<Result<wit::Evaluation, wit::PluginError>>> {
    store.data_mut().reads = ReadBudget::for_records(records);
    store.data_mut().inventory = Some(records.clone());
    let plugin = bundle.instantiate(&mut *store)?;
    let answers = plugin
        .portcullis_builtins_bundle()
        .call_evaluate(&mut *store, members)?;
    if answers.len() != members.len() {
        return Err(wasmtime::Error::msg(format!(
            "the built-ins answered for {} members, not {}",
            answers.len(),
            members.len()
        )));
    }
    Ok(answers)
}

/// ABI 0.1's records from and to the current ones: field by field, so a
/// change to the current records that 0.1 cannot express fails to compile
/// here instead of reaching old plugins.
mod old {
    use super::Records;
    use super::v0_1::portcullis::plugin::types as v1;
    use super::wit;

    pub fn inventory(r: &Records) -> v1::Inventory {
        v1::Inventory {
            host: host(r.host()),
            namespaces: r.namespaces().iter().map(netns).collect(),
            processes: r
                .processes()
                .iter()
                .zip(0..)
                .map(|(p, i)| process(p, r.cmdline(i)))
                .collect(),
            listeners: r.listeners().iter().map(listener).collect(),
        }
    }

    fn host(h: wit::HostFacts) -> v1::HostFacts {
        v1::HostFacts {
            hostname: h.hostname,
            os_id: h.os_id,
            os_version_id: h.os_version_id,
            kernel: h.kernel,
            arch: h.arch,
        }
    }

    fn netns(n: &wit::Netns) -> v1::Netns {
        v1::Netns {
            inode: n.inode,
            names: n.names.clone(),
            is_host: n.is_host,
            units: n.units.clone(),
            containers: n.containers.clone(),
            external_interfaces: n.external_interfaces.clone(),
        }
    }

    fn process(p: &wit::Process, cmdline: Vec<String>) -> v1::Process {
        v1::Process {
            pid: p.pid,
            comm: p.comm.clone(),
            exe: p.exe.clone(),
            cmdline,
            uid: p.uid,
            unit: p.unit.clone(),
            container: p.container.clone(),
        }
    }

    fn listener(l: &wit::Listener) -> v1::Listener {
        v1::Listener {
            id: l.id,
            netns: l.netns,
            protocol: match l.protocol {
                wit::Protocol::Tcp => v1::Protocol::Tcp,
                wit::Protocol::Udp => v1::Protocol::Udp,
            },
            family: match l.family {
                wit::Family::Ipv4 => v1::Family::Ipv4,
                wit::Family::Ipv6 => v1::Family::Ipv6,
            },
            address: l.address.clone(),
            port: l.port,
            bound_device: l.bound_device.clone(),
            v6only: l.v6only,
            scope: match l.scope {
                wit::Scope::Loopback => v1::Scope::Loopback,
                wit::Scope::LinkLocal => v1::Scope::LinkLocal,
                wit::Scope::Private => v1::Scope::Private,
                wit::Scope::Multicast => v1::Scope::Multicast,
                wit::Scope::Public => v1::Scope::Public,
                wit::Scope::Wildcard => v1::Scope::Wildcard,
                wit::Scope::DualStack => v1::Scope::DualStack,
            },
            address_interfaces: l.address_interfaces.clone(),
            uid: l.uid,
            holders: l
                .holders
                .iter()
                .map(|h| v1::Holder {
                    process: h.process,
                    fd: h.fd,
                })
                .collect(),
            owner_unknown: l.owner_unknown,
        }
    }

    fn level(l: v1::Level) -> wit::Level {
        match l {
            v1::Level::Note => wit::Level::Note,
            v1::Level::Warning => wit::Level::Warning,
            v1::Level::Error => wit::Level::Error,
        }
    }

    pub fn plugin_info(p: v1::PluginInfo) -> wit::PluginInfo {
        wit::PluginInfo {
            name: p.name,
            version: p.version,
            rules: p.rules.into_iter().map(rule).collect(),
            config_schema: p.config_schema,
        }
    }

    fn rule(r: v1::RuleInfo) -> wit::RuleInfo {
        wit::RuleInfo {
            id: r.id,
            name: r.name,
            short_description: r.short_description,
            full_description: r.full_description,
            help_markdown: r.help_markdown,
            help_uri: r.help_uri,
            default_level: level(r.default_level),
            tags: r.tags,
            enabled_by_default: r.enabled_by_default,
            security_severity: r.security_severity,
            precision: match r.precision {
                v1::Precision::VeryHigh => wit::Precision::VeryHigh,
                v1::Precision::High => wit::Precision::High,
                v1::Precision::Medium => wit::Precision::Medium,
                v1::Precision::Low => wit::Precision::Low,
            },
        }
    }

    pub fn plugin_error(e: v1::PluginError) -> wit::PluginError {
        match e {
            v1::PluginError::InvalidConfig(m) => wit::PluginError::InvalidConfig(m),
            v1::PluginError::Internal(m) => wit::PluginError::Internal(m),
        }
    }

    pub fn evaluation(e: v1::Evaluation) -> wit::Evaluation {
        wit::Evaluation {
            verdicts: e
                .verdicts
                .into_iter()
                .map(|v| wit::Verdict {
                    rule_id: v.rule_id,
                    listener: v.listener,
                    outcome: match v.outcome {
                        v1::Outcome::Pass => wit::Outcome::Pass,
                        v1::Outcome::Fail => wit::Outcome::Fail,
                        v1::Outcome::Skip => wit::Outcome::Skip,
                    },
                    message: v.message,
                    level: v.level.map(level),
                    related: v.related,
                    // 0.1 had no subjects: its host-wide verdicts keep
                    // their message as their identity.
                    subject: None,
                })
                .collect(),
            passed: e
                .passed
                .into_iter()
                .map(|p| wit::Passed {
                    rule_id: p.rule_id,
                    listeners: p.listeners,
                })
                .collect(),
            not_applicable: e
                .not_applicable
                .into_iter()
                .map(|n| wit::NotApplicable {
                    rule_id: n.rule_id,
                    reason: n.reason,
                })
                .collect(),
        }
    }
}
