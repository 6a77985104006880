//! Ports published by DNAT and redirect, against the kernel: a third
//! "container" namespace behind the server (10.202.0.2, its gateway
//! 10.202.0.1 on the server's `s1`), rulesets from `nft` and a
//! Docker-shaped iptables-nft layout (DOCKER and DOCKER-USER chains, a
//! drop policy on FORWARD, a ufw-like drop policy on INPUT). A real connect
//! from each client source to each published port decides the truth: it
//! got through when it connected or was refused (reset by the target: no
//! listener there), not when it timed out.

use super::*;

const PUBLISHED: [u16; 4] = [8080, 8081, 8082, 8083];
const CONTAINER: &str = "10.202.0.2";

struct Behind {
    world: World,
    container: NamedNetns,
    _helper: Helper,
}

impl Behind {
    fn new(tag: &str) -> Behind {
        let world = World::with_sockets(
            tag,
            &[json!({"proto": "tcp", "addr": "127.0.0.1", "port": 2207})],
        );
        let container = NamedNetns::new(&unique(&format!("pcfw-k-{tag}")));
        world.server.ip(&format!(
            "link add s1 type veth peer name k0 netns {}",
            container.name
        ));
        world.server.ip("addr add 10.202.0.1/24 dev s1");
        world.server.ip("link set s1 up");
        container.ip(&format!("addr add {CONTAINER}/24 dev k0"));
        container.ip("link set k0 up");
        container.ip("route add default via 10.202.0.1");
        let helper = Helper::spawn(
            &["ip", "netns", "exec", &container.name],
            json!({ "sockets": [{"proto": "tcp", "addr": "0.0.0.0", "port": 80}], "accept": true }),
        );
        let behind = Behind {
            world,
            container,
            _helper: helper,
        };
        behind.sysctl("net.ipv4.ip_forward", "1");
        behind
    }

    fn sysctl(&self, key: &str, value: &str) {
        run(
            "ip",
            &[
                "netns",
                "exec",
                &self.world.server.name,
                "sysctl",
                "-qw",
                &format!("{key}={value}"),
            ],
        );
    }

    /// The inventory of the server and the container.
    fn inventory(&self) -> Value {
        inventory(
            &[
                "--netns",
                &self.world.server.path(),
                "--netns",
                &self.container.path(),
            ],
            &[0],
        )
    }

    /// Checks each published port against the kernel; returns them by port.
    fn agree(&self, case: &str) -> BTreeMap<u16, Value> {
        let truth = self.world.probe_ports(&PUBLISHED);
        let inv = self.inventory();
        let mut out = BTreeMap::new();
        for p in inv["published"].as_array().cloned().unwrap_or_default() {
            let port = p["port"].as_u64().unwrap() as u16;
            // What comes in from the client's side (a redirect from the
            // container's side goes to another address: another entry).
            let from_client = p["interfaces"].as_array().unwrap().contains(&json!("s0"));
            if p["protocol"] != "tcp" || !PUBLISHED.contains(&port) || !from_client {
                continue;
            }
            let through: Vec<&str> = SOURCES
                .iter()
                .copied()
                .filter(|s| {
                    matches!(
                        truth[&(s.to_string(), port)].as_str(),
                        "connected" | "refused"
                    )
                })
                .collect();
            let why = format!("{case}: published {p}, the kernel let through {through:?}");
            judge(&V4, &p["reach"], &through, &why);
            assert!(out.insert(port, p).is_none(), "{case}: one entry per port");
        }
        for port in PUBLISHED {
            if !out.contains_key(&port) {
                let reached = SOURCES.iter().any(|s| {
                    matches!(
                        truth[&(s.to_string(), port)].as_str(),
                        "connected" | "refused"
                    )
                });
                assert!(
                    !reached,
                    "{case}: port {port} gets through but is not published"
                );
            }
        }
        out
    }

    /// The failures of the published-port rules in a real scan of both
    /// namespaces: (rule, listener address:port or the mapping's subject).
    fn failures(&self) -> Vec<(String, String)> {
        let out = portcullis(&[
            "scan",
            "--format",
            "json",
            "--policy",
            concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/empty-policy.toml"),
            "--netns",
            &self.world.server.path(),
            "--netns",
            &self.container.path(),
        ]);
        let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!("{e}: {}", stderr(&out));
        });
        let listeners = report["inventory"]["listeners"].as_array().unwrap();
        let mut got: Vec<(String, String)> = report["evaluation"]["verdicts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["outcome"] == "fail")
            .filter(|v| {
                let rule = v["rule"].as_str().unwrap();
                [
                    "firewall-bypass-by-dnat",
                    "published-without-listener",
                    "loopback-reachable",
                ]
                .contains(&rule)
            })
            .map(|v| {
                let what = match v["listener"].as_u64() {
                    Some(i) => {
                        let l = &listeners[i as usize];
                        format!("{}:{}", l["address"].as_str().unwrap(), l["port"])
                    }
                    None => v["subject"].as_str().unwrap().to_owned(),
                };
                (v["rule"].as_str().unwrap().to_owned(), what)
            })
            .collect();
        got.sort();
        got
    }

    fn listener(&self, inv: &Value, index: &Value) -> (String, u16) {
        let l = &inv["listeners"][index.as_u64().expect("a listener") as usize];
        (
            l["address"].as_str().unwrap().into(),
            l["port"].as_u64().unwrap() as u16,
        )
    }
}

