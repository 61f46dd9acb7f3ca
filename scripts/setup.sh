#!/usr/bin/env bash
# Installs, idempotently, every Debian and npm package imagesmith needs.
# Safe to run again: apt-get and npm ci skip what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' 2>/dev/null; then
  echo "setup: imagesmith needs Node.js 20 or later on PATH (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi

debian_packages=(
  qemu-system-x86 qemu-utils            # the hypervisor and qemu-img
  libguestfs-tools linux-image-amd64    # offline guest filesystems; libguestfs needs a kernel in /boot
  libhivex-bin libwin-hivex-perl        # Windows registry hives: hivexget, hivexregedit (--export, --merge)
  ntfs-3g                               # NTFS for libguestfs on Windows disks (mkntfs in the synthetic test disks)
  e2fsprogs busybox-static dropbear-bin # the tiny test guest: ext4 root, busybox, SSH server,
  qemu-guest-agent                      # and the guest agent it carries (filesystem freeze)
  syslinux mtools dosfstools fdisk kmod cpio gzip # its boot partition, MBR and initramfs
  xorriso                               # config drive ISOs
  openssh-client sshpass                # `instance ssh`, password logins in tests
  openssl                               # password hashes (passwd -6) and decryption (pkeyutl)
  curl procps                           # the main script's health wait; pgrep in tests
  socat                                 # QEMU forwards each guest endpoint connection through it
  mmdebstrap                            # the Debian 12 cloud image (guest build --distro debian-12)
  restic                                # the deduplicating peer in bench/
  faketime                              # a client clock 20 minutes off, for the EC2 endpoint's RequestExpired test
  awscli                                # AWS CLI v2 (/usr/bin/aws) for the EC2 endpoint's tests, and botocore's EC2 model
  build-essential python3               # node-gyp builds the native npm modules (better-sqlite3, zstd-napi) when no prebuilt one can be fetched
)

missing=()
for p in "${debian_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error
fi
# The compiled CLI and daemon (dist/): skipped when already the build of the current sources.
node scripts/build.mjs
echo "setup: done"
