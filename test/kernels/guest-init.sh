#!/bin/sh
# PID 1 of the QEMU guest (issue 7), run by the static busybox in the initramfs
# that test/kernels/prepare.sh builds.
#
# It loads the virtio/9p modules, mounts the host's root read-only over 9p
# (tag "hostroot"), gives it fresh proc/sys/dev, tracefs, debugfs, cgroup2, bpffs
# and tmpfs on /tmp /run /var/tmp /dev/shm, mounts the per-run host directory
# read-write at its own host path (tag "kprun", path in kp.run= on the kernel
# command line), brings lo up, then runs  /bin/sh <run dir>/<kp.cmd=, default
# cmd.sh>  with a clean environment, chrooted
# into the host root. Its exit status goes back through the isa-debug-exit port
# (0xf4: QEMU exits with (status << 1) | 1) and a console marker.
#
# With kp.overlay=1 the host root is instead the lower layer of an overlayfs
# whose upper layer is a tmpfs, so every path is writable (changes are lost).
export PATH=/bin
/bin/busybox --install -s /bin

fail() {
  echo "KP-GUEST-INIT-FAILED: $*"
  finish 125
}

finish() {
  rc=$1
  [ "$rc" -gt 127 ] 2>/dev/null && rc=127
  echo "KP-GUEST-EXIT=$1"
  # isa-debug-exit: one byte written to port 0xf4 makes QEMU exit ((rc << 1) | 1)
  printf "$(printf '\\%03o' "$rc")" | dd of=/dev/port bs=1 seek=244 count=1 2>/dev/null
  # not reached when the device is there
  poweroff -f
  sleep 5
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

run=""
repo=""
cmd=cmd.sh
overlay=""
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    kp.run=*) run="${arg#kp.run=}" ;;
    kp.repo=*) repo="${arg#kp.repo=}" ;;
    kp.cmd=*) cmd="${arg#kp.cmd=}" ;;
    kp.overlay=1) overlay=1 ;;
  esac
done
[ -n "$run" ] || fail "no kp.run= on the kernel command line"

for m in $(cat /etc/modules); do
  [ "$m" = overlay ] && [ -z "$overlay" ] && continue
  insmod "/lib/modules/$m.ko" || fail "insmod $m"
done

opts9p="trans=virtio,version=9p2000.L,msize=512000"
if [ -n "$overlay" ]; then
  mkdir -p /lower /rw
  mount -t 9p -o "$opts9p,ro,cache=loose" hostroot /lower || fail "mount hostroot"
  mount -t tmpfs -o mode=0755 tmpfs /rw
  mkdir -p /rw/upper /rw/work
  mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /host ||
    fail "mount overlay"
else
  mount -t 9p -o "$opts9p,ro,cache=loose" hostroot /host || fail "mount hostroot"
fi

H=/host
mount -t proc proc $H/proc
mount -t sysfs sysfs $H/sys
mount -t devtmpfs devtmpfs $H/dev
mkdir -p $H/dev/pts $H/dev/shm
mount -t devpts devpts $H/dev/pts
mount -t tmpfs -o mode=1777 tmpfs $H/dev/shm
mount -t tracefs tracefs $H/sys/kernel/tracing
mount -t debugfs debugfs $H/sys/kernel/debug
mount -t cgroup2 cgroup2 $H/sys/fs/cgroup
mount -t bpf bpf $H/sys/fs/bpf
# A checkout under /tmp, /var/tmp or /run (a CI clone, say) would be hidden
# by the fresh tmpfs mounted there: keep it aside and put it back after.
stashed=""
case "$repo" in
  /tmp/*|/var/tmp/*|/run/*)
    mkdir -p /stash && mount -o bind "$H$repo" /stash || fail "keep $repo"
    stashed=1 ;;
esac
for d in /tmp /var/tmp; do mount -t tmpfs -o mode=1777 tmpfs $H$d; done
mount -t tmpfs -o mode=0755 tmpfs $H/run
if [ -n "$stashed" ]; then
  mkdir -p "$H$repo" || fail "mkdir $repo"
  mount --move /stash "$H$repo" || fail "move $repo back"
fi
mkdir -p "$H$run" || fail "mkdir $run"
mount -t 9p -o "$opts9p,rw" kprun "$H$run" || fail "mount run dir $run"

ip link set lo up
hostname kp-guest

echo "KP-GUEST-READY uptime=$(cut -d' ' -f1 /proc/uptime)"
[ -f "$H$run/$cmd" ] || fail "no $run/$cmd"
env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb \
  chroot $H /bin/sh "$run/$cmd"
finish $?
