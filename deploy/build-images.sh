#!/usr/bin/env bash
# Builds Kumo's two default images from Debian packages (no other downloads):
#   deploy/build-images.sh [--force] [OUTDIR]
# OUTDIR defaults to target/kumo-images under the repository root. Layout:
#   OUTDIR/vm/vmlinuz             Debian's linux-image-amd64 kernel
#   OUTDIR/vm/initramfs.img       gzip'd newc cpio: busybox, virtio modules, /init
#   OUTDIR/vm/kernel-version      the kernel release the modules belong to
#   OUTDIR/vm/disk.qcow2          ext4 root disk (256 MiB virtual) holding the same busybox
#                                 root as the initramfs: an EBS-backed launch's root volume
#   OUTDIR/container/rootfs.tar   uncompressed busybox rootfs (tar root = rootfs root)
#   OUTDIR/.debs/                 downloaded .deb files, reused while current
# Idempotent: an image is rebuilt only when its outputs are missing or older than
# this script; --force rebuilds both. The packages are fetched with `apt-get download`
# and unpacked with `dpkg-deb -x`; nothing is installed on the host.
# Needs: apt-get, dpkg-deb, cpio, gzip, tar, mkfs.ext4 (e2fsprogs), qemu-img
# (deploy/install-compute-deps.sh installs what is missing).
#
# The VM's /init prints these lines on the console (first serial port):
#   KUMO-BOOT: kernel up
#   KUMO-INSTANCE-ID: <id>         and  KUMO-USER-DATA: <first line of user data>
#   (user data whose first line starts with `#!` then runs as a script, in the background)
#   KUMO-METADATA: unavailable     (instead of the two above when the fetch fails)
#   KUMO-BOOT-COMPLETE
# Kernel command line: console=ttyS0 kumo.ip=<addr/prefix> kumo.gw=<gateway>
# (without kumo.ip, /init tries DHCP on eth0 briefly) [kumo.root=<virtio serial>].
# With kumo.root, the initramfs's /init loads ext4, finds the virtio disk whose
# /sys/block/vd*/serial is that (the EBS root volume), mounts it and switch_roots into
# it, where the same /init runs on and prints first:
#   KUMO-ROOT: /dev/<vd?> <serial> boot <n>   (n counts the boots of that root disk,
#                                              kept in /var/lib/kumo/boot-count)
#   KUMO-ROOT: failed (<why>)                 (the disk did not mount: stays on the
#                                              initramfs, nothing written persists)
# Without kumo.root it boots from the initramfs as before.
set -euo pipefail

SCRIPT="$(readlink -f "$0")"
REPO="$(dirname "$(dirname "$SCRIPT")")"

force=false
out=""
for arg in "$@"; do
    case "$arg" in
        --force) force=true ;;
        -h|--help) sed -n '2,/^set -euo/p' "$SCRIPT" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) echo "unknown option: $arg (usage: $0 [--force] [OUTDIR])" >&2; exit 2 ;;
        *) [ -z "$out" ] || { echo "only one OUTDIR, please" >&2; exit 2; }; out="$arg" ;;
    esac
done
[ -n "$out" ] || out="$REPO/target/kumo-images"
mkdir -p "$out"
OUT="$(cd "$out" && pwd)"

# mkfs.ext4 lives in /sbin, which a user's PATH may lack.
PATH="$PATH:/usr/sbin:/sbin"
for tool in apt-get apt-cache dpkg-deb cpio gzip tar find flock mkfs.ext4 qemu-img; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "$tool not found (deploy/install-compute-deps.sh installs what is missing)" >&2
        exit 1
    }
done

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

# One build at a time per output directory.
exec 9>"$OUT/.lock"
flock 9

VIRTIO_MODULES="virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_mmio virtio_blk failover net_failover virtio_net"
# Loaded only when the kernel command line names a root disk (in dependency order).
ROOT_MODULES="crc16 mbcache crc32c_generic jbd2 ext4"
ROOT_DISK_SIZE=256M

up_to_date() {
    local f
    $force && return 1
    for f in "$@"; do
        [ -f "$f" ] && [ "$f" -nt "$SCRIPT" ] || return 1
    done
}

vm_fresh=false
ct_fresh=false
up_to_date "$OUT/vm/vmlinuz" "$OUT/vm/initramfs.img" "$OUT/vm/disk.qcow2" && vm_fresh=true
up_to_date "$OUT/container/rootfs.tar" && ct_fresh=true

WORK=""
cleanup() { [ -z "$WORK" ] || rm -rf "$WORK"; }
trap cleanup EXIT

