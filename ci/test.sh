#!/usr/bin/env bash
# The whole test suite, on a fresh machine. Run as root: the namespace tests
# create real network namespaces and fail (they never skip) without root.
#
#   sudo ci/test.sh
#
# Installs what the tests drive if it is missing: iproute2 (ip, ss),
# util-linux (unshare, nsenter, setpriv), python3 (the listener helper),
# binutils (readelf, for the static-binary check), musl-tools (musl-gcc, for
# mimalloc in the static build), libxml2-utils (xmllint, the JUnit schema
# validator) and python3-venv; the PyPI validators of ci/validators.txt go
# into ci/.cache/venv. The Rust toolchain and its musl and wasm targets come
# from rust-toolchain.toml through rustup.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "ci/test.sh: the namespace tests need root; run: sudo ci/test.sh" >&2
  exit 1
fi

missing=()
for tool in ip:iproute2 ss:iproute2 unshare:util-linux nsenter:util-linux setpriv:util-linux \
            python3:python3 readelf:binutils musl-gcc:musl-tools xmllint:libxml2-utils; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || missing+=("${tool##*:}")
done
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  echo "ci/test.sh: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${missing[@]}" | sort -u)
fi

venv=ci/.cache/venv
if ! cmp -s ci/validators.txt "$venv/validators.txt" 2>/dev/null; then
  echo "ci/test.sh: installing the report validators into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r ci/validators.txt
  cp ci/validators.txt "$venv/validators.txt"
fi
export PORTCULLIS_VALIDATORS="$PWD/$venv/bin"

# cloud-init's `schema` validates the cloud-config example; the package is
# unpacked, not installed (installing it would enable its boot services).
cloudinit=ci/.cache/cloud-init
if [ ! -d "$cloudinit/usr/lib/python3/dist-packages/cloudinit" ]; then
  echo "ci/test.sh: unpacking Debian's cloud-init into $cloudinit"
  rm -rf "$cloudinit" && mkdir -p "$cloudinit"
  (cd "$cloudinit" && apt-get download cloud-init 2>/dev/null || { apt-get update -qq && apt-get download cloud-init; })
  dpkg -x "$cloudinit"/cloud-init_*.deb "$cloudinit"
fi
export PORTCULLIS_CLOUD_INIT="$PWD/$cloudinit/usr/lib/python3/dist-packages"

# The image test builds a Debian rootfs with debootstrap (kept in ci/.cache
# between local runs; CI starts from a clean clone and builds it fresh).
command -v debootstrap >/dev/null 2>&1 || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap
}

# The static binary first: the image test (ci/tests/image.rs) copies it
# into a Debian rootfs and runs it there.
ci/build-static.sh
cargo test --locked
# The plugins' rule logic, natively (their wasm builds are part of the above).
cargo test --locked --manifest-path plugins/Cargo.toml
ci/build-static.sh --check
