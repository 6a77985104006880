//! The evaluator on rulesets written out as the kernel dumps them (what
//! `nft` compiles `tcp dport 22 accept` to, and so on). The kernel itself
//! is the oracle in ci/tests/firewall.rs; these pin the semantics down.

use std::net::{IpAddr, Ipv4Addr};

use super::eval::{Decision, Packet, decide};
use super::ruleset::*;
use super::sources::SourceSet;

fn chain(name: &str, hook: Option<(u32, i32)>, policy: Verdict, rules: Vec<Vec<Expr>>) -> Chain {
    Chain {
        family: TableFamily::Inet,
        table: "filter".into(),
        name: name.into(),
        hook: hook.map(|(number, priority)| Hook {
            number,
            priority,
            devices: vec![],
        }),
        policy: hook.map(|_| policy),
        kind: "filter".into(),
        rules: rules
            .into_iter()
            .enumerate()
            .map(|(i, exprs)| Rule::new(i as u64 + 2, None, exprs))
            .collect(),
    }
}

const R1: u32 = 1;

fn l4proto(p: u8) -> Vec<Expr> {
    vec![
        Expr::Meta {
            key: 16,
            dreg: Some(R1),
            sreg: None,
        },
        Expr::Cmp {
            sreg: R1,
            op: 0,
            data: vec![p],
        },
    ]
}

fn dport(port: u16) -> Vec<Expr> {
    let mut v = l4proto(6);
    v.push(Expr::Payload {
        dreg: Some(R1),
        base: 2,
        offset: 2,
        len: 2,
    });
    v.push(Expr::Cmp {
        sreg: R1,
        op: 0,
        data: port.to_be_bytes().to_vec(),
    });
    v
}

fn saddr_prefix(net: [u8; 4], mask: [u8; 4]) -> Vec<Expr> {
    vec![
        Expr::Meta {
            key: 15,
            dreg: Some(R1),
            sreg: None,
        },
        Expr::Cmp {
            sreg: R1,
            op: 0,
            data: vec![2],
        },
        Expr::Payload {
            dreg: Some(R1),
            base: 1,
            offset: 12,
            len: 4,
        },
        Expr::Bitwise {
            sreg: R1,
            dreg: R1,
            len: 4,
            op: 0,
            mask: mask.to_vec(),
            xor: vec![0; 4],
        },
        Expr::Cmp {
            sreg: R1,
            op: 0,
            data: net.to_vec(),
        },
    ]
}

fn verdict(v: Verdict) -> Expr {
    Expr::Immediate {
        dreg: 0,
        data: Data::Verdict(v),
    }
}

fn with(mut a: Vec<Expr>, more: Vec<Expr>) -> Vec<Expr> {
    a.extend(more);
    a
}

fn ct_established() -> Vec<Expr> {
    vec![
        Expr::Ct {
            key: 0,
            dreg: Some(R1),
            sreg: None,
        },
        Expr::Bitwise {
            sreg: R1,
            dreg: R1,
            len: 4,
            op: 0,
            mask: (2u32 | 4).to_ne_bytes().to_vec(),
            xor: vec![0; 4],
        },
        Expr::Cmp {
            sreg: R1,
            op: 1,
            data: vec![0; 4],
        },
        verdict(Verdict::Accept),
    ]
}

fn packet(port: u16) -> Packet<'static> {
    Packet {
        protocol: 6,
        daddr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        dport: port,
        iif: "eth0",
        iif_index: 2,
        daddr_on_iif: true,
        local: true,
        oif: None,
        iif_address: Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))),
    }
}

/// The parts, accepted first, then dropped, then unknown.
fn one(ruleset: &Ruleset, port: u16) -> Vec<(Vec<String>, String)> {
    let mut parts: Vec<_> = decide(ruleset, &packet(port))
        .into_iter()
        .map(|(s, d)| {
            let what = match d {
                Decision::Accepted(_) => "accepted".to_string(),
                Decision::Dropped(_) => "dropped".to_string(),
                Decision::Unknown { reason, .. } => format!("unknown: {reason}"),
                Decision::Translated { to, .. } => format!("to {}:{}", to.0, to.1),
            };
            (s.describe(), what)
        })
        .collect();
    parts.sort_by(|a, b| a.1.cmp(&b.1));
    parts
}

