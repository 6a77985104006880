//! Rules on what `dnat` and `redirect` publish (ABI 0.2.3's `published`),
//! and on loopback listeners the kernel lets the outside reach:
//!
//! - `firewall-bypass-by-dnat`: a port the input filters close, forwarded
//!   to another namespace that lets anyone in (the ufw + Docker trap:
//!   moby/moby#22054);
//! - `published-without-listener`: a translation that leads nowhere (a
//!   stale mapping, or one waiting for whatever starts listening there);
//! - `loopback-reachable`: a loopback listener reachable from outside,
//!   through `route_localnet` (CVE-2020-8558) or a DNAT to loopback.

use portcullis_sdk::{
    Inventory, Level, Listener, Outcome, Precision, PublishedPath, PublishedPort, ReachState,
    RuleInfo, Scope, Verdict, net, verdicts,
};

pub const FIREWALL_BYPASS_BY_DNAT: &str = "firewall-bypass-by-dnat";
pub const PUBLISHED_WITHOUT_LISTENER: &str = "published-without-listener";
pub const LOOPBACK_REACHABLE: &str = "loopback-reachable";

/// The verdicts of the three rules.
pub fn judge(inv: &Inventory, out: &mut portcullis_sdk::verdicts::Collector) {
    let published = inv.published();
    let mut bypassed: Vec<u32> = Vec::new();
    for p in published {
        let gets_through = matches!(p.reach.state, ReachState::Open | ReachState::Restricted);
        if p.path == PublishedPath::Forward
            && p.input == ReachState::Filtered
            && p.reach.state == ReachState::Open
        {
            let message = format!(
                "{} is closed by the input filters but forwarded to {} by {}, and {} lets anyone through: the host's firewall does not protect it. Restrict it where forwarded traffic is filtered (Docker: the DOCKER-USER chain), or publish it on 127.0.0.1 only",
                published_port(p),
                target(inv, p),
                p.translated_by,
                p.reach
                    .decided_by
                    .as_deref()
                    .unwrap_or("the forward path, with no rule on the way,"),
            );
            match p.to_listener.and_then(|id| listener(inv, id)) {
                Some(l) if !bypassed.contains(&l.id) => {
                    bypassed.push(l.id);
                    out.push(verdicts::fail(FIREWALL_BYPASS_BY_DNAT, l, message));
                }
                _ => out.push(host_wide(FIREWALL_BYPASS_BY_DNAT, p, message)),
            }
        }
        if p.to_netns.is_some() && p.to_listener.is_none() && gets_through {
            out.push(host_wide(
                PUBLISHED_WITHOUT_LISTENER,
                p,
                format!(
                    "{} is translated to {} by {}, and nothing listens there: remove the mapping if it is stale, or it exposes whatever starts listening on that port",
                    published_port(p),
                    target(inv, p),
                    p.translated_by
                ),
            ));
        }
    }
    // Passes only where there is something to judge: loopback listeners
    // for loopback-reachable; the other two judge published ports, and
    // say nothing when none is.
    for l in inv.listeners.iter().filter(|l| l.scope == Scope::Loopback) {
        out.push(loopback(inv, l, published));
    }
}

/// A loopback listener: reachable from outside directly (route_localnet)
/// or through a DNAT that leads to it.
fn loopback(inv: &Inventory, l: &Listener, published: &[PublishedPort]) -> Verdict {
    let reached = |s: ReachState| matches!(s, ReachState::Open | ReachState::Restricted);
    if let Some(r) = inv.reachability(l).filter(|r| reached(r.state)) {
        return verdicts::fail(
            LOOPBACK_REACHABLE,
            l,
            format!(
                "{} {} is bound to loopback, yet route_localnet lets {} reach it on {}; turn net.ipv4.conf.*.route_localnet off, or filter it",
                super::proto(l),
                net::endpoint(l),
                who(r.state),
                r.interfaces.join(", ")
            ),
        );
    }
    if let Some(p) = published
        .iter()
        .find(|p| p.to_listener == Some(l.id) && reached(p.reach.state))
    {
        return verdicts::fail(
            LOOPBACK_REACHABLE,
            l,
            format!(
                "{} {} is bound to loopback, yet {} translates {} to it and {} can reach it; drop the translation, or filter it",
                super::proto(l),
                net::endpoint(l),
                p.translated_by,
                published_port(p),
                who(p.reach.state)
            ),
        );
    }
    verdicts::pass(LOOPBACK_REACHABLE, l, "")
}

fn who(state: ReachState) -> &'static str {
    if state == ReachState::Open {
        "anyone"
    } else {
        "some sources"
    }
}

fn listener(inv: &Inventory, id: u32) -> Option<&Listener> {
    inv.listeners.get(id as usize).filter(|l| l.id == id)
}

/// `tcp 8080 on eth0`.
fn published_port(p: &PublishedPort) -> String {
    let proto = super::proto_name(p.protocol);
    format!("{proto} port {} on {}", p.port, p.interfaces.join(", "))
}