human() { numfmt --to=iec-i --suffix=B --format='%.1f' "$1" 2>/dev/null || echo "$1 bytes"; }

report() {
    local vm_state=$1 ct_state=$2 k i d
    k=$(stat -c %s "$OUT/vm/vmlinuz")
    i=$(stat -c %s "$OUT/vm/initramfs.img")
    d=$(stat -c %s "$OUT/vm/disk.qcow2")
    echo "vm image:        $OUT/vm  $(human $((k + i + d))) (vmlinuz $(human "$k"), initramfs.img $(human "$i"), disk.qcow2 $(human "$d"); kernel $(cat "$OUT/vm/kernel-version" 2>/dev/null || echo '?')) [$vm_state]"
    echo "container image: $OUT/container/rootfs.tar  $(human "$(stat -c %s "$OUT/container/rootfs.tar")") [$ct_state]"
}

if $vm_fresh && $ct_fresh; then
    report "up to date" "up to date"
    exit 0
fi

WORK="$(mktemp -d "$OUT/.work.XXXXXX")"
DEBS="$OUT/.debs"
mkdir -p "$DEBS"

# apt-get download as root runs its sandbox user _apt, which cannot write here.
APT_OPTS=(-q)
[ "$(id -u)" -eq 0 ] && APT_OPTS+=(-o APT::Sandbox::User=root)

lists_refreshed=false
refresh_lists() {
    $lists_refreshed && return 1
    echo "refreshing apt package lists" >&2
    $SUDO apt-get update -qq >&2
    lists_refreshed=true
}

# Prints the candidate version's Depends field of a package (refreshing lists once if
# apt does not know the package).
pkg_depends() {
    local deps
    until deps="$(apt-cache show --no-all-versions "$1" 2>/dev/null | sed -n 's/^Depends: //p')" && [ -n "$deps" ]; do
        refresh_lists || { echo "apt does not know package $1" >&2; return 1; }
    done
    printf '%s\n' "$deps"
}

# Downloads the candidate .deb of a package into $DEBS (unless that exact file is
# there already) and prints its path.
fetch_deb() {
    local pkg=$1 line file
    until line="$(apt-get "${APT_OPTS[@]}" download --print-uris "$pkg" 2>/dev/null | head -n1)" && [ -n "$line" ]; do
        refresh_lists || { echo "cannot locate package $pkg" >&2; return 1; }
    done
    file="$(printf '%s\n' "$line" | awk '{print $2}')"
    if [ ! -s "$DEBS/$file" ]; then
        rm -f "$DEBS/${pkg}_"*.deb
        echo "downloading $pkg" >&2
        (cd "$DEBS" && apt-get "${APT_OPTS[@]}" download "$pkg" >&2)
        [ -s "$DEBS/$file" ] || { echo "download of $pkg did not produce $file" >&2; return 1; }
    fi
    printf '%s\n' "$DEBS/$file"
}

# busybox from busybox-static, unpacked once for both images.
bb_deb="$(fetch_deb busybox-static)"
dpkg-deb -x "$bb_deb" "$WORK/busybox-pkg"
BUSYBOX="$WORK/busybox-pkg/bin/busybox"
[ -x "$BUSYBOX" ] || { echo "busybox-static has no bin/busybox" >&2; exit 1; }

# A busybox tree in $1: /bin/busybox plus a symlink to it for every applet at its
# usual place, as `busybox --install -s` makes them (including /bin/sh).
install_busybox() {
    local root=$1 applet
    mkdir -p "$root/bin" "$root/sbin" "$root/usr/bin" "$root/usr/sbin"
    cp "$BUSYBOX" "$root/bin/busybox"
    chmod 755 "$root/bin/busybox"
    "$BUSYBOX" --list-full | while read -r applet; do
        [ -e "$root/$applet" ] || [ -L "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
    done
    [ -L "$root/bin/sh" ] || [ -e "$root/bin/sh" ] || ln -s /bin/busybox "$root/bin/sh"
}

write_init() {
    cat >"$1" <<'INIT'
#!/bin/sh
# Kumo default VM image: /init (busybox sh, PID 1). Built by deploy/build-images.sh.
# shellcheck disable=SC2013  # word lists on purpose
export PATH=/sbin:/bin:/usr/sbin:/usr/bin

# On the root disk (after switch_root) the mounts came along: mount what is missing.
[ -d /proc/self ] || mount -t proc proc /proc
mounted() { grep -q "^[^ ]* $1 " /proc/mounts; }
mounted /dev || mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
mounted /sys || mount -t sysfs sysfs /sys
mkdir -p /dev/pts /dev/shm
mounted /dev/pts || mount -t devpts devpts /dev/pts 2>/dev/null
mounted /run || mount -t tmpfs tmpfs /run 2>/dev/null

kver="$(uname -r)"
load_modules() {
    for m in $(cat "$1"); do
        [ -d "/sys/module/$m" ] || insmod "/lib/modules/$kver/$m.ko" ||
            echo "kumo-init: insmod $m failed"
    done
}
load_modules /etc/kumo-modules

KIP=""
KGW=""
KROOT=""
for arg in $(cat /proc/cmdline); do
    case "$arg" in
        kumo.ip=*) KIP="${arg#kumo.ip=}" ;;
        kumo.gw=*) KGW="${arg#kumo.gw=}" ;;
        kumo.root=*) KROOT="${arg#kumo.root=}" ;;
    esac
