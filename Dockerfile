# syntax=docker/dockerfile:1
# KubePulse image: build with the repository's Makefile (the same targets as
# `make build`), then keep only what the daemon runs: node, dist/, the
# production node_modules, the native addon and the BPF objects.
#
#   make image                      # docker or podman, whichever works
#   docker build -t ghcr.io/kubepulse/kubepulse:0.1.0 .
#
# The base images are build arguments, so that a machine that cannot pull
# the official ones can build on stand-ins of the same layout (README,
# "The image"); the defaults are the official node images.
#
# The BPF objects are CO-RE: vmlinux.h is dumped from the build machine's
# /sys/kernel/btf/vmlinux and the programs relocate against each node's own
# BTF at load time, so one image runs on every kernel with BTF.

ARG NODE_VERSION=20
ARG BUILD_IMAGE=node:${NODE_VERSION}-bookworm
ARG RUNTIME_IMAGE=node:${NODE_VERSION}-bookworm-slim

FROM ${BUILD_IMAGE} AS build
# The Makefile's build packages (BUILD_PACKAGES), installed up front so this
# layer is cached; `make` then finds nothing missing.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      clang llvm libbpf-dev libelf-dev zlib1g-dev bpftool make g++ python3 \
 && rm -rf /var/lib/apt/lists/*
# node-gyp builds against the headers beside node (the node images' prefix,
# /usr/local) rather than downloading them: the build needs no network but
# apt's and npm's, and compiles against exactly the node it ships.
ENV npm_config_nodedir=/usr/local
WORKDIR /src
COPY package.json package-lock.json ./
# Behind a TLS-intercepting proxy the registry's certificate is signed by the
# proxy's CA: `make image` hands the one in NODE_EXTRA_CA_CERTS over as the
# build secret ca-certificates (never stored in a layer); without it, npm
# uses node's own CAs.
RUN --mount=type=secret,id=ca-certificates \
    if [ -s /run/secrets/ca-certificates ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/ca-certificates; fi \
 && npm ci --no-audit --no-fund
COPY . .
# `make daemon` is `make build` less the PrometheusRule manifest, whose
# inputs (rules/, deployments/) are not in the build context. PACKAGES is
# narrowed to the build packages: the test packages (qemu, prometheus, ...)
# have no place in an image build. Then what is never read at run time goes:
# dev dependencies, type declarations, source maps and docs (a third of the
# production node_modules, most of it @kubernetes/client-node's), symbol
# tables. /src/node is the node the addon was built against, stripped
# (-11 MB); it replaces the runtime base's. `-o` keeps make from running
# npm ci again: COPY gives package.json its checkout's time, which can be
# newer than the cached npm ci layer made from the same contents.
RUN make -o node_modules/.package-lock.json daemon 'PACKAGES=$(BUILD_PACKAGES)' \
 && npm prune --omit=dev --no-audit --no-fund \
 && find node_modules dist -type f \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.map' -o -name '*.md' \) -delete \
 && strip --strip-unneeded build/Release/kubepulse.node \
 && strip --strip-all -o /src/node "$(command -v node)"

# The runtime's root file system, assembled here and copied whole into the
# final stage below, so that what is removed from the base image (npm,
# corepack, yarn, node's C headers: half of the node image) is really gone
# rather than hidden under a later layer.
FROM ${RUNTIME_IMAGE} AS runtime
# The addon links libbpf and zlib statically and libelf dynamically.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libelf1 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/* \
 && rm -rf /usr/local/include /usr/local/lib/node_modules /usr/local/share/doc /usr/local/share/man \
      /usr/local/share/systemtap /opt/yarn-* /usr/local/bin/* /root/.npm /tmp/*
COPY --from=build /src/node /usr/local/bin/node
WORKDIR /opt/kubepulse
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/build/Release/kubepulse.node ./build/Release/kubepulse.node
COPY --from=build /src/build/bpf/ ./build/bpf/

FROM scratch
COPY --from=runtime / /
WORKDIR /opt/kubepulse
# V8's young generation with 2 MiB semi-spaces instead of 16: RSS at 10k
# conn/s 92 instead of 104 MiB, watching a 12.5k-object cluster 123 instead
# of 152 MiB (bench/kube.mjs, README); the flag only exists on the command
# line, so it goes through NODE_OPTIONS.
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    NODE_ENV=production \
    NODE_OPTIONS=--max-semi-space-size=2 \
    KUBEPULSE_BPF_OBJECT_DIR=/opt/kubepulse/build/bpf
# Root on purpose: Kubernetes gives the capabilities the DaemonSet adds
# (BPF, PERFMON, NET_ADMIN) only to uid 0; the DaemonSet drops every other
# capability and mounts the root filesystem read-only.
USER 0
EXPOSE 9090
ENTRYPOINT ["node", "/opt/kubepulse/dist/cmd/kubepulse.js"]
CMD ["run"]
