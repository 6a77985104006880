//! `unfiltered-exposure`: a listener beyond loopback that the namespace's
//! firewall lets anyone reach. The seed's advice is twofold, bind only
//! where needed and firewall what remains; this is the second half, judged
//! on what the firewall does (ABI 0.2.2's reachability), not on whether a
//! rule mentions the port.

use portcullis_sdk::{
    Inventory, Level, Listener, Precision, ReachState, RuleInfo, Scope, Verdict, net, verdicts,
};

pub const UNFILTERED_EXPOSURE: &str = "unfiltered-exposure";

/// Why the rule does not apply to an inventory with no reachability.
pub const NOT_EVALUATED: &str =
    "the inventory carries no reachability: the firewall was not evaluated when it was made";

pub fn judge(inv: &Inventory, l: &Listener) -> Verdict {
    // Not evaluated, or not understood: the rule cannot judge, and says so
    // (a skip, never a pass).
    let Some(reach) = inv.reachability(l) else {
        return verdicts::skip(UNFILTERED_EXPOSURE, l, "reachability not evaluated");
    };
    if reach.state == ReachState::Unknown {
        let why = reach.reason.clone().unwrap_or_default();
        return verdicts::skip(
            UNFILTERED_EXPOSURE,
            l,
            format!("reachability unknown: {why}"),
        );
    }
    // A DHCP client takes offers from servers it does not know yet: open
    // is its protocol, as for wildcard-bind.
    if reach.state != ReachState::Open
        || l.scope == Scope::Loopback
        || super::advice::needs_wildcard(inv, l)
    {
        return verdicts::pass(UNFILTERED_EXPOSURE, l, "");
    }
    let (by, decided) = match &reach.decided_by {
        Some(by) => (", let in by ", by.as_str()),
        None => (", with no firewall rule on the way", ""),
    };
    verdicts::fail(
        UNFILTERED_EXPOSURE,
        l,
        super::message(format_args!(
            "{} {}{} ({}) can be reached by anyone on {}{by}{decided}; bind it to loopback or a private address, or filter it in the firewall, unless the outside must reach it",
            super::proto(l),
            net::Endpoint(l),
            net::Whereabouts { inv, l },
            super::HoldersOrUnknown { inv, l },
            reach.interfaces.join(", "),
        )),
    )
}

pub fn info() -> RuleInfo {
    RuleInfo {
        id: UNFILTERED_EXPOSURE.into(),
        name: "UnfilteredExposure".into(),
        short_description: "The firewall lets anyone reach a listener that is not on loopback.".into(),
        full_description: "portcullis evaluated the namespace's firewall (nftables, iptables-nft) for a new \
            connection from outside, on every interface and local address the listener covers: at least \
            half of the address space gets in."
            .into(),
        help_markdown: "Two things keep a service from being unnecessarily open: **bind it only where it is \
            needed** (loopback when only local processes use it, one private address when one network \
            does), and **firewall what remains** so only the sources that need it get in.\n\n\
            **Fix:** either change the bind (see `wildcard-bind`), or add a firewall rule: with nftables, \
            `ip saddr 10.0.0.0/8 tcp dport 5432 accept` before a `drop` policy; with ufw, \
            `ufw allow from 10.0.0.0/8 to any port 5432` and `ufw default deny incoming`. A service that \
            serves the internet (a public web server) is meant to be open: allowlist it with the reason.\n\n\
            The answer comes from the firewall inside the host only: tc/XDP programs, cgroup BPF filters \
            and cloud security groups are not seen."
            .into(),
        help_uri: Some("https://documentation.ubuntu.com/server/explanation/security/unnecessarily-open-ports/".into()),
        default_level: Level::Warning,
        tags: vec!["security".into(), "network".into(), "exposure".into(), "firewall".into()],
        enabled_by_default: true,
        security_severity: 6.0,
        precision: Precision::High,
    }
}