done

# The virtio disk whose serial is $1 (vdX), waiting up to 10 s for it to show.
disk_by_serial() {
    i=0
    while [ "$i" -lt 100 ]; do
        for s in /sys/block/vd*/serial; do
            [ -e "$s" ] && [ "$(cat "$s")" = "$1" ] && { basename "$(dirname "$s")"; return 0; }
        done
        usleep 100000
        i=$((i + 1))
    done
    return 1
}

# EBS root: from the initramfs, mount the root volume and continue there.
if [ -n "$KROOT" ] && [ ! -e /etc/kumo-root-disk ]; then
    load_modules /etc/kumo-root-modules
    why=""
    if ! dev="$(disk_by_serial "$KROOT")"; then
        why="no virtio disk with serial $KROOT"
    elif ! mkdir -p /newroot || ! mount -t ext4 "/dev/$dev" /newroot; then
        why="cannot mount /dev/$dev as ext4"
    elif [ ! -x /newroot/init ] || [ ! -e /newroot/etc/kumo-root-disk ]; then
        umount /newroot
        why="/dev/$dev holds no Kumo root file system"
    fi
    if [ -z "$why" ]; then
        echo "$dev" >/run/kumo-root-dev
        for d in /dev /proc /sys /run; do
            mkdir -p "/newroot$d"
            mount --move "$d" "/newroot$d"
        done
        exec switch_root /newroot /init
    fi
    echo "KUMO-ROOT: failed ($why)"
fi
if [ -e /etc/kumo-root-disk ]; then
    # Count this root disk's boots: a file written on / that must survive restarts.
    mkdir -p /var/lib/kumo
    boots=$(($(cat /var/lib/kumo/boot-count 2>/dev/null || echo 0) + 1))
    echo "$boots" >/var/lib/kumo/boot-count
    sync
    echo "KUMO-ROOT: /dev/$(cat /run/kumo-root-dev 2>/dev/null) $KROOT boot $boots"
fi
echo "KUMO-BOOT: kernel up"

ip link set lo up
i=0
while [ ! -e /sys/class/net/eth0 ] && [ "$i" -lt 30 ]; do
    usleep 100000
    i=$((i + 1))
done
have_net=false
if [ -e /sys/class/net/eth0 ]; then
    have_net=true
    ip link set eth0 up
    if [ -n "$KIP" ]; then
        ip addr add "$KIP" dev eth0
        if [ -n "$KGW" ] && ! ip route add default via "$KGW" dev eth0 2>/dev/null; then
            # gateway outside the address's prefix: reach it on the link
            ip route add "$KGW" dev eth0
            ip route add default via "$KGW" dev eth0
        fi
    else
        udhcpc -i eth0 -f -q -n -t 3 -T 1 -s /etc/udhcpc/default.script >/dev/null 2>&1 ||
            echo "kumo-init: no DHCP lease on eth0"
        KGW="$(cat /run/kumo-gw 2>/dev/null)"
    fi
    echo "kumo-init: eth0 $(ip -4 -o addr show dev eth0 | awk '{print $4}' | head -n1) gw ${KGW:-none}"
else
    echo "kumo-init: no eth0"
fi

MD=169.254.169.254
if $have_net && [ -n "$KGW" ] && ! ip route show | grep -q -e '^default' -e "^$MD"; then
    ip route add "$MD" via "$KGW" dev eth0
fi

