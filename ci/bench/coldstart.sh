#!/usr/bin/env bash
# Benchmark: cold-start `portcullis scan` (static binary, embedded plugins,
# default policy) against `ss -utlnp` on a host with a handful of listeners,
# interleaved in the same run. Also runs the 100,000-listener evaluation
# benchmark (cargo bench --bench evaluate) unless EVALUATE=0. Root (ss -p
# needs it).
#
#   sudo ci/bench/coldstart.sh          # RUNS=30
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-30}
[ "$(id -u)" = 0 ] || { echo "coldstart.sh: needs root" >&2; exit 1; }

ci/build-static.sh >/dev/null
bin=$PWD/target/x86_64-unknown-linux-musl/release/portcullis
work=$(mktemp -d)
trap '[ -f "$work/pgid" ] && kill -KILL -- "-$(cat "$work/pgid")" 2>/dev/null; rm -rf "$work"' EXIT

# A handful of listeners, like a small server: a web server, a database on
# loopback, a DNS stub, a DHCP-like UDP socket.
spec='{"forks":1,"sockets":[{"proto":"tcp","addr":"0.0.0.0"},{"proto":"tcp","addr":"::","v6only":false},
       {"proto":"tcp","addr":"127.0.0.1"},{"proto":"udp","addr":"127.0.0.53"},{"proto":"udp","addr":"0.0.0.0"}]}'
setsid bash -c 'sleep infinity | python3 ci/support/listen.py "$0"' "$spec" >"$work/ready" &
echo $! >"$work/pgid"
disown $!  # killed on exit on purpose: no "Killed" notice
for _ in $(seq 100); do [ -s "$work/ready" ] && break; sleep 0.1; done
echo "listeners on this host: $(ss -Htuln | wc -l)"

results=$(python3 ci/bench/timeit.py "$RUNS" \
  "portcullis-scan=$bin scan --allow-partial" \
  "ss-utlnp=ss -utlnp")
python3 - "$results" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
p, s = r["portcullis-scan"]["median_ms"], r["ss-utlnp"]["median_ms"]
print(f"cold start: portcullis scan {p:.1f} ms, ss -utlnp {s:.1f} ms: {p / s:.2f}x ss (median of interleaved runs)")
PY
[ "${EVALUATE:-1}" = 0 ] || cargo bench --locked --bench evaluate | grep '^evaluate:'
