#!/usr/bin/env bash
# Prepare a second, real kernel for the QEMU guest harness (issue 7).
#
#   test/kernels/prepare.sh            -> prints the prepared directory on stdout
#
# Resolves the version behind Debian's `linux-image-amd64` at run time, downloads
# that .deb with apt-get into the cache (reused next time), extracts the
# uncompressed vmlinux from its vmlinuz, picks the virtio/9p modules it needs
# (dependency order computed from each module's own `depends=` field), and builds
# an uncompressed initramfs of static busybox + those modules + guest-init.sh.
#
# Everything lands in ${KUBEPULSE_CACHE:-<repo>/.cache}/kernels/<release>/ and the
# script is idempotent: a finished directory (it has guest.env) is reused as is.
#
# Exit status: 0 ready (stdout: the directory), 77 skip (something this machine
# does not have: apt, the package, qemu, busybox), 1 a real failure.
# One line on stderr says which.
#
# Environment:
#   KUBEPULSE_CACHE              cache root (default <repo>/.cache)
#   KUBEPULSE_GUEST_KERNEL       which kernel line (default 6.1):
#                                  6.1   bookworm's linux-image-amd64, through the machine's own apt
#                                  5.10  bullseye's linux-image-amd64 (5.10.0-32), through a private apt
#                                  6.12  bookworm-backports' linux-image-amd64, through a private apt
#   KUBEPULSE_GUEST_KERNEL_PKG   meta package to resolve (default linux-image-amd64)
#   KUBEPULSE_DEBIAN_MIRROR      mirror for the private apt (default http://deb.debian.org/debian)
#   KUBEPULSE_GUEST_OFFLINE=1    never call apt; use the newest prepared kernel of that line in the cache
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cache="${KUBEPULSE_CACHE:-$repo/.cache}/kernels"
meta="${KUBEPULSE_GUEST_KERNEL_PKG:-linux-image-amd64}"
line="${KUBEPULSE_GUEST_KERNEL:-6.1}"
# Modules the guest init needs; their dependencies are added automatically.
wanted_modules=(virtio_pci 9pnet_virtio 9p overlay)

say() { echo "kernels/prepare: $*" >&2; }
skip() { say "SKIP: $*"; exit 77; }
die() { say "FAILED: $*"; exit 1; }

command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 not installed (apt-get install qemu-system-x86)"
busybox="$(command -v busybox || true)"
[[ -n "$busybox" ]] || skip "busybox not installed (apt-get install busybox-static)"
is_static() { # an ELF64 without a PT_INTERP program header
  local f=$1 phoff phentsize phnum i
  phoff=$(od -An -tu8 -j 32 -N8 "$f" | tr -d ' ')
  phentsize=$(od -An -tu2 -j 54 -N2 "$f" | tr -d ' ')
  phnum=$(od -An -tu2 -j 56 -N2 "$f" | tr -d ' ')
  for ((i = 0; i < phnum; i++)); do
    [[ "$(od -An -tu4 -j $((phoff + i * phentsize)) -N4 "$f" | tr -d ' ')" == 3 ]] && return 1
  done
  return 0
}
if ! is_static "$busybox"; then
  if [[ -x /bin/busybox ]] && is_static /bin/busybox; then busybox=/bin/busybox
  else skip "busybox at $busybox is not static (apt-get install busybox-static)"; fi
fi

case "$line" in
  6.1) suite="" ;;                   # the machine's own sources (bookworm)
  5.10) suite="bullseye" ;;
  6.12) suite="bookworm-backports" ;;
  *) die "KUBEPULSE_GUEST_KERNEL=$line: expected 5.10, 6.1 or 6.12" ;;
esac

mkdir -p "$cache/debs"

