#!/usr/bin/env bash
# Installs what Kumo's compute service needs and is missing, on Debian 12 (bookworm).
# Idempotent: run it as often as you like; it does nothing when all is present.
#   deploy/install-compute-deps.sh
# Installs: runc, iproute2, nftables, busybox-static, cpio, e2fsprogs, dnsmasq-base (each VPC's DHCP
# server and resolver), and QEMU (qemu-system-x86, and qemu-utils: qemu-img and the
# qemu-storage-daemon that storage nodes export volumes with) from bookworm-backports (Debian 12's own QEMU 7.2 conflicts with the backported
# qemu-utils that these machines come with). Runs as root, else through sudo.
set -euo pipefail

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

apt_updated=false
apt_update_once() {
    if ! $apt_updated; then
        $SUDO apt-get update -qq
        apt_updated=true
    fi
}
apt_install() {
    apt_update_once
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@"
}

# Is a Debian package installed (status "install ok installed")?
pkg_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# The mirror URL of the existing plain "bookworm" Debian source (one-line or deb822
# format), so that backports comes from the same mirror. Prints nothing if none is found.
bookworm_mirror() {
    local f
    # one-line format: deb [options] URL bookworm component...
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        awk '$1 == "deb" {
                 i = 2
                 if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                 if ($(i + 1) == "bookworm") { print $i; exit }
             }' "$f"
    done | head -n1 | grep . && return 0
    # deb822 format: stanzas with "URIs:" and "Suites:" fields
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk 'function flush() {
                 if (is_deb && has_bookworm && uri != "") { print uri; found = 1 }
                 uri = ""; is_deb = 1; has_bookworm = 0
             }
             BEGIN { is_deb = 1 }
             /^[ \t]*$/ { flush(); if (found) exit; next }
             /^#/ { next }
             tolower($1) == "types:" { is_deb = 0; for (i = 2; i <= NF; i++) if ($i == "deb") is_deb = 1 }
             tolower($1) == "uris:" { uri = $2 }
             tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == "bookworm") has_bookworm = 1 }
             END { if (!found) flush() }' "$f"
    done | head -n1 | grep . && return 0
    return 1
}

ensure_backports_source() {
    if grep -rqs --include='*.list' --include='*.sources' bookworm-backports \
        /etc/apt/sources.list /etc/apt/sources.list.d/; then
        return 0
    fi
    local mirror
    mirror="$(bookworm_mirror || true)"
    [ -n "$mirror" ] || mirror="http://deb.debian.org/debian"
    mirror="${mirror%/}"
    echo "adding apt source: deb $mirror bookworm-backports main"
    echo "deb $mirror bookworm-backports main" |
        $SUDO tee /etc/apt/sources.list.d/kumo-backports.list >/dev/null
}

missing=()
command -v runc >/dev/null 2>&1 || missing+=(runc)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v nft >/dev/null 2>&1 || missing+=(nftables)
pkg_installed busybox-static || missing+=(busybox-static)
command -v cpio >/dev/null 2>&1 || missing+=(cpio)
# mkfs.ext4 builds the VM image's root disk (deploy/build-images.sh).
command -v mkfs.ext4 >/dev/null 2>&1 || [ -x /sbin/mkfs.ext4 ] || missing+=(e2fsprogs)
command -v dnsmasq >/dev/null 2>&1 || [ -x /usr/sbin/dnsmasq ] || missing+=(dnsmasq-base)

need_qemu=false
command -v qemu-system-x86_64 >/dev/null 2>&1 || need_qemu=true
command -v qemu-storage-daemon >/dev/null 2>&1 || need_qemu=true

if [ ${#missing[@]} -eq 0 ] && ! $need_qemu; then
    echo "compute dependencies: all present"
    exit 0
fi

if $need_qemu; then
    # The source must be there before the (single) apt-get update.
    ensure_backports_source
fi
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    apt_install "${missing[@]}"
fi
if $need_qemu; then
    echo "installing: QEMU from bookworm-backports"
    apt_install -t bookworm-backports \
        qemu-system-x86 qemu-system-data qemu-block-extra qemu-system-common qemu-utils
fi

command -v qemu-system-x86_64 >/dev/null 2>&1 || { echo "qemu-system-x86_64 still missing" >&2; exit 1; }
command -v qemu-storage-daemon >/dev/null 2>&1 || { echo "qemu-storage-daemon still missing" >&2; exit 1; }
echo "compute dependencies: installed"
