#!/usr/bin/env bash
# Builds the bootable Debian bookworm disk of the VM test (ci/tests/vm.rs)
# and caches it: CACHE_DIR/base.raw, an ext4 filesystem image that QEMU
# boots with the image's own kernel and initrd (direct kernel boot: no
# bootloader to install, no loop device, no mount).
#
#   ci/support/vm-image.sh CACHE_DIR
#
# The image is a stock cloud-shaped Debian: systemd as PID 1, cloud-init,
# openssh-server through ssh.socket, ifupdown with isc-dhcp-client, and
# nginx-light and systemd-resolved installed but not enabled (the test
# enables them per boot on the kernel command line). One thing is not
# stock: a test-only oracle (portcullis-oracle@.service, started by a
# drop-in when the first-boot unit ends) that records what the test
# compares the scan with (ss -Htulnp, the units' timestamps) and powers
# the VM off.
set -euo pipefail
cache=${1:?usage: vm-image.sh CACHE_DIR}
mirror=${MIRROR:-http://deb.debian.org/debian}
# debootstrap resolves no virtual packages: dbus (dbus-system-bus, for
# systemd-resolved) and python3-cffi-backend (for cloud-init's cryptography)
# are named for it.
packages=linux-image-amd64,systemd-sysv,udev,dbus,python3-cffi-backend,cloud-init,openssh-server,ifupdown,isc-dhcp-client,nginx-light,systemd-resolved,iproute2
[ -f "$cache/base.complete" ] && exit 0
mkdir -p "$cache"
root="$cache/rootfs.partial"
rm -rf "$root" "$cache/base.raw"

debootstrap --variant=minbase --include="$packages" bookworm "$root" "$mirror"

in_root() { chroot "$root" "$@"; }
echo portcullis-vm >"$root/etc/hostname"
printf '/dev/vda / ext4 defaults 0 1\n' >"$root/etc/fstab"
# Stock enablement, as Debian's cloud images ship it: ssh through its socket.
in_root systemctl disable ssh.service
in_root systemctl enable ssh.socket
# Installed, not enabled: the boots that need them enable them on the
# kernel command line (systemd.wants=).
in_root systemctl disable nginx.service systemd-resolved.service
# The test network has no metadata server: look only for the NoCloud seed
# instead of waiting out the probes of every cloud. And a locale glibc has
# built in (a cloud image ships `locales`; this one does not, and
# cloud-init's default en_US.UTF-8 would fail cloud-config).
printf 'datasource_list: [NoCloud, None]\nlocale: C.UTF-8\n' >"$root/etc/cloud/cloud.cfg.d/90-portcullis-test.cfg"
install -m 0755 /dev/stdin "$root/usr/local/sbin/portcullis-oracle" <<'EOF'
#!/bin/sh
# Test oracle, started when the first-boot unit ends (OnSuccess= or
# OnFailure=, as $1): records what the test compares the scan with, then
# powers off. (Polling the unit would not do: a finished oneshot nothing
# refers to is unloaded, and `systemctl show` then reads all zeros.)
out=/var/log/portcullis-oracle
mkdir -p "$out"
echo "$1" >"$out/result.txt"
ss -Htulnp >"$out/ss.txt"
systemctl show cloud-final.service >"$out/cloud-final.service.show"
journalctl -b --no-pager -o short-monotonic -u portcullis-firstboot.service >"$out/firstboot.journal" 2>&1
systemctl is-system-running >"$out/is-system-running.txt" 2>&1 || true
echo "portcullis-oracle: done ($1)" >/dev/console
sync
systemctl poweroff --no-block
EOF
cat >"$root/etc/systemd/system/portcullis-oracle@.service" <<'EOF'
[Unit]
Description=portcullis test oracle: ss and timestamps after the first-boot scan (%i)

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/portcullis-oracle %i
EOF
# A drop-in for the unit the seed's user-data writes: systemd reads it
# once cloud-init's daemon-reload has loaded that unit.
mkdir -p "$root/etc/systemd/system/portcullis-firstboot.service.d"
cat >"$root/etc/systemd/system/portcullis-firstboot.service.d/oracle.conf" <<'EOF'
[Unit]
OnSuccess=portcullis-oracle@success.service
OnFailure=portcullis-oracle@failure.service
EOF
in_root apt-get clean
cp -L "$root"/boot/vmlinuz-* "$cache/vmlinuz"
cp -L "$root"/boot/initrd.img-* "$cache/initrd.img"
mkfs.ext4 -q -F -L portcullis-root -d "$root" "$cache/base.raw" 3G
rm -rf "$root"
touch "$cache/base.complete"
