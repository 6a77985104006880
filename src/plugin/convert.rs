//! Between the inventory model and the ABI's records, both ways, checking
//! everything a plugin hands back.

use rustc_hash::FxHashMap;
use std::sync::Arc;

use crate::model::{self, Family, Inventory, Level, Outcome, Precision, Protocol, Scope};

use super::abi::wit;
use super::served::Records;

/// The inventory as plugins see it. Listener ids are indexes into
/// `inventory.listeners`. Only the table of distinct processes is built
/// here; each list becomes records when a plugin reads it, so an
/// evaluation holds no second copy of a fleet's inventory.
pub fn inventory(inventory: Arc<Inventory>) -> Records {
    // Each process once, keyed by pid and unit (PID 1 holding sockets for
    // several .socket units appears once per unit).
    let mut seen: FxHashMap<(i32, Option<&str>), u32> = FxHashMap::default();
    let mut processes = Vec::new();
    let mut holder_processes = Vec::new();
    for (l, listener) in inventory.listeners.iter().enumerate() {
        for (h, holder) in listener.holders.iter().enumerate() {
            let key = (holder.pid, holder.process.unit.as_deref());
            let next = processes.len() as u32;
            let process = *seen.entry(key).or_insert_with(|| {
                processes.push((l as u32, h as u32));
                next
            });
            holder_processes.push(process);
        }
    }
    drop(seen);
    Records {
        inventory,
        processes,
        holder_processes,
    }
}

impl Records {
    /// The holder a process was first seen as.
    fn holder(&self, process: u32) -> Option<&model::Holder> {
        let &(l, h) = self.processes.get(process as usize)?;
        self.inventory
            .listeners
            .get(l as usize)?
            .holders
            .get(h as usize)
    }

    pub fn host(&self) -> wit::HostFacts {
        let host = &self.inventory.host;
        wit::HostFacts {
            hostname: host.hostname.clone(),
            os_id: host.os_id.clone(),
            os_version_id: host.os_version_id.clone(),
            kernel: host.kernel.clone(),
            arch: host.arch.clone(),
        }
    }

    pub fn namespaces(&self) -> Vec<wit::Netns> {
        self.inventory.namespaces.iter().map(netns).collect()
    }

    pub fn processes(&self) -> Vec<wit::Process> {
        let listeners = &self.inventory.listeners;
        self.processes
            .iter()
            .map(|&(l, h)| process(&listeners[l as usize].holders[h as usize]))
            .collect()
    }

    pub fn listeners(&self) -> Vec<wit::Listener> {
        let mut start = 0;
        self.inventory
            .listeners
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let end = start + l.holders.len();
                let processes = &self.holder_processes[start..end];
                start = end;
                listener(i as u32, l, processes)
            })
            .collect()
    }

    /// A process's command line, escaped; empty for a process not in the
    /// table.
    pub fn cmdline(&self, process: u32) -> Vec<String> {
        self.holder(process)
            .map(|h| h.process.cmdline.iter().map(|a| a.escaped()).collect())
            .unwrap_or_default()
    }

    /// The service a socket unit's process activates.
    pub fn activates(&self, process: u32) -> Option<String> {
        self.holder(process)?.process.activates.clone()
    }

    pub fn containers(&self) -> Vec<wit::Container> {
        self.inventory.containers.iter().map(container).collect()
    }

    /// By listener index.
    pub fn reachabilities(&self) -> Vec<Option<wit::Reachability>> {
        self.inventory
            .listeners
            .iter()
            .map(|l| l.reachability.as_ref().map(reachability))
            .collect()
    }

    pub fn published(&self) -> Vec<wit::PublishedPort> {
        self.inventory.published.iter().map(published).collect()
    }

    pub fn listener_table(&self) -> wit::ListenerTable {
        listener_table(&self.inventory.listeners, &self.holder_processes)
    }
}

fn process(h: &model::Holder) -> wit::Process {
    wit::Process {
        pid: h.pid,
        comm: h.process.comm.escaped(),
        exe: h.process.exe.as_ref().map(|e| e.escaped()),
        uid: h.process.uid,
        unit: h.process.unit.clone(),
        container: h.process.container.clone(),
    }
}

fn reach_state(s: model::ReachState) -> wit::ReachState {
    match s {
        model::ReachState::Open => wit::ReachState::Open,
        model::ReachState::Restricted => wit::ReachState::Restricted,
        model::ReachState::Filtered => wit::ReachState::Filtered,
        model::ReachState::Unknown => wit::ReachState::Unknown,
    }
}