# IMDSv2 token: busybox wget cannot PUT, so speak HTTP through nc. Empty on failure.
imds_token() {
    resp="$(printf 'PUT /latest/api/token HTTP/1.0\r\nHost: %s\r\nX-aws-ec2-metadata-token-ttl-seconds: 21600\r\nContent-Length: 0\r\n\r\n' "$MD" |
        timeout 3 nc "$MD" 80 2>/dev/null | tr -d '\r')"
    case "$(printf '%s\n' "$resp" | head -n1)" in
        HTTP/*" 200"*) printf '%s\n' "$resp" | sed '1,/^$/d' | head -n1 ;;
    esac
}

imds_get() {
    if [ -n "$TOKEN" ]; then
        timeout 4 wget -q -O - --header "X-aws-ec2-metadata-token: $TOKEN" "http://$MD$1" 2>/dev/null
    else
        timeout 4 wget -q -O - "http://$MD$1" 2>/dev/null
    fi
}

uptime_s() { cut -d. -f1 /proc/uptime; }

IID=""
TOKEN=""
if $have_net; then
    deadline=$(($(uptime_s) + 20))
    while :; do
        TOKEN="$(imds_token)"
        IID="$(imds_get /latest/meta-data/instance-id | tr -d '\r' | head -n1)"
        [ -n "$IID" ] && break
        [ "$(uptime_s)" -lt "$deadline" ] || break
        sleep 1
    done
fi
if [ -n "$IID" ]; then
    echo "kumo-init: metadata via IMDS$([ -n "$TOKEN" ] && echo v2 || echo v1)"
    hostname "$IID" 2>/dev/null
    echo "KUMO-INSTANCE-ID: $IID"
    imds_get /latest/user-data > /run/user-data 2>/dev/null
    echo "KUMO-USER-DATA: $(tr -d '\r' < /run/user-data | head -n1)"
    # A user-data script (first line `#!`) runs once per boot, in the background, as
    # cloud-init runs one; its output goes to the console.
    if [ "$(head -c 2 /run/user-data)" = "#!" ]; then
        chmod 700 /run/user-data
        echo "kumo-init: running the user-data script"
        /run/user-data > /dev/console 2>&1 &
    fi
else
    echo "KUMO-METADATA: unavailable"
fi

echo "KUMO-BOOT-COMPLETE"

# PID 1 must not exit. SIGTERM/SIGUSR2 power off (the host normally quits QEMU itself).
trap 'poweroff -f' TERM USR2
while :; do
    sleep 3600 &
    wait $!
done
INIT
    chmod 755 "$1"
}

write_udhcpc_script() {
    cat >"$1" <<'UDHCPC'
#!/bin/sh
# udhcpc event script for Kumo's VM image: configure the interface, remember the router.
# shellcheck disable=SC2154,SC2086  # udhcpc sets the variables; $router is a list
case "$1" in
    deconfig)
        ip -4 addr flush dev "$interface"
        ip link set "$interface" up
        ;;
    bound|renew)
        ip -4 addr flush dev "$interface"
        ip addr add "$ip/${mask:-24}" dev "$interface"
        if [ -n "$router" ]; then
            set -- $router
            ip route add default via "$1" dev "$interface" 2>/dev/null
            echo "$1" >/run/kumo-gw
        elif [ -n "$serverid" ]; then
            # no router offered: the DHCP server is the best guess for the metadata host
            echo "$serverid" >/run/kumo-gw
        fi
        ;;
esac
exit 0
UDHCPC
    chmod 755 "$1"
}

# Copies kernel modules (decompressed) from the unpacked kernel package $1 (release $2)
# into the tree $3 and lists the ones to load, in order, in $3/etc/$4.
add_modules() {
    local kroot=$1 kver=$2 root=$3 list=$4 m found
    shift 4
    : >"$root/etc/$list"
    for m in "$@"; do
        found="$(find "$kroot/lib/modules/$kver/kernel" \( -name "$m.ko" -o -name "$m.ko.xz" \
            -o -name "$m.ko.zst" -o -name "$m.ko.gz" \) | head -n1)"
        case "$found" in
            "")
                if grep -q "/$m\.ko" "$kroot/lib/modules/$kver/modules.builtin" 2>/dev/null; then
                    echo "module $m is built into $kver"
                    continue
                fi
                echo "module $m not found for kernel $kver" >&2
                exit 1
                ;;
            # busybox insmod cannot be relied on to read compressed modules
            *.ko.xz) xz -dc "$found" >"$root/lib/modules/$kver/$m.ko" ;;
            *.ko.zst) zstd -qdc "$found" >"$root/lib/modules/$kver/$m.ko" ;;
            *.ko.gz) gzip -dc "$found" >"$root/lib/modules/$kver/$m.ko" ;;
            *) cp "$found" "$root/lib/modules/$kver/$m.ko" ;;
        esac
        echo "$m" >>"$root/etc/$list"
    done
}

build_vm() {
    local kpkg kdeb kroot kver root
    kpkg="$(pkg_depends linux-image-amd64 | grep -o 'linux-image-[0-9][^ ,|]*' | head -n1)"
    [ -n "$kpkg" ] || { echo "cannot tell which kernel linux-image-amd64 depends on" >&2; exit 1; }
    kdeb="$(fetch_deb "$kpkg")"
    echo "unpacking $(basename "$kdeb")"
    kroot="$WORK/kernel-pkg"
    dpkg-deb -x "$kdeb" "$kroot"
    kver="$(ls "$kroot/lib/modules")"
    if [ "$(printf '%s\n' "$kver" | wc -l)" -ne 1 ] || [ ! -f "$kroot/boot/vmlinuz-$kver" ]; then
        echo "unexpected layout in $kdeb" >&2
        exit 1
    fi

    root="$WORK/initramfs"
    mkdir -p "$root"/{dev,proc,sys,tmp,run,root,etc/udhcpc,lib/modules/"$kver"}
    chmod 1777 "$root/tmp"
    install_busybox "$root"
    add_modules "$kroot" "$kver" "$root" kumo-modules $VIRTIO_MODULES
    add_modules "$kroot" "$kver" "$root" kumo-root-modules $ROOT_MODULES
    write_init "$root/init"
    write_udhcpc_script "$root/etc/udhcpc/default.script"
    echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
    echo 'root:x:0:' >"$root/etc/group"
    # The kernel opens /dev/console before /init runs; /init mounts devtmpfs anyway.
    if [ "$(id -u)" -eq 0 ]; then
        mknod -m 600 "$root/dev/console" c 5 1
        mknod -m 666 "$root/dev/null" c 1 3
    fi

    # The root disk: the same tree (ext4 is loaded from the initramfs before it mounts).
    local disk_root="$WORK/disk-root"
    cp -a "$root" "$disk_root"
    rm -f "$disk_root/etc/kumo-root-modules"
    mkdir -p "$disk_root/var/lib/kumo"
    echo "Kumo root disk: /init knows it is running from here" >"$disk_root/etc/kumo-root-disk"

    mkdir -p "$WORK/vm"
    cp "$kroot/boot/vmlinuz-$kver" "$WORK/vm/vmlinuz"
    (cd "$root" && find . -print0 | LC_ALL=C sort -z |
        cpio --null --quiet -o -H newc -R 0:0) | gzip -9 -n >"$WORK/vm/initramfs.img"
    echo "$kver" >"$WORK/vm/kernel-version"
    # mkfs.ext4 -d fills it without mounting; inode tables and journal are zeroed now (the
    # zeros take no room in the qcow2) so the guest's kernel has no lazy init to write.
    truncate -s "$ROOT_DISK_SIZE" "$WORK/disk.raw"
    mkfs.ext4 -q -F -L kumo-root -E lazy_itable_init=0,lazy_journal_init=0,root_owner=0:0 \
        -d "$disk_root" "$WORK/disk.raw"
    qemu-img convert -q -f raw -O qcow2 "$WORK/disk.raw" "$WORK/vm/disk.qcow2"
    rm -f "$WORK/disk.raw"
    rm -rf "$OUT/vm"
    mv "$WORK/vm" "$OUT/vm"
}

build_container() {
    local root="$WORK/rootfs"
    mkdir -p "$root"/{etc,root,proc,sys,dev,tmp,var/tmp,run}
    chmod 1777 "$root/tmp" "$root/var/tmp"
    chmod 700 "$root/root"
    install_busybox "$root"
    echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
    echo 'root:x:0:' >"$root/etc/group"
    echo 'kumo' >"$root/etc/hostname"
    mkdir -p "$WORK/container"
    # Entries have no "./" prefix: the tar's root is the rootfs root.
    (cd "$root" && LC_ALL=C tar --numeric-owner --owner=0 --group=0 --sort=name \
        -cf "$WORK/container/rootfs.tar" -- *)
    rm -rf "$OUT/container"
    mv "$WORK/container" "$OUT/container"
}

vm_state="up to date"
ct_state="up to date"
if ! $vm_fresh; then
    build_vm
    vm_state="built"
fi
if ! $ct_fresh; then
    build_container
    ct_state="built"
fi
report "$vm_state" "$ct_state"
