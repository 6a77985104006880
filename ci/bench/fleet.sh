#!/usr/bin/env bash
# Benchmark: portcullis against ss on a fleet of namespaces, in the same run.
#
#   sudo ci/bench/fleet.sh            # NS=40 TCP=250 UDP=50 FORKS=3 ANON=4 RUNS=10
#
# Builds NS named namespaces, each with TCP listeners and UDP sockets held by
# one process and FORKS forked children (so /proc/*/fd holds
# NS*(TCP+UDP)*(FORKS+1) socket descriptors), plus ANON anonymous namespaces
# (unshare -n). Then times, interleaved:
#   portcullis  portcullis list --format json (static musl release build)
#               over exactly the namespaces ss is run in
#   portcullis-all  the same over the whole host, as a scan does: this adds
#               the dumps of non-listening and unix sockets and asking
#               unseen sockets for their namespace
#   ss-p        ss -Htulnp in every namespace (nsenter per namespace)
#   ss          ss -Htuln in every namespace
#   fd-floor    one walk of /proc/*/fd readlinks (find), the least any tool
#               that names owners must do
# and reports medians, ratios, and portcullis's peak RSS. Both tools look at
# the same namespaces, the host's and the ones made here (portcullis gets
# them as --netns selectors), so a host that already runs containers or other
# namespaces compares like with like. Everything it creates is removed on
# exit. Root only.
set -euo pipefail
cd "$(dirname "$0")/../.."
NS=${NS:-40} TCP=${TCP:-250} UDP=${UDP:-50} FORKS=${FORKS:-3} ANON=${ANON:-4} RUNS=${RUNS:-10}
[ "$(id -u)" = 0 ] || { echo "fleet.sh: needs root" >&2; exit 1; }

ci/build-static.sh >/dev/null
bin=$PWD/target/x86_64-unknown-linux-musl/release/portcullis
work=$(mktemp -d)
prefix="pcb$$-"
cleanup() {
  [ -f "$work/pgids" ] && while read -r g; do kill -KILL -- "-$g" 2>/dev/null || true; done <"$work/pgids"
  for ns in $(ip netns list | awk '{print $1}' | grep "^$prefix" || true); do ip netns del "$ns"; done
  rm -rf "$work"
}
trap cleanup EXIT

# The spec goes in a file: real servers have short command lines, and a long
# argv would be copied into every holder of every socket.
python3 -c "
import json
s=[{'proto':'tcp','addr':'0.0.0.0' if i%3==0 else '127.0.0.1'} for i in range($TCP)]
s+=[{'proto':'udp','addr':'::','v6only':False} for i in range($UDP)]
print(json.dumps({'forks':$FORKS,'sockets':s}))" >"$work/spec.json"
spec="@$work/spec.json"
start_helper() { # out-file, command prefix...
  local out=$1; shift
  ready_files+=("$out")
  setsid bash -c 'sleep infinity | "$@"' _ "$@" python3 ci/support/listen.py "$spec" >"$out" &
  echo $! >>"$work/pgids"
  disown $!  # killed on exit on purpose: no "Killed" notice
}
ready_files=()
echo "building $NS namespaces x ($TCP tcp + $UDP udp) x $((FORKS + 1)) holders, + $ANON anonymous"
for i in $(seq "$NS"); do
  ip netns add "$prefix$i"
  ip -n "$prefix$i" link set lo up
  start_helper "$work/ready.$i" ip netns exec "$prefix$i"
done
for i in $(seq "$ANON"); do
  start_helper "$work/anon.$i" unshare -n sh -c 'ip link set lo up && exec "$0" "$@"'
done
for f in "${ready_files[@]}"; do
  for _ in $(seq 600); do [ -s "$f" ] && break; sleep 0.1; done
  [ -s "$f" ] || { echo "a helper did not start ($f)" >&2; exit 1; }
done

# Every namespace once: named ones by path, anonymous ones by a pid in them, the host directly.
paths=$(for i in $(seq "$NS"); do echo "/run/netns/$prefix$i"; done
        for f in "${ready_files[@]:$NS}"; do python3 -c 'import json,sys; print("/proc/%d/ns/net" % json.load(open(sys.argv[1]))["pid"])' "$f"; done)
printf '%s\n' $paths >"$work/paths"
ss_all() { echo "ss $1; while read -r p; do nsenter --net=\$p ss $1; done <$work/paths"; }
selectors="--netns /proc/$$/ns/net$(printf ' --netns %s' $paths)"

socket_fds=$( (find /proc/[0-9]*/fd -maxdepth 1 -type l -lname 'socket:*' 2>/dev/null || true) | wc -l)
ours=$("$bin" list --format json --allow-partial $selectors 2>/dev/null | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["listeners"]))')
theirs=$(bash -c "$(ss_all -Htuln)" | wc -l)
echo "socket descriptors in /proc: $socket_fds; listeners: portcullis $ours, ss $theirs"
[ "$ours" = "$theirs" ] || { echo "listener counts differ: the comparison would be meaningless" >&2; exit 1; }

results=$(python3 ci/bench/timeit.py "$RUNS" \
  "portcullis=$bin list --format json --allow-partial $selectors" \
  "portcullis-all=$bin list --format json --allow-partial" \
  "ss-p=$(ss_all -Htulnp)" \
  "ss=$(ss_all -Htuln)" \
  "fd-floor=find /proc/[0-9]*/fd -maxdepth 1 -type l -printf '%l\n'")
rss_kib=$(python3 -c "
import resource, subprocess, sys
subprocess.run(['$bin','list','--format','json','--allow-partial'] + '$selectors'.split(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
python3 - "$results" "$rss_kib" <<'PY'
import json, sys
r = json.loads(sys.argv[1]); rss = int(sys.argv[2])
p = r["portcullis"]["median_ms"]
print(f"{'command':<12} {'median ms':>10} {'min ms':>9}  ratio")
for label, v in r.items():
    print(f"{label:<12} {v['median_ms']:>10.1f} {v['min_ms']:>9.1f}  {v['median_ms'] / p:>6.2f}x portcullis")
print(f"portcullis is {r['ss-p']['median_ms'] / p:.1f}x faster than ss -p per namespace, "
      f"{r['ss']['median_ms'] / p:.2f}x faster than ss per namespace, "
      f"{p / r['fd-floor']['median_ms']:.2f}x the fd-walk floor; peak RSS {rss / 1024:.1f} MiB")
PY
