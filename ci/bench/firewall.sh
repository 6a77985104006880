#!/usr/bin/env bash
# Benchmark: the cost of firewall evaluation, against ss, in the same run.
#
#   sudo ci/bench/firewall.sh         # RULES=3000 SET=1000 TCP=100 RUNS=20
#
# Builds one namespace joined to a peer by veth, with TCP listeners
# (two thirds on 0.0.0.0, the rest on 127.0.0.1) and an nftables ruleset of
# RULES rules (source prefixes, ports, port sets, jumps into per-port
# chains) plus an interval set of SET source ranges and a dnat chain, as a
# host firewall with an allowlist and a few published ports looks. Then
# times, interleaved:
#   rules      portcullis list --format json --netns NS, with the ruleset
#   empty      the same after `nft flush ruleset`: the scan without
#              firewall evaluation (nothing to read or evaluate)
#   scan       portcullis scan --netns NS (plugins, the default policy and
#              its table), with the ruleset and after the flush
#   ss-p       ss -Htulnp in the namespace
# and reports medians and ratios. Everything it creates is removed on exit.
# Root only.
set -euo pipefail
cd "$(dirname "$0")/../.."
RULES=${RULES:-3000} SET=${SET:-1000} TCP=${TCP:-100} RUNS=${RUNS:-20}
[ "$(id -u)" = 0 ] || { echo "firewall.sh: needs root" >&2; exit 1; }
command -v nft >/dev/null || { echo "firewall.sh: needs nft (apt-get install nftables)" >&2; exit 1; }

ci/build-static.sh >/dev/null
bin=$PWD/target/x86_64-unknown-linux-musl/release/portcullis
work=$(mktemp -d)
ns="pcbfw$$" peer="pcbfwp$$"
cleanup() {
  [ -f "$work/pgid" ] && kill -KILL -- "-$(cat "$work/pgid")" 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  ip netns del "$peer" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

ip netns add "$ns"
ip netns add "$peer"
ip -n "$ns" link set lo up
ip -n "$ns" link add s0 type veth peer name p0 netns "$peer"
ip -n "$ns" addr add 10.203.0.1/16 dev s0
ip -n "$ns" link set s0 up
ip -n "$peer" link set p0 up

python3 -c "
import json
s=[{'proto':'tcp','addr':'0.0.0.0' if i%3 else '127.0.0.1','port':20000+i} for i in range($TCP)]
print(json.dumps({'sockets':s}))" >"$work/spec.json"
setsid bash -c 'sleep infinity | "$@"' _ ip netns exec "$ns" python3 ci/support/listen.py "@$work/spec.json" >"$work/ready" &
echo $! >"$work/pgid"
disown $!
for _ in $(seq 600); do [ -s "$work/ready" ] && break; sleep 0.1; done
[ -s "$work/ready" ] || { echo "the listener helper did not start" >&2; exit 1; }

python3 - "$RULES" "$SET" "$TCP" >"$work/ruleset.nft" <<'EOF'
import sys
rules, set_size, tcp = map(int, sys.argv[1:])
out = ["table inet filter {"]
elements = ", ".join(f"10.{100 + i // 250}.{i % 250}.0/24" for i in range(set_size))
out.append(f"  set allowed {{ type ipv4_addr; flags interval; elements = {{ {elements} }} }}")
chains = max(1, rules // 20)
for c in range(chains):
    out.append(f"  chain svc{c} {{")
    for r in range(rules // chains - 1):
        out.append(f"    ip saddr 10.{(c + r) % 200}.{r % 250}.0/24 accept")
    out.append("    return")
    out.append("  }")
out.append("  chain input {")
out.append("    type filter hook input priority 0; policy drop;")
out.append("    ct state established,related accept")
out.append("    iifname \"lo\" accept")
out.append("    ip saddr @allowed tcp dport 22 accept")
for c in range(chains):
    out.append(f"    tcp dport {20000 + c % tcp} jump svc{c}")
out.append("  }")
out.append("}")
out.append("table ip nat {")
out.append("  chain prerouting {")
out.append("    type nat hook prerouting priority dstnat; policy accept;")
for i in range(10):
    out.append(f"    tcp dport {8000 + i} dnat to 10.203.0.1:{20000 + i}")
out.append("  }")
out.append("}")
print("\n".join(out))
EOF

load() { ip netns exec "$ns" nft -f "$work/ruleset.nft"; }
load
count=$(ip netns exec "$ns" nft -a list ruleset | grep -c 'handle' || true)
ours=$("$bin" list --format json --netns "/run/netns/$ns" | python3 -c '
import json,sys
inv=json.load(sys.stdin)
states={}
for l in inv["listeners"]:
    s=l.get("reachability",{}).get("state","none"); states[s]=states.get(s,0)+1
print(len(inv["listeners"]), json.dumps(states), len(inv.get("published",[])))')
echo "ruleset: $count handles ($RULES rules, $SET set ranges, 10 dnat); listeners, states, published: $ours"

list="$bin list --format json --netns /run/netns/$ns"
scan="$bin scan --netns /run/netns/$ns"
with=$(python3 ci/bench/timeit.py "$RUNS" "rules=$list" "scan=$scan" "ss-p=ip netns exec $ns ss -Htulnp")
ip netns exec "$ns" nft flush ruleset
without=$(python3 ci/bench/timeit.py "$RUNS" "empty=$list" "scan=$scan" "ss-p=ip netns exec $ns ss -Htulnp")
python3 - "$with" "$without" <<'EOF'
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
rules, empty = a["rules"]["median_ms"], b["empty"]["median_ms"]
scan, scan_empty = a["scan"]["median_ms"], b["scan"]["median_ms"]
ss = (a["ss-p"]["median_ms"] + b["ss-p"]["median_ms"]) / 2
print(f"list, with the ruleset: {rules:8.1f} ms  {rules / empty:.2f}x the list without firewall evaluation, {rules / ss:.2f}x ss -Htulnp")
print(f"list, empty ruleset:    {empty:8.1f} ms  {empty / ss:.2f}x ss -Htulnp")
print(f"scan, with the ruleset: {scan:8.1f} ms  {scan / scan_empty:.2f}x the scan without firewall evaluation")
print(f"scan, empty ruleset:    {scan_empty:8.1f} ms")
print(f"ss -Htulnp (median):    {ss:8.1f} ms")
EOF
