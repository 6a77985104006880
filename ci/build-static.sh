#!/usr/bin/env bash
# Builds the static x86_64 musl release binary and, with --check, proves it:
# no program interpreter, no shared libraries, and it runs from an empty
# folder and prints a valid JSON inventory.
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86_64-unknown-linux-musl
cargo build --locked --release --target "$target"
bin="$PWD/target/$target/release/portcullis"
echo "built $bin ($(stat -c %s "$bin") bytes)"
[ "${1:-}" = "--check" ] || exit 0

fail() { echo "static check failed: $*" >&2; exit 1; }
size=$(stat -c %s "$bin")
[ "$size" -le $((25 * 1024 * 1024)) ] || fail "$size bytes, over the 25 MiB budget"
"$bin" plugins list | grep -q ' embedded$' || fail "no embedded plugins"
readelf -l "$bin" | grep -q 'program interpreter' && fail "has a program interpreter"
readelf -d "$bin" | grep -q '(NEEDED)' && fail "needs shared libraries: $(readelf -d "$bin" | grep NEEDED)"
empty=$(mktemp -d)
trap 'rm -rf "$empty"' EXIT
(cd "$empty" && "$bin" list --format json --allow-partial >inventory.json) || fail "did not run from an empty folder"
python3 -c 'import json,sys; inv=json.load(open(sys.argv[1])); assert inv["schema_version"] == 2 and inv["namespaces"], inv' \
  "$empty/inventory.json" || fail "printed no valid inventory"
echo "static check passed: statically linked, $((size / 1024)) KiB with its embedded plugins, runs from an empty folder"