fn input(policy: Verdict, rules: Vec<Vec<Expr>>) -> Ruleset {
    Ruleset {
        generation: 1,
        chains: vec![chain("input", Some((1, 0)), policy, rules)],
        sets: vec![],
        ..Default::default()
    }
}

#[test]
fn no_ruleset_lets_everything_in() {
    assert_eq!(
        one(&Ruleset::default(), 22),
        [(vec!["0.0.0.0/0".to_string()], "accepted".to_string())]
    );
}

#[test]
fn a_drop_policy_with_an_accepted_port() {
    let rs = input(
        Verdict::Drop,
        vec![
            ct_established(),
            with(dport(22), vec![verdict(Verdict::Accept)]),
        ],
    );
    assert_eq!(
        one(&rs, 22),
        [(vec!["0.0.0.0/0".into()], "accepted".into())]
    );
    assert_eq!(
        one(&rs, 5432),
        [(vec!["0.0.0.0/0".into()], "dropped".into())]
    );
}

#[test]
fn a_source_prefix_splits_the_sources() {
    let rs = input(
        Verdict::Drop,
        vec![with(
            with(saddr_prefix([10, 0, 0, 0], [255, 0, 0, 0]), dport(5432)),
            vec![verdict(Verdict::Accept)],
        )],
    );
    let got = one(&rs, 5432);
    assert_eq!(got[0], (vec!["10.0.0.0/8".into()], "accepted".into()));
    assert_eq!(got[1].1, "dropped");
    assert_eq!(
        got[1].0,
        ["0.0.0.0-9.255.255.255", "11.0.0.0-255.255.255.255"]
    );
}

#[test]
fn an_accept_ends_only_its_own_base_chain() {
    let mut rs = input(
        Verdict::Accept,
        vec![with(dport(22), vec![verdict(Verdict::Accept)])],
    );
    rs.chains.push(Chain {
        name: "later".into(),
        ..chain("later", Some((1, 10)), Verdict::Drop, vec![])
    });
    assert_eq!(one(&rs, 22)[0].1, "dropped");
}

#[test]
fn jumps_return_and_gotos() {
    let rs = Ruleset {
        generation: 1,
        chains: vec![
            chain(
                "input",
                Some((1, 0)),
                Verdict::Drop,
                vec![
                    vec![verdict(Verdict::Jump("svc".into()))],
                    with(dport(80), vec![verdict(Verdict::Accept)]),
                ],
            ),
            chain(
                "svc",
                None,
                Verdict::Accept,
                vec![with(dport(22), vec![verdict(Verdict::Accept)])],
            ),
        ],
        sets: vec![],
        ..Default::default()
    };
    assert_eq!(one(&rs, 22)[0].1, "accepted");
    assert_eq!(one(&rs, 80)[0].1, "accepted");
    assert_eq!(one(&rs, 81)[0].1, "dropped");
}

#[test]
fn interval_sets_of_sources() {
    let rs = Ruleset {
        generation: 1,
        chains: vec![chain(
            "input",
            Some((1, 0)),
            Verdict::Drop,
            vec![with(
                vec![
                    Expr::Payload {
                        dreg: Some(R1),
                        base: 1,
                        offset: 12,
                        len: 4,
                    },
                    Expr::Lookup {
                        sreg: R1,
                        set: "__set0".into(),
                        dreg: None,
                        invert: false,
                    },
                ],
                vec![verdict(Verdict::Accept)],
            )],
        )],
        sets: vec![Set {
            family: TableFamily::Inet,
            table: "filter".into(),
            name: "__set0".into(),
            flags: SET_INTERVAL | 1,
            key_len: 4,
            data_type: None,
            elements: vec![
                Element {
                    key: vec![192, 168, 1, 0],
                    key_end: None,
                    interval_end: false,
                    data: None,
                },
                Element {
                    key: vec![192, 168, 2, 0],
                    key_end: None,
                    interval_end: true,
                    data: None,
                },
                Element {
                    key: vec![0, 0, 0, 0],
                    key_end: None,
                    interval_end: true,
                    data: None,
                },
            ],
        }],
        ..Default::default()
    };
    assert_eq!(
        one(&rs, 1)[0],
        (vec!["192.168.1.0/24".into()], "accepted".into())
    );
}

