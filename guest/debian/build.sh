#!/usr/bin/env bash
# Builds a Debian 12 (bookworm) cloud image like Debian's own genericcloud one,
# from Debian packages only: systemd, the Debian kernel, GRUB on an MBR disk,
# cloud-init, OpenSSH, qemu-guest-agent, sudo, a serial console. Nothing of
# imagesmith goes inside: it is what a user would bring.
#
#   1. mmdebstrap (with the host's apt sources) installs the packages into a tree;
#   2. mke2fs -d turns the tree into an ext4 root partition, sfdisk writes an MBR;
#   3. GRUB is installed by the image's own grub-install, run inside the image
#      through libguestfs (guestfish), so nothing is mounted on the host;
#   4. qemu-img writes a compressed qcow2.
# usage: build.sh OUT.qcow2
set -euo pipefail
out=${1:?usage: build.sh OUT.qcow2}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export LIBGUESTFS_BACKEND=${LIBGUESTFS_BACKEND:-direct}
# KVM only when the caller knows it works (the daemon probes it): /dev/kvm can exist and still fail.
export LIBGUESTFS_BACKEND_SETTINGS=${LIBGUESTFS_BACKEND_SETTINGS-force_tcg}

disk_mib=${DEBIAN_DISK_MIB:-3072}
root_start=2048 # 1 MiB, as Debian's images and fdisk do
root_sectors=$((disk_mib * 2048 - root_start))
packages=$(grep -v '^#' "$here/packages" | xargs | tr ' ' ',')

# 1. The tree, from the host's apt sources (read on stdin: "-" below), so the build
#    reaches only the mirrors the host already uses.
host_sources() {
  if compgen -G '/etc/apt/sources.list.d/*.sources' >/dev/null; then
    for f in /etc/apt/sources.list.d/*.sources; do cat "$f"; echo; done
  else
    grep -h '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null
  fi
}
host_sources | mmdebstrap --quiet --variant=apt --include="$packages" \
  --customize-hook='cp '"$here"'/fstab "$1/etc/fstab"' \
  --customize-hook='cp '"$here"'/grub "$1/etc/default/grub"' \
  --customize-hook='echo localhost > "$1/etc/hostname"' \
  --customize-hook='printf "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" > "$1/etc/hosts"' \
  --customize-hook='rm -f "$1"/etc/ssh/ssh_host_*' \
  --customize-hook=': > "$1/etc/machine-id"; rm -f "$1/var/lib/dbus/machine-id"' \
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin "$1"/var/log/*.log' \
  bookworm "$work/root" -

# 2. The disk: one ext4 partition made from the tree, behind an MBR.
mke2fs -q -t ext4 -L root -d "$work/root" -E root_owner=0:0 "$work/root.img" "$((root_sectors / 2))k"
truncate -s "${disk_mib}M" "$work/disk.raw"
printf 'label: dos\nstart=%d, size=%d, type=83, bootable\n' "$root_start" "$root_sectors" | sfdisk -q "$work/disk.raw"
dd if="$work/root.img" of="$work/disk.raw" bs=1M seek=1 conv=notrunc,sparse status=none
rm -f "$work/root.img"

# 3. GRUB, by the image's own tools, in a libguestfs appliance.
guestfish --rw -a "$work/disk.raw" -m /dev/sda1 <<'FISH'
sh "grub-install --target=i386-pc --recheck /dev/sda && update-grub"
FISH

# 4. A compressed qcow2, as the clouds ship them.
qemu-img convert -q -c -f raw -O qcow2 "$work/disk.raw" "$out.tmp"
mv "$out.tmp" "$out"
echo "$out"
