#!/usr/bin/env bash
# Benchmark: naming containers from runtime state, against the ways without
# portcullis, in the same run.
#
#   sudo ci/bench/containers.sh            # CONTAINERS=20 RUNS=10
#
# Starts Debian's dockerd in a network namespace of its own under its own
# roots (as ci/tests/containers.rs does), imports the debootstrap rootfs of
# the image test (ci/.cache/rootfs-bookworm; the suite builds it) and runs
# CONTAINERS nginx containers. Then times, interleaved:
#   portcullis    portcullis list --format json --netns IMAGE: every
#                 container's namespace, listeners, holders, and each
#                 container's name, image and pod from its runtime's files
#   ss-p          ss -Htulnp in each container's namespace (nsenter per
#                 container): listeners and holders, no names
#   ss-p+inspect  the same plus `docker inspect` of every container: what it
#                 takes to have the names without portcullis (through the
#                 engine's API, which a DaemonSet does not have)
# and reports medians and ratios. Everything it creates is removed on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
CONTAINERS=${CONTAINERS:-20} RUNS=${RUNS:-10}
[ "$(id -u)" = 0 ] || { echo "containers.sh: needs root" >&2; exit 1; }
rootfs=ci/.cache/rootfs-bookworm
[ -f "$rootfs/.portcullis-complete" ] || { echo "containers.sh: $rootfs missing: run the suite first (ci/test.sh)" >&2; exit 1; }

ci/build-static.sh >/dev/null
bin=$PWD/target/x86_64-unknown-linux-musl/release/portcullis
work=$(mktemp -d /tmp/pcbc.XXXX)
netns="pcbc$$"
docker=(/usr/bin/docker --host "unix://$work/docker.sock")
cleanup() {
  set +e
  "${docker[@]}" rm -f $("${docker[@]}" ps -aq 2>/dev/null) >/dev/null 2>&1
  daemon=$(cat "$work/docker.pid" 2>/dev/null)
  if [ -n "$daemon" ]; then
    kill "$daemon" 2>/dev/null
    for _ in $(seq 200); do kill -0 "$daemon" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$daemon" 2>/dev/null
  fi
  # containerd's shims outlive a daemon that did not stop them.
  pkill -KILL -f -- "$work/" 2>/dev/null
  grep " $work/" /proc/self/mountinfo | cut -d' ' -f5 | sort -r | while read -r m; do umount -l "$m"; done
  ip netns del "$netns" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$netns"
ip -n "$netns" link set lo up
nsenter --net="/run/netns/$netns" /usr/sbin/dockerd --data-root "$work/data" --exec-root "$work/exec" \
  --pidfile "$work/docker.pid" --host "unix://$work/docker.sock" --iptables=false --ip6tables=false \
  >"$work/dockerd.log" 2>&1 &
for _ in $(seq 240); do "${docker[@]}" info >/dev/null 2>&1 && break; sleep 0.25; done
image=portcullis-bench/debian:bookworm
tar -C "$rootfs" -c . | "${docker[@]}" import - "$image" >/dev/null
echo "starting $CONTAINERS nginx containers"
for i in $(seq "$CONTAINERS"); do
  "${docker[@]}" run -d --name "bench-$i" "$image" nginx -g 'daemon off;' >/dev/null
done
pids=$("${docker[@]}" inspect -f '{{.State.Pid}}' $("${docker[@]}" ps -q) | tr '\n' ' ')
for _ in $(seq 100); do
  up=0
  for p in $pids; do nsenter -t "$p" -n ss -Htln | grep -q ':80 ' && up=$((up + 1)); done
  [ "$up" = "$CONTAINERS" ] && break
  sleep 0.1
done
names=$("$bin" list --format json --netns "$image" | python3 -c '
import json, sys
inv = json.load(sys.stdin)
print(sum(1 for c in inv["containers"] if c["name"]), len(inv["namespaces"]))')
echo "portcullis names ${names% *} containers in ${names#* } namespaces"

ss_all="for p in $pids; do nsenter -t \$p -n ss -Htulnp; done"
inspect="${docker[*]} inspect \$(${docker[*]} ps -q)"
python3 ci/bench/timeit.py "$RUNS" \
  "portcullis=$bin list --format json --netns $image" \
  "ss-p=$ss_all" \
  "ss-p+inspect=$ss_all; $inspect" >"$work/times.json"
python3 - "$work/times.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
base = t["ss-p"]["median_ms"]
for label, v in t.items():
    print(f"{label:14} median {v['median_ms']:8.1f} ms  min {v['min_ms']:8.1f} ms  {v['median_ms'] / base:5.2f}x ss-p")
PY