fn published(p: &model::Published) -> wit::PublishedPort {
    wit::PublishedPort {
        netns: p.netns.inode,
        protocol: match p.protocol {
            Protocol::Tcp => wit::Protocol::Tcp,
            Protocol::Udp => wit::Protocol::Udp,
        },
        port: p.port,
        addresses: p.addresses.clone(),
        interfaces: p.interfaces.clone(),
        translated_by: p.translated_by.to_string(),
        to_address: p.to.address.clone(),
        to_port: p.to.port,
        to_netns: p.to.netns.map(|n| n.inode),
        to_listener: p.to.listener,
        path: match p.path {
            model::PublishedPath::Local => wit::PublishedPath::Local,
            model::PublishedPath::Forward => wit::PublishedPath::Forward,
        },
        reach: reachability(&p.reach),
        input: reach_state(p.input),
    }
}

fn reachability(r: &model::Reachability) -> wit::Reachability {
    wit::Reachability {
        state: reach_state(r.state),
        interfaces: r.interfaces.clone(),
        sources: r.sources.clone(),
        decided_by: r.decided_by.as_ref().map(ToString::to_string),
        reason: r.reason.clone(),
    }
}

fn container(c: &model::Container) -> wit::Container {
    wit::Container {
        id: c.id.clone(),
        runtime: c.runtime.clone(),
        name: c.name.clone(),
        image: c.image.clone(),
        pod: c.pod.as_ref().map(|p| wit::Pod {
            namespace: p.namespace.clone(),
            name: p.name.clone(),
            uid: p.uid.clone(),
            container: p.container.clone(),
        }),
        sandbox: c.sandbox,
    }
}

fn netns(ns: &model::Netns) -> wit::Netns {
    wit::Netns {
        inode: ns.id.inode,
        names: ns.names.clone(),
        is_host: ns.is_host,
        units: ns.hints.units.clone(),
        containers: ns.hints.containers.clone(),
        external_interfaces: ns
            .interfaces
            .iter()
            .filter(|i| i.up && !i.addresses.iter().all(|a| a.is_loopback()) && i.name != "lo")
            .map(|i| i.name.clone())
            .collect(),
    }
}

/// `processes`: each of its holders' process index, in order.
fn listener(id: u32, l: &model::Listener, processes: &[u32]) -> wit::Listener {
    wit::Listener {
        id,
        netns: l.netns.inode,
        protocol: protocol(l.protocol),
        family: family(l.family),
        address: l.address.clone(),
        port: l.port,
        bound_device: l.bound_device.clone(),
        v6only: l.v6only,
        scope: scope(l.scope),
        address_interfaces: l.address_interfaces.clone(),
        uid: l.uid,
        holders: l
            .holders
            .iter()
            .zip(processes)
            .map(|(h, &process)| wit::Holder { process, fd: h.fd })
            .collect(),
        owner_unknown: l.owner_unknown(),
    }
}

fn protocol(p: Protocol) -> wit::Protocol {
    match p {
        Protocol::Tcp => wit::Protocol::Tcp,
        Protocol::Udp => wit::Protocol::Udp,
    }
}

fn family(f: Family) -> wit::Family {
    match f {
        Family::Ipv4 => wit::Family::Ipv4,
        Family::Ipv6 => wit::Family::Ipv6,
    }
}

fn scope(s: Scope) -> wit::Scope {
    match s {
        Scope::Loopback => wit::Scope::Loopback,
        Scope::LinkLocal => wit::Scope::LinkLocal,
        Scope::Private => wit::Scope::Private,
        Scope::Multicast => wit::Scope::Multicast,
        Scope::Public => wit::Scope::Public,
        Scope::Wildcard => wit::Scope::Wildcard,
        Scope::DualStack => wit::Scope::DualStack,
    }
}