/// `10.202.0.2:80 (nginx in container web)`.
fn target(inv: &Inventory, p: &PublishedPort) -> String {
    let address = if p.to_address.contains(':') {
        format!("[{}]:{}", p.to_address, p.to_port)
    } else {
        format!("{}:{}", p.to_address, p.to_port)
    };
    match p.to_listener.and_then(|id| listener(inv, id)) {
        Some(l) => format!(
            "{address} ({}{})",
            super::HoldersOrUnknown { inv, l },
            net::whereabouts(inv, l)
        ),
        None => address,
    }
}

/// A verdict about a published port rather than a listener: its identity
/// (`subject`) is the mapping, stable across runs.
fn host_wide(rule: &str, p: &PublishedPort, message: String) -> Verdict {
    let proto = super::proto_name(p.protocol);
    Verdict {
        rule_id: rule.to_owned(),
        listener: None,
        outcome: Outcome::Fail,
        message,
        level: None,
        related: p.to_listener.into_iter().collect(),
        subject: Some(format!(
            "published {proto} {} -> {}:{}",
            p.port, p.to_address, p.to_port
        )),
    }
}

pub fn infos() -> Vec<RuleInfo> {
    let tags = |extra: &str| {
        vec![
            "security".into(),
            "network".into(),
            "firewall".into(),
            extra.into(),
        ]
    };
    vec![
        RuleInfo {
            id: FIREWALL_BYPASS_BY_DNAT.into(),
            name: "FirewallBypassByDnat".into(),
            short_description: "A port the input filters close is forwarded by DNAT to a listener anyone can reach.".into(),
            full_description: "A dnat rule in prerouting (Docker's -p, a hostPort) sends new connections for the port \
                to another namespace. They never meet the input chain, where ufw and most host firewalls filter: \
                they take the forward path, which lets anyone through."
                .into(),
            help_markdown: "Docker publishes a container's port with a DNAT rule in `nat PREROUTING`, so the \
                connection is forwarded to the container and never meets `INPUT`, where ufw and most host \
                firewalls filter: `ufw deny 8080` does not close a published 8080.\n\n\
                **Fix:** publish only where needed (`-p 127.0.0.1:8080:80`), or filter the forwarded traffic \
                where Docker says to, the `DOCKER-USER` chain: `iptables -I DOCKER-USER -i eth0 ! -s 10.0.0.0/8 \
                -j DROP`. With plain nftables, filter in a `forward` chain."
                .into(),
            help_uri: Some("https://docs.docker.com/engine/network/packet-filtering-firewalls/".into()),
            default_level: Level::Error,
            tags: tags("dnat"),
            enabled_by_default: true,
            security_severity: 8.0,
            precision: Precision::High,
        },
        RuleInfo {
            id: PUBLISHED_WITHOUT_LISTENER.into(),
            name: "PublishedWithoutListener".into(),
            short_description: "A port is published by DNAT or redirect, and nothing listens where it leads.".into(),
            full_description: "A translation lets new connections from outside through to an address and port of a \
                scanned namespace where no socket listens: a stale mapping, or one that exposes whatever starts \
                listening there next."
                .into(),
            help_markdown: "PublishedPort ports outlive what they were for: a container removed while its rules stay, \
                a hostPort whose pod moved, a hand-written DNAT.\n\n\
                **Fix:** remove the translation (`nft delete rule …`, or restart the engine that wrote it), or \
                filter it until the service is back."
                .into(),
            help_uri: None,
            default_level: Level::Warning,
            tags: tags("dnat"),
            enabled_by_default: true,
            security_severity: 4.0,
            precision: Precision::Medium,
        },
        RuleInfo {
            id: LOOPBACK_REACHABLE.into(),
            name: "LoopbackReachable".into(),
            short_description: "A listener bound to loopback can be reached from outside.".into(),
            full_description: "route_localnet lets packets for 127.0.0.0/8 in from an interface, or a DNAT sends \
                connections from outside to a loopback address: a service that trusts loopback to mean local \
                is exposed (CVE-2020-8558)."
                .into(),
            help_markdown: "A loopback bind is the strongest way to keep a service local, unless the kernel is told \
                to route loopback addresses from outside: `net.ipv4.conf.*.route_localnet=1` (kube-proxy set it) \
                together with a DNAT to 127.0.0.1, or a neighbour sending packets for 127.0.0.1 directly.\n\n\
                **Fix:** turn `route_localnet` off, drop the translation, or filter `ip daddr 127.0.0.0/8` on \
                every interface but `lo`."
                .into(),
            help_uri: Some("https://nvd.nist.gov/vuln/detail/CVE-2020-8558".into()),
            default_level: Level::Error,
            tags: tags("loopback"),
            enabled_by_default: true,
            security_severity: 8.1,
            precision: Precision::High,
        },
    ]
}
