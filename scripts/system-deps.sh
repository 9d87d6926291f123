#!/usr/bin/env bash
# Installs the Debian packages Vigil's demo and tests use to build real disk images, when missing.
# (Vigil itself reads images with libyal and needs none of them.)
set -euo pipefail
declare -A need=(
  [mkfs.ext4]=e2fsprogs [debugfs]=e2fsprogs [mkfs.xfs]=xfsprogs [qemu-img]=qemu-utils [sfdisk]=fdisk
  [lvm]=lvm2 [cryptsetup]=cryptsetup-bin [rpmbuild]=rpm [debootstrap]=debootstrap
  [mkfs.btrfs]=btrfs-progs [mkfs.vfat]=dosfstools [losetup]=mount [mkswap]=util-linux
  [go]=golang-go [age]=age [rg]=ripgrep [objcopy]=binutils [gcc]=gcc [nft]=nftables [ip]=iproute2
)
missing=()
# python3-rpm: rpm's own labelCompare is the oracle the version tests check vigil's rpm ordering against
/usr/bin/python3 -c "import rpm" 2>/dev/null || missing+=(python3-rpm)
# real files Debian's packages install, which the deep-inspection tests read and check ownership of
for package in python3-six node-semver ruby-rack libcommons-lang3-java libslf4j-java libguava-java libguice-java; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
for tool in "${!need[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin:/sbin" command -v "$tool" >/dev/null 2>&1 \
    || missing+=("${need[$tool]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing: ${missing[*]}" >&2
$sudo apt-get update -q >/dev/null
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