# A suite the machine does not use is read through a private apt configuration:
# its own sources list naming only that suite, its own lists, cache and (empty)
# dpkg status, so the machine's sources, lists and pins are left alone. The
# machine's apt.conf.d (proxies, Check-Valid-Until) still applies: APT_CONFIG
# is read after it.
if [[ -n "$suite" ]]; then
  aptdir="$cache/apt/$suite"
  mkdir -p "$aptdir/lists/partial" "$aptdir/cache/archives/partial" "$aptdir/sources.list.d" "$aptdir/preferences.d"
  chmod -R a+rwX "$aptdir/lists" # apt drops to _apt for the download
  : >>"$aptdir/status"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${KUBEPULSE_DEBIAN_MIRROR:-http://deb.debian.org/debian} $suite main" >"$aptdir/sources.list"
  cat >"$aptdir/apt.conf" <<EOF
Dir::Etc::SourceList "$aptdir/sources.list";
Dir::Etc::SourceParts "$aptdir/sources.list.d";
Dir::Etc::Preferences "/dev/null";
Dir::Etc::PreferencesParts "$aptdir/preferences.d";
Dir::State::Lists "$aptdir/lists";
Dir::State::status "$aptdir/status";
Dir::Cache "$aptdir/cache";
EOF
  export APT_CONFIG="$aptdir/apt.conf"
fi

newest_prepared() {
  # newest finished directory of this line, by modification time of its guest.env
  local f
  for f in $(ls -1t "$cache"/*/guest.env 2>/dev/null); do
    if [[ "$(. "$f" && echo "${GUEST_LINE:-6.1}")" == "$line" ]]; then dirname "$f"; return; fi
  done
}

use_prepared() {
  say "ready: $(. "$1/guest.env" && echo "$GUEST_PKG $GUEST_PKG_VERSION, kernel $GUEST_KERNEL_RELEASE") in $1"
  echo "$1"
  exit 0
}

resolve_pkg() {
  # prints "<package> <version>" of the image package behind the meta package, or
  # nothing. One apt-cache call (each costs ~0.7 s here): the candidate's Depends
  # names the image package with its exact version.
  apt-cache show --no-all-versions "$meta" 2>/dev/null |
    sed -n 's/^Depends:.*\(linux-image-[^ ,]*\) (= \([^)]*\)).*/\1 \2/p' | head -n1
}

if [[ "${KUBEPULSE_GUEST_OFFLINE:-}" == 1 ]]; then
  d="$(newest_prepared)"
  [[ -n "$d" ]] && use_prepared "$d"
  skip "KUBEPULSE_GUEST_OFFLINE=1 and no prepared kernel in $cache"
fi

command -v apt-cache >/dev/null || {
  d="$(newest_prepared)"; [[ -n "$d" ]] && use_prepared "$d"
  skip "no apt-cache on this machine and no prepared kernel in $cache"
}

# The initramfs bakes in guest-init.sh and this script's choices: a prepared
# directory is current only if it was made by the same recipe.
recipe="$(cat "$here/prepare.sh" "$here/guest-init.sh" | sha256sum | cut -c1-16)"
is_current() { # dir version
  [[ -f "$1/guest.env" ]] && (. "$1/guest.env" && [[ "$GUEST_PKG_VERSION" == "$2" && "${GUEST_RECIPE:-}" == "$recipe" ]])
}

arch="$(dpkg --print-architecture 2>/dev/null || echo amd64)"
updated=""
apt_update() { # once, as root only
  [[ -z "$updated" && $(id -u) -eq 0 ]] || return 1
  updated=1
  say "running apt-get update once ($1)${suite:+ (private configuration: $suite only)}"
  apt-get update -qq >/dev/null 2>&1 || true
}

while :; do
  read -r pkg ver <<<"$(resolve_pkg)" || true
  if [[ -z "${pkg:-}" ]]; then
    # apt lists missing: one update, then resolve again
    apt_update "cannot resolve $meta" && continue
    d="$(newest_prepared)"
    [[ -n "$d" ]] && { say "cannot resolve $meta with apt-cache; using the cached kernel"; use_prepared "$d"; }
    skip "cannot resolve $meta with apt-cache (no apt lists or no access to the mirror) and nothing cached in $cache"
  fi

  # The directory is named after the package's kernel release, which is the
  # package name without its linux-image- prefix (e.g. 6.1.0-56-amd64).
  release="${pkg#linux-image-}"; release="${release%-unsigned}"
  out="$cache/$release"
  is_current "$out" "$ver" && use_prepared "$out"

  # Serialise concurrent preparations (parallel test files), then look again.
  exec 9>"$cache/.prepare.lock"
  flock 9
  is_current "$out" "$ver" && use_prepared "$out"

  # --- download --------------------------------------------------------------
  deb="$cache/debs/${pkg}_${ver//:/%3a}_${arch}.deb"
  [[ -s "$deb" ]] && break
  say "downloading $pkg $ver"
  tmpdl="$(mktemp -d "$cache/debs/.dl.XXXXXX")"
  # apt drops privileges to _apt for the download: let it write into the temp dir
  chmod 0777 "$tmpdl"
  if (cd "$tmpdl" && apt-get download -q "$pkg=$ver" >/dev/null 2>"$tmpdl/.err"); then
    mv "$(ls "$tmpdl"/*.deb | head -n1)" "$deb"
    rm -rf "$tmpdl"
    break
  fi
  err="$(grep -v '^W:' "$tmpdl/.err" | tail -n1)"
  rm -rf "$tmpdl"
  exec 9>&-
  # stale lists name a version that has left the mirror: update once and retry
  apt_update "download of $pkg $ver failed: $err" && continue
  d="$(newest_prepared)"
  [[ -n "$d" ]] && { say "download of $pkg failed ($err); using the cached kernel"; use_prepared "$d"; }
  skip "cannot download $pkg $ver with apt-get: $err"
done

# --- extract -----------------------------------------------------------------
work="$(mktemp -d "$cache/.build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
say "extracting $(basename "$deb")"
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$work" --wildcards \
  './boot/*' "./lib/modules/$release/modules.*" "./lib/modules/$release/kernel/net/9p/*" \
  "./lib/modules/$release/kernel/fs/*" "./lib/modules/$release/kernel/drivers/virtio/*" \
  2>/dev/null || die "cannot unpack $deb"
vmlinuz="$work/boot/vmlinuz-$release"
[[ -f "$vmlinuz" ]] || die "$deb has no boot/vmlinuz-$release"

# vmlinux from the bzImage: the x86 boot header says where the compressed payload
# is (setup_sects at 0x1f1, payload_offset/payload_length at 0x248/0x24c); fall back
# to scanning for a known compression magic when the header looks wrong.
u8() { od -An -tu1 -j "$2" -N1 "$1" | tr -d ' '; }
u32() { od -An -tu4 -j "$2" -N4 "$1" | tr -d ' '; }
decompress_at() { # file offset length -> stdout
  local f=$1 off=$2 len=$3 m
  m="$(od -An -tx1 -j "$off" -N4 "$f" | tr -d ' ')"
  case "$m" in
    fd377a58) tail -c +"$((off + 1))" "$f" | head -c "$len" | xz -dc --single-stream ;;
    28b52ffd) tail -c +"$((off + 1))" "$f" | head -c "$len" | zstd -dcq ;;
    1f8b08*) tail -c +"$((off + 1))" "$f" | head -c "$len" | gzip -dc 2>/dev/null ;;
    *) return 1 ;;
  esac
}
is_elf() { [[ "$(head -c4 "$1" | od -An -tx1 | tr -d ' ')" == 7f454c46 ]]; }
vmlinux="$work/vmlinux"
setup_sects="$(u8 "$vmlinuz" $((0x1f1)))"; [[ "$setup_sects" == 0 ]] && setup_sects=4
poff="$(( (setup_sects + 1) * 512 + $(u32 "$vmlinuz" $((0x248))) ))"
plen="$(u32 "$vmlinuz" $((0x24c)))"
if ! { decompress_at "$vmlinuz" "$poff" "$plen" >"$vmlinux" 2>/dev/null || true; is_elf "$vmlinux"; }; then
  found=""
  size="$(stat -c %s "$vmlinuz")"
  for magic in '\xfd7zXZ\x00' '\x28\xb5\x2f\xfd' '\x1f\x8b\x08\x00'; do
    for off in $(LC_ALL=C grep -obUaP "$magic" "$vmlinuz" | cut -d: -f1); do
      { decompress_at "$vmlinuz" "$off" "$((size - off))" >"$vmlinux" 2>/dev/null || true; }
      if is_elf "$vmlinux"; then found=1; break 2; fi
    done
  done
  [[ -n "$found" ]] || die "could not find a compressed ELF kernel inside $vmlinuz"
fi

# --- modules, in dependency order --------------------------------------------
moddir="$work/lib/modules/$release"
# 6.12's packages compress every module (.ko.xz); busybox insmod wants plain .ko
while IFS= read -r f; do
  case "$f" in
    *.ko.xz) xz -dq "$f" ;;
    *.ko.zst) zstd -dqf --rm "$f" ;;
  esac
done < <(find "$moddir" -name '*.ko.xz' -o -name '*.ko.zst')
declare -A modpath=()
while IFS= read -r f; do
  n="$(basename "$f" .ko)"; modpath[${n//-/_}]="$f"
done < <(find "$moddir" -name '*.ko')
declare -A seen=()
order=()
visit() {
  local m=${1//-/_} deps d
  [[ -n "${seen[$m]:-}" ]] && return 0
  seen[$m]=1
  if [[ -z "${modpath[$m]:-}" ]]; then
    # built into the kernel?
    grep -qE "/$m\.ko\$|/${m//_/-}\.ko\$" "$moddir/modules.builtin" && return 0
    die "module $m not found in $pkg"
  fi
  deps="$(tr '\0' '\n' <"${modpath[$m]}" | sed -n 's/^depends=//p' | head -n1)"
  for d in ${deps//,/ }; do visit "$d"; done
  order+=("$m")
}
for m in "${wanted_modules[@]}"; do visit "$m"; done

# --- initramfs ---------------------------------------------------------------
root="$work/initramfs"
mkdir -p "$root"/{bin,dev,proc,sys,host,etc,lib/modules}
cp "$busybox" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
cp "$here/guest-init.sh" "$root/init"
chmod 0755 "$root/init"
: >"$root/etc/modules"
for m in "${order[@]}"; do
  cp "${modpath[$m]}" "$root/lib/modules/$m.ko"
  echo "$m" >>"$root/etc/modules"
done
echo "$release" >"$root/etc/guest-release"
(cd "$root" && find . | LC_ALL=C sort | "$busybox" cpio -o -H newc 2>/dev/null) >"$work/initramfs.cpio"

# --- publish atomically ------------------------------------------------------
final="$work/final"
mkdir -p "$final"
mv "$vmlinux" "$work/initramfs.cpio" "$final/"
cp "$work/boot/config-$release" "$final/config"
cp "$here/guest-init.sh" "$final/guest-init.sh"
kprobes="$(grep -q '^CONFIG_KPROBES=y' "$final/config" && echo y || echo n)"
cat >"$final/guest.env" <<EOF
GUEST_PKG=$pkg
GUEST_PKG_VERSION=$ver
GUEST_KERNEL_RELEASE=$release
GUEST_VMLINUX=$out/vmlinux
GUEST_INITRAMFS=$out/initramfs.cpio
GUEST_MODULES="${order[*]}"
GUEST_KPROBES=$kprobes
GUEST_RECIPE=$recipe
GUEST_LINE=$line
EOF
rm -rf "$out.old"
[[ -d "$out" ]] && mv "$out" "$out.old"
mv "$final" "$out"
rm -rf "$out.old"
use_prepared "$out"
