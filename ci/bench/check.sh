#!/usr/bin/env bash
# Benchmark: the plugin stage at fleet scale. `check --inventory` of a
# generated fleet inventory (static binary, embedded plugins, default
# policy) against the same check with `builtins = false`, interleaved in the
# same run, and each one's peak RSS. The difference of the medians is what
# the plugins cost: loading, reading the inventory, judging, and turning
# their answers into verdicts.
#
#   ci/bench/check.sh        # LISTENERS=100000 HOLDERS=1 CMDLINE=64 RUNS=5
set -euo pipefail
cd "$(dirname "$0")/../.."
LISTENERS=${LISTENERS:-100000} HOLDERS=${HOLDERS:-1} CMDLINE=${CMDLINE:-64} RUNS=${RUNS:-5}

ci/build-static.sh >/dev/null
bin=$PWD/target/x86_64-unknown-linux-musl/release/portcullis
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 ci/support/fleet_inventory.py "$LISTENERS" "$HOLDERS" "$CMDLINE" >"$work/inventory.json"
printf 'builtins = false\n' >"$work/off.toml"
on="$bin check --inventory $work/inventory.json --format summary"
off="$on --policy $work/off.toml"
echo "inventory: $LISTENERS listeners x $HOLDERS holders x $CMDLINE-byte command lines ($(stat -c %s "$work/inventory.json") bytes)"
echo "verdicts: $($on | tail -1)"

results=$(python3 ci/bench/timeit.py "$RUNS" "builtins=$on" "off=$off")
peak() { # command: its peak RSS in KiB
  python3 -c 'import resource, subprocess, sys
subprocess.run(sys.argv[1], shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)' "$1"
}
python3 - "$results" "$(peak "$on")" "$(peak "$off")" <<'PY'
import json, sys
r = json.loads(sys.argv[1]); rss_on, rss_off = int(sys.argv[2]), int(sys.argv[3])
on, off = r["builtins"]["median_ms"], r["off"]["median_ms"]
print(f"check --inventory: {on:.0f} ms with the built-ins, {off:.0f} ms without: {on / off:.2f}x; "
      f"plugin stage {on - off:.0f} ms (median of interleaved runs)")
print(f"peak RSS: {rss_on / 1024:.0f} MiB with the built-ins, {rss_off / 1024:.0f} MiB without")
PY