#[test]
fn what_is_not_understood_is_unknown_and_a_known_mismatch_still_rules_out() {
    let rs = input(
        Verdict::Drop,
        vec![
            with(
                dport(22),
                vec![Expr::Other("limit".into()), verdict(Verdict::Accept)],
            ),
            with(
                dport(80),
                vec![
                    Expr::Payload {
                        dreg: Some(R1),
                        base: 1,
                        offset: 12,
                        len: 4,
                    },
                    nat(NatKind::Dnat, Some(R1), None),
                ],
            ),
        ],
    );
    assert!(
        one(&rs, 22)[0]
            .1
            .starts_with("unknown: the `limit` expression"),
        "{:?}",
        one(&rs, 22)
    );
    assert!(one(&rs, 80)[0].1.starts_with("unknown: dnat"));
    assert_eq!(one(&rs, 443)[0].1, "dropped");
}

fn nat(kind: NatKind, addr_reg: Option<u32>, port_reg: Option<u32>) -> Expr {
    Expr::Nat(Nat {
        kind,
        family: Some(2),
        addr_reg,
        port_reg,
    })
}

#[test]
fn dnat_and_redirect_send_the_packet_elsewhere() {
    let immediate = |dreg: u32, bytes: &[u8]| Expr::Immediate {
        dreg,
        data: Data::Value(bytes.to_vec()),
    };
    let mut rs = input(Verdict::Accept, vec![]);
    rs.chains = vec![chain(
        "prerouting",
        Some((0, -100)),
        Verdict::Accept,
        vec![
            with(
                dport(8080),
                vec![
                    immediate(R1, &[172, 17, 0, 2]),
                    immediate(2, &80u16.to_be_bytes()),
                    nat(NatKind::Dnat, Some(R1), Some(2)),
                ],
            ),
            with(
                dport(8081),
                vec![
                    immediate(R1, &2201u16.to_be_bytes()),
                    nat(NatKind::Redirect, None, Some(R1)),
                ],
            ),
            with(dport(8082), vec![nat(NatKind::Dnat, None, None)]),
        ],
    )];
    rs.chains[0].kind = "nat".into();
    assert_eq!(
        one(&rs, 8080),
        vec![(vec!["0.0.0.0/0".into()], "to 172.17.0.2:80".into())]
    );
    assert_eq!(one(&rs, 8081)[0].1, "to 10.0.0.1:2201");
    assert_eq!(
        one(&rs, 8082)[0].1,
        "to 10.0.0.1:8082",
        "a dnat without a target changes nothing"
    );
    assert_eq!(one(&rs, 22)[0].1, "accepted");
}

#[test]
fn notrack_makes_ct_state_new_miss() {
    let mut rs = input(
        Verdict::Drop,
        vec![with(
            vec![
                Expr::Ct {
                    key: 0,
                    dreg: Some(R1),
                    sreg: None,
                },
                Expr::Bitwise {
                    sreg: R1,
                    dreg: R1,
                    len: 4,
                    op: 0,
                    mask: 8u32.to_ne_bytes().to_vec(),
                    xor: vec![0; 4],
                },
                Expr::Cmp {
                    sreg: R1,
                    op: 1,
                    data: vec![0; 4],
                },
            ],
            vec![verdict(Verdict::Accept)],
        )],
    );
    assert_eq!(one(&rs, 1)[0].1, "accepted");
    rs.chains.push(chain(
        "raw",
        Some((0, -300)),
        Verdict::Accept,
        vec![vec![Expr::Notrack]],
    ));
    assert_eq!(one(&rs, 1)[0].1, "dropped");
}

#[test]
fn source_sets_describe_themselves_as_cidr() {
    let s = SourceSet::masked(4, &[255, 255, 255, 0], &[10, 1, 2, 0]).unwrap();
    assert_eq!(s.describe(), ["10.1.2.0/24"]);
    assert_eq!(s.complement().complement(), s);
    assert!(SourceSet::masked(4, &[255, 0, 255, 0], &[10, 0, 2, 0]).is_none());
    assert_eq!(SourceSet::full(16).describe(), ["::/0"]);
}