#[test]
fn dnat_and_redirect_agree_with_the_kernel() {
    let b = Behind::new("dnat");
    b.sysctl("net.ipv4.conf.s0.route_localnet", "1");
    b.world.nft(&fixture("dnat.nft"));
    let got = b.agree("nft dnat and redirect");
    let inv = b.inventory();
    let state = |port: u16| got[&port]["reach"]["state"].as_str().unwrap().to_owned();
    assert_eq!(state(8080), "open");
    assert_eq!(got[&8080]["path"], "forward");
    assert_eq!(got[&8080]["input"], "filtered", "INPUT alone would drop it");
    assert_eq!(got[&8080]["to"]["address"], CONTAINER);
    assert_eq!(
        b.listener(&inv, &got[&8080]["to"]["listener"]),
        ("0.0.0.0".into(), 80)
    );
    assert_eq!(state(8081), "open", "the forward filter lets it through");
    assert!(
        got[&8081]["to"]["listener"].is_null(),
        "nothing listens on 81"
    );
    assert_eq!(
        state(8082),
        "filtered",
        "redirected to 2201, which input drops"
    );
    assert_eq!(got[&8082]["path"], "local");
    assert_eq!(
        b.listener(&inv, &got[&8082]["to"]["listener"]),
        ("0.0.0.0".into(), 2201)
    );
    assert_eq!(
        state(8083),
        "open",
        "route_localnet lets the DNAT to loopback in"
    );
    assert_eq!(
        b.listener(&inv, &got[&8083]["to"]["listener"]),
        ("127.0.0.1".into(), 2207)
    );

    let pair = |rule: &str, what: &str| (rule.to_owned(), what.to_owned());
    assert_eq!(
        b.failures(),
        [
            pair("firewall-bypass-by-dnat", "0.0.0.0:80"),
            pair(
                "firewall-bypass-by-dnat",
                "published tcp 8081 -> 10.202.0.2:81"
            ),
            pair("loopback-reachable", "127.0.0.1:2207"),
            pair(
                "published-without-listener",
                "published tcp 8081 -> 10.202.0.2:81"
            ),
        ],
        "input drops 8080 and 8081, forward lets anyone through to the container"
    );

    b.sysctl("net.ipv4.conf.s0.route_localnet", "0");
    b.sysctl("net.ipv4.ip_forward", "0");
    let got = b.agree("forwarding and route_localnet off");
    for port in [8080, 8081, 8083] {
        assert_eq!(got[&port]["reach"]["state"], "filtered", "{port}");
        assert_eq!(
            got[&port]["reach"]["decided_by"]["kind"], "kernel",
            "{port}"
        );
    }
    assert_eq!(b.failures(), [], "nothing gets through: nothing to find");
}

#[test]
fn a_docker_shaped_layout_agrees_with_the_kernel() {
    docker_shaped("iptables", "docker");
}

/// Docker on a host whose iptables is the legacy (x_tables) one.
#[test]
fn a_docker_shaped_legacy_layout_agrees_with_the_kernel() {
    docker_shaped("iptables-legacy", "dockerleg");
}

fn docker_shaped(binary: &str, tag: &str) {
    let b = Behind::new(tag);
    b.world.iptables_with(binary, &rules("docker.rules"));
    let got = b.agree("docker-shaped");
    assert_eq!(got[&8080]["reach"]["state"], "open");
    assert_eq!(
        got[&8080]["input"], "filtered",
        "INPUT's drop policy seems to close it"
    );
    assert_eq!(got[&8080]["path"], "forward");
    assert_eq!(
        b.failures(),
        [(
            "firewall-bypass-by-dnat".to_owned(),
            "0.0.0.0:80".to_owned()
        )],
        "the container's listener, which ufw-like INPUT rules seem to close"
    );

    // DOCKER-USER is where Docker says to restrict published ports.
    run(
        "ip",
        &[
            "netns",
            "exec",
            &b.world.server.name,
            binary,
            "-I",
            "DOCKER-USER",
            "!",
            "-s",
            "10.201.0.0/25",
            "-i",
            "s0",
            "-j",
            "DROP",
        ],
    );
    let got = b.agree("docker-shaped, DOCKER-USER restricts");
    assert_eq!(got[&8080]["reach"]["state"], "restricted");
    assert_eq!(got[&8080]["reach"]["sources"], json!(["10.201.0.0/25"]));
    assert_eq!(b.failures(), [], "restricted in DOCKER-USER: deliberate");
}
