#!/usr/bin/env bash
# Builds the imagesmith tiny test guest: a self-booting qcow2 disk with an MBR,
# a FAT boot partition (syslinux, the Debian kernel, a small initramfs) and an
# ext4 root made by `mke2fs -d` (busybox, dropbear SSH, qemu-ga, the first-boot agent).
# Everything comes from Debian packages; nothing is mounted.
# usage: build.sh OUT.qcow2
set -euo pipefail
out=${1:?usage: build.sh OUT.qcow2}
here=$(cd "$(dirname "$0")" && pwd)
kernel=${GUEST_KERNEL:-$(ls -1 /boot/vmlinuz-* | sort -V | tail -n 1)}
kver=${kernel#/boot/vmlinuz-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

boot_start=2048 boot_sectors=65536          # 32 MiB FAT boot partition at 1 MiB
root_start=$((boot_start + boot_sectors))
disk_mib=${GUEST_DISK_MIB:-256}
root_sectors=$((disk_mib * 2048 - root_start))

# --- initramfs: busybox and the modules needed to reach the root disk ---
initrd=$work/initrd
mkdir -p "$initrd/bin" "$initrd/modules"
cp /bin/busybox "$initrd/bin/busybox"
for m in virtio_pci virtio_blk virtio_net virtio_console ext4 ata_piix sr_mod isofs button evdev; do
  modprobe --show-depends -S "$kver" "$m" | awk '$1 == "insmod" { print $2 }'
done | awk '!seen[$0]++' >"$work/modules.list"
while read -r path; do
  cp "$path" "$initrd/modules/"
  basename "$path" >>"$initrd/modules.order"
done <"$work/modules.list"
install -m 755 "$here/files/init" "$initrd/init"
(cd "$initrd" && find . | cpio -o -H newc --quiet | gzip -1) >"$work/initrd.img"

# --- root filesystem ---
root=$work/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc/init.d,etc/dropbear,etc/acpi/PWRF,proc,sys,dev,tmp,run,root,var/lib/imagesmith,var/log,home}
cp /bin/busybox "$root/bin/busybox"
for app in $(/bin/busybox --list-full); do
  [ -e "$root/$app" ] || ln -s /bin/busybox "$root/$app"
done
for bin in /usr/sbin/dropbear /usr/bin/dropbearkey /usr/sbin/qemu-ga; do
  rm -f "$root$bin"
  cp "$bin" "$root$bin"
  for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
done
install -m 755 "$here/files/rcS" "$root/etc/init.d/rcS"
install -m 755 "$here/files/rcK" "$root/etc/init.d/rcK"
install -m 755 "$here/files/udhcpc.script" "$root/etc/udhcpc.script"
install -m 755 "$here/files/power-button" "$root/etc/acpi/PWRF/00000080"
install -m 644 "$here/files/inittab" "$root/etc/inittab"
echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
echo 'root:*:19000:0:99999:7:::' >"$root/etc/shadow" && chmod 600 "$root/etc/shadow"
echo 'root:x:0:' >"$root/etc/group"
printf '/bin/sh\n/bin/ash\n' >"$root/etc/shells"
echo '/dev/vda2 / ext4 defaults 0 1' >"$root/etc/fstab"
printf 'ID=imagesmith-tiny\nNAME="imagesmith tiny guest"\nVERSION_ID=1\nPRETTY_NAME="imagesmith tiny guest 1"\n' >"$root/etc/os-release"
echo imagesmith >"$root/etc/hostname"
mke2fs -q -t ext4 -L root -d "$root" -E root_owner=0:0 "$work/root.img" "$((root_sectors / 2))k"

# --- boot partition: syslinux, kernel, initramfs ---
cat >"$work/syslinux.cfg" <<CFG
DEFAULT linux
PROMPT 0
TIMEOUT 0
LABEL linux
  KERNEL /vmlinuz
  INITRD /initrd.img
  APPEND root=/dev/vda2 console=ttyS0,115200 quiet
CFG
mkfs.vfat -h "$boot_start" -n BOOT -C "$work/boot.img" "$((boot_sectors / 2))" >/dev/null
mcopy -i "$work/boot.img" "$kernel" ::/vmlinuz
mcopy -i "$work/boot.img" "$work/initrd.img" ::/initrd.img
mcopy -i "$work/boot.img" "$work/syslinux.cfg" ::/syslinux.cfg
syslinux --install "$work/boot.img"

# --- the disk: MBR, partition table, partitions ---
truncate -s "${disk_mib}M" "$work/disk.raw"
printf 'label: dos\nstart=%d, size=%d, type=c, bootable\nstart=%d, size=%d, type=83\n' \
  "$boot_start" "$boot_sectors" "$root_start" "$root_sectors" | sfdisk -q "$work/disk.raw"
dd if=/usr/lib/SYSLINUX/mbr.bin of="$work/disk.raw" bs=440 count=1 conv=notrunc status=none
dd if="$work/boot.img" of="$work/disk.raw" bs=512 seek="$boot_start" conv=notrunc,sparse status=none
dd if="$work/root.img" of="$work/disk.raw" bs=512 seek="$root_start" conv=notrunc,sparse status=none
qemu-img convert -q -f raw -O qcow2 "$work/disk.raw" "$out.tmp"
mv "$out.tmp" "$out"
echo "$out"