/// The listeners in columns (see `listener-table` in plugin.wit). The
/// ABI's enums are plain, so a case's index is its discriminant.
pub fn listener_table<'a>(
    listeners: &'a [model::Listener],
    holder_processes: &[u32],
) -> wit::ListenerTable {
    let n = listeners.len();
    let holders = holder_processes.len();
    let mut t = wit::ListenerTable {
        netns: Vec::with_capacity(n),
        protocol: Vec::with_capacity(n),
        family: Vec::with_capacity(n),
        scope: Vec::with_capacity(n),
        port: Vec::with_capacity(n),
        uid: Vec::with_capacity(n),
        v6only: Vec::with_capacity(n),
        addresses: String::with_capacity(listeners.iter().map(|l| l.address.len()).sum()),
        address_ends: Vec::with_capacity(n),
        holder_processes: holder_processes.to_vec(),
        holder_fds: Vec::with_capacity(holders),
        holder_ends: Vec::with_capacity(n),
        interfaces: Vec::new(),
        address_interfaces: Vec::new(),
        address_interface_ends: Vec::with_capacity(n),
        bound_devices: Vec::new(),
        reach: Vec::with_capacity(n),
    };
    // Listeners side by side mostly share their interface: the last name
    // is tried before the map.
    let mut interfaces: FxHashMap<&str, u32> = FxHashMap::default();
    let mut last: Option<(&str, u32)> = None;
    let mut interface = |name: &'a str, names: &mut Vec<String>| match last {
        Some((last, index)) if last == name => index,
        _ => {
            let index = *interfaces.entry(name).or_insert_with(|| {
                names.push(name.to_owned());
                names.len() as u32 - 1
            });
            last = Some((name, index));
            index
        }
    };
    for (i, l) in listeners.iter().enumerate() {
        t.netns.push(l.netns.inode);
        t.protocol.push(protocol(l.protocol) as u8);
        t.family.push(family(l.family) as u8);
        t.scope.push(scope(l.scope) as u8);
        t.port.push(l.port);
        t.uid.push(l.uid);
        t.v6only.push(match l.v6only {
            Some(false) => 0,
            Some(true) => 1,
            None => 2,
        });
        t.addresses.push_str(&l.address);
        t.address_ends.push(t.addresses.len() as u32);
        t.holder_fds.extend(l.holders.iter().map(|h| h.fd));
        t.holder_ends.push(t.holder_fds.len() as u32);
        for name in &l.address_interfaces {
            let index = interface(name, &mut t.interfaces);
            t.address_interfaces.push(index);
        }
        t.address_interface_ends
            .push(t.address_interfaces.len() as u32);
        t.reach.push(
            l.reachability
                .as_ref()
                .map_or(0, |r| reach_state(r.state) as u8 + 1),
        );
        if let Some(device) = &l.bound_device {
            let index = interface(device, &mut t.interfaces);
            t.bound_devices.push((i as u32, index));
        }
    }
    t
}

pub fn level(l: wit::Level) -> Level {
    match l {
        wit::Level::Note => Level::Note,
        wit::Level::Warning => Level::Warning,
        wit::Level::Error => Level::Error,
    }
}

pub fn rule(plugin: &str, r: wit::RuleInfo) -> model::Rule {
    let default_level = level(r.default_level);
    model::Rule {
        enabled: r.enabled_by_default,
        level: default_level,
        id: r.id,
        plugin: plugin.to_owned(),
        name: r.name,
        short_description: r.short_description,
        full_description: r.full_description,
        help_markdown: r.help_markdown,
        help_uri: r.help_uri,
        default_level,
        tags: r.tags,
        enabled_by_default: r.enabled_by_default,
        security_severity: r.security_severity,
        precision: match r.precision {
            wit::Precision::VeryHigh => Precision::VeryHigh,
            wit::Precision::High => Precision::High,
            wit::Precision::Medium => Precision::Medium,
            wit::Precision::Low => Precision::Low,
        },
    }
}

/// Verdicts about no listener (the host as a whole) one evaluation may give.
const MAX_HOST_WIDE_VERDICTS: usize = 1024;

/// What is wrong with the results a plugin returned.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResultError {
    #[error("returned {} MiB of results, over its limit of {} MiB", .bytes >> 20, .limit >> 20)]
    TooLarge { bytes: usize, limit: usize },
    #[error("returned a verdict for rule `{0}`, which it does not declare")]
    UndeclaredRule(String),
    #[error("referred to listener {id}, but the inventory has {listeners}")]
    NoSuchListener { id: u32, listeners: usize },
    #[error("judged listener {listener} twice for rule `{rule}`")]
    JudgedTwice { listener: usize, rule: String },
    #[error("returned {0} host-wide verdicts, over the limit of {MAX_HOST_WIDE_VERDICTS}")]
    TooManyHostWide(usize),
}

/// One plugin's verdicts as the host keeps them until the policy is
/// applied. Plain passes stay as the plugin sent them, a rule and its
/// listeners: on a fleet they are most verdicts, and each becomes a full
/// [`model::Verdict`] only once, where the judge keeps it.
#[derive(Debug, Default)]
pub struct Batch {
    pub verdicts: Vec<model::Verdict>,
    pub passed: Vec<Passed>,
}

/// Listeners that passed a rule with nothing to say, checked against the
/// inventory and judged once each.
#[derive(Debug)]
pub struct Passed {
    pub rule: Arc<str>,
    pub plugin: Arc<str>,
    /// Indexes into the inventory's listeners.
    pub listeners: Vec<u32>,
}

