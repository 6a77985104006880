#!/usr/bin/env bash
# The whole test suite, on a fresh machine. Run it as root (the namespace
# tests create real network namespaces and fail, never skip, without root):
#
#   ci/test.sh
#
# It installs what it calls when that is missing, and nothing else:
# - the Rust targets and components of rust-toolchain.toml (wasm32 for the
#   plugins, musl for the static binary, rustfmt, clippy), with an explicit
#   `rustup target add`/`component add`: rustup adds them only when it
#   installs the toolchain, never with RUSTUP_AUTO_INSTALL=0;
# - Debian packages: iproute2 (ip, ss), util-linux (unshare, nsenter,
#   setpriv, script), python3 and python3-venv (the listener helper, the
#   validators), binutils (readelf), gcc and musl-tools (mimalloc's C in the
#   static build), libxml2-utils (xmllint), debootstrap (the image and VM
#   tests), qemu-system-x86, genisoimage and e2fsprogs (the VM test boots a
#   Debian guest, writes its NoCloud seed and reads its disk with debugfs),
#   docker.io (the container test starts its own dockerd; the package's
#   service is not started: there is no systemd here), nftables and
#   iptables and ufw (the firewall test loads real rulesets into its own
#   namespaces; portcullis itself reads them over netlink);
# - the PyPI validators of ci/validators.txt, into ci/.cache/venv;
# - Debian's cloud-init package, unpacked (not installed) into ci/.cache;
# - Debian's prometheus (promtool) and prometheus-node-exporter, unpacked
#   likewise: the metrics test starts its own node_exporter.
# Then: rustfmt and clippy on both workspaces, the static binary, the suite,
# the plugins' own tests, and every benchmark once at a small size.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { echo "ci/test.sh: $*"; }
# No incremental caches: a CI run builds each profile once, and they cost
# gigabytes of disk (a full disk failed a run once).
export CARGO_INCREMENTAL=0
step "disk: $(df -h --output=avail . | tail -1 | tr -d ' ') free beside the clone"

if [ "$(id -u)" != 0 ]; then
  echo "ci/test.sh: the namespace tests need root; run it in a root shell" >&2
  exit 1
fi

toolchain=$(sed -n 's/^channel *= *"\(.*\)"/\1/p' rust-toolchain.toml)
installed=$(rustup component list --installed --toolchain "$toolchain")
for component in rustfmt clippy; do
  grep -q "^$component" <<<"$installed" || {
    step "adding the Rust component $component to $toolchain"
    rustup component add --toolchain "$toolchain" "$component"
  }
done
for target in wasm32-unknown-unknown x86_64-unknown-linux-musl; do
  rustup target list --installed --toolchain "$toolchain" | grep -qx "$target" || {
    step "adding the Rust target $target to $toolchain"
    rustup target add --toolchain "$toolchain" "$target"
  }
done

missing=()
for tool in ip:iproute2 ss:iproute2 unshare:util-linux nsenter:util-linux setpriv:util-linux \
            script:bsdutils python3:python3 readelf:binutils gcc:gcc musl-gcc:musl-tools \
            xmllint:libxml2-utils debootstrap:debootstrap qemu-system-x86_64:qemu-system-x86 \
            genisoimage:genisoimage debugfs:e2fsprogs mkfs.ext4:e2fsprogs \
            /usr/sbin/dockerd:docker.io nft:nftables iptables:iptables ufw:ufw; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || missing+=("${tool##*:}")
done
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  step "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${missing[@]}" | sort -u)
fi

venv=ci/.cache/venv
if ! cmp -s ci/validators.txt "$venv/validators.txt" 2>/dev/null; then
  step "installing the report validators into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --only-binary :all: -r ci/validators.txt
  cp ci/validators.txt "$venv/validators.txt"
fi
export PORTCULLIS_VALIDATORS="$PWD/$venv/bin"

# cloud-init's `schema` validates the cloud-config example; the package is
# unpacked, not installed (installing it would enable its boot services).
cloudinit=ci/.cache/cloud-init
if [ ! -d "$cloudinit/usr/lib/python3/dist-packages/cloudinit" ]; then
  step "unpacking Debian's cloud-init into $cloudinit"
  rm -rf "$cloudinit" && mkdir -p "$cloudinit"
  (cd "$cloudinit" && apt-get download cloud-init 2>/dev/null || { apt-get update -qq && apt-get download cloud-init; })
  dpkg -x "$cloudinit"/cloud-init_*.deb "$cloudinit"
fi
export PORTCULLIS_CLOUD_INIT="$PWD/$cloudinit/usr/lib/python3/dist-packages"

# promtool and node_exporter for ci/tests/metrics.rs, unpacked the same way
# (installing them would start Debian's prometheus services on this host).
prometheus=ci/.cache/prometheus
if [ ! -x "$prometheus/usr/bin/promtool" ] || [ ! -x "$prometheus/usr/bin/prometheus-node-exporter" ]; then
  step "unpacking Debian's prometheus and prometheus-node-exporter into $prometheus"
  rm -rf "$prometheus" && mkdir -p "$prometheus"
  (cd "$prometheus" && apt-get download prometheus prometheus-node-exporter 2>/dev/null ||
    { apt-get update -qq && apt-get download prometheus prometheus-node-exporter; })
  for deb in "$prometheus"/*.deb; do dpkg -x "$deb" "$prometheus"; done
fi
export PORTCULLIS_PROMETHEUS="$PWD/$prometheus/usr/bin"

step "rustfmt and clippy"
cargo fmt --all --check
cargo fmt --all --check --manifest-path plugins/Cargo.toml
cargo clippy --locked --all-targets -- -D warnings
cargo clippy --locked --all-targets --manifest-path plugins/Cargo.toml -- -D warnings

# The static binary first: the image test (ci/tests/image.rs) copies it
# into a Debian rootfs and runs it there.
ci/build-static.sh --check
results=ci/.cache/test-results.log
: >"$results"
cargo test --locked 2>&1 | tee -a "$results"
# The plugins' rule logic, natively (their wasm builds are part of the above).
cargo test --locked --manifest-path plugins/Cargo.toml 2>&1 | tee -a "$results"

# Every benchmark once, small: a bench that no longer builds or runs fails
# here, not months later. Figures come from full runs (ci/README.md).
step "benchmarks, once each at a small size"
# `cargo test` runs a harness-less bench's main in the test profile: it
# proves the bench builds and runs without a second release build.
PORTCULLIS_BENCH_LISTENERS=2000 PORTCULLIS_BENCH_RUNS=1 cargo test --locked --bench evaluate
RUNS=2 EVALUATE=0 ci/bench/coldstart.sh
LISTENERS=2000 RUNS=1 ci/bench/check.sh
NS=3 TCP=20 UDP=5 FORKS=1 ANON=1 RUNS=2 ci/bench/fleet.sh
CONTAINERS=2 RUNS=1 ci/bench/containers.sh
RULES=300 SET=100 TCP=20 RUNS=2 ci/bench/firewall.sh

# One closing line for the whole suite (the last cargo summary above is a
# crate with no tests of its own, which reads like "no test ran").
step "disk: target/ holds $(du -sh target | cut -f1), ci/.cache $(du -sh ci/.cache | cut -f1)"
awk '/^test result:/ { p += $4; f += $6 } END { printf "ci/test.sh: %d passed, %d failed\n", p, f }' "$results"