impl Passed {
    /// Listener `listener`'s verdict, at the rule's `level`.
    pub fn verdict(&self, listener: u32, level: Level) -> model::Verdict {
        model::Verdict::new(
            self.rule.clone(),
            self.plugin.clone(),
            Some(listener as usize),
            Outcome::Pass,
            level,
            String::new(),
        )
    }
}

impl Batch {
    /// How many verdicts it holds, passes included.
    pub fn verdict_count(&self) -> usize {
        self.verdicts.len() + self.passed.iter().map(|p| p.listeners.len()).sum::<usize>()
    }
}

/// Checks an evaluation against the plugin's declared rules and the
/// inventory, and turns it into model verdicts (levels from the catalogue,
/// unless the verdict overrides its own).
pub fn evaluation(
    plugin: &str,
    eval: wit::Evaluation,
    rules: &[model::Rule],
    listeners: usize,
    max_bytes: usize,
) -> Result<(Batch, Vec<model::NotApplicable>), ResultError> {
    let bytes: usize = eval
        .verdicts
        .iter()
        .map(|v| {
            v.message.len()
                + v.rule_id.len()
                + 4 * v.related.len()
                + v.subject.as_ref().map_or(0, String::len)
        })
        .sum::<usize>()
        + eval
            .not_applicable
            .iter()
            .map(|n| n.reason.len())
            .sum::<usize>();
    if bytes > max_bytes {
        return Err(ResultError::TooLarge {
            bytes,
            limit: max_bytes,
        });
    }
    let rule_of = |id: &str| {
        rules
            .iter()
            .position(|r| r.id == id)
            .map(|i| (i, &rules[i]))
            .ok_or_else(|| ResultError::UndeclaredRule(id.to_owned()))
    };
    let check_id = |id: u32| {
        if (id as usize) < listeners {
            Ok(id as usize)
        } else {
            Err(ResultError::NoSuchListener { id, listeners })
        }
    };
    // One verdict per rule and listener: a plugin that says two things of
    // one listener (or lists it twice as passed) is refused, which also
    // bounds the verdicts by the inventory's size. One flag per rule and
    // listener, allocated for the rules that judge listeners at all.
    let mut judged: Vec<Vec<bool>> = vec![Vec::new(); rules.len()];
    let mut once = |rule: usize, listener: usize| -> Result<(), ResultError> {
        let seen = &mut judged[rule];
        if seen.is_empty() {
            seen.resize(listeners, false);
        }
        if std::mem::replace(&mut seen[listener], true) {
            Err(ResultError::JudgedTwice {
                listener,
                rule: rules[rule].id.clone(),
            })
        } else {
            Ok(())
        }
    };
    let host_wide = eval
        .verdicts
        .iter()
        .filter(|v| v.listener.is_none())
        .count();
    if host_wide > MAX_HOST_WIDE_VERDICTS {
        return Err(ResultError::TooManyHostWide(host_wide));
    }
    // Every verdict of a rule shares its names.
    let plugin: std::sync::Arc<str> = plugin.into();
    let ids: Vec<std::sync::Arc<str>> = rules.iter().map(|r| r.id.as_str().into()).collect();
    let mut verdicts = Vec::with_capacity(eval.verdicts.len());
    for v in eval.verdicts {
        let (index, rule) = rule_of(&v.rule_id)?;
        let listener = v.listener.map(check_id).transpose()?;
        if let Some(id) = listener {
            once(index, id)?;
        }
        let outcome = match v.outcome {
            wit::Outcome::Pass => Outcome::Pass,
            wit::Outcome::Fail => Outcome::Fail,
            wit::Outcome::Skip => Outcome::Skip,
        };
        let related = v
            .related
            .into_iter()
            .map(check_id)
            .collect::<Result<_, _>>()?;
        // Only a host-wide verdict needs a subject: a listener is its own.
        let subject = v.subject.filter(|_| v.listener.is_none());
        verdicts.push(
            model::Verdict::new(
                ids[index].clone(),
                plugin.clone(),
                listener,
                outcome,
                v.level.map_or(rule.level, level),
                v.message,
            )
            .with_related(related)
            .with_subject(subject),
        );
    }
    let mut passed = Vec::with_capacity(eval.passed.len());
    for group in eval.passed {
        let (index, _) = rule_of(&group.rule_id)?;
        for &id in &group.listeners {
            once(index, check_id(id)?)?;
        }
        passed.push(Passed {
            rule: ids[index].clone(),
            plugin: plugin.clone(),
            listeners: group.listeners,
        });
    }
    let mut not_applicable = Vec::new();
    for n in eval.not_applicable {
        rule_of(&n.rule_id)?;
        not_applicable.push(model::NotApplicable {
            rule: n.rule_id,
            reason: n.reason,
        });
    }
    Ok((Batch { verdicts, passed }, not_applicable))
}
