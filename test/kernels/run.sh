#!/usr/bin/env bash
# Run a command inside the guest kernel: test/kernels/run.sh --help
# (a thin wrapper that runs cli.ts with the TypeScript loader tap itself uses)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
loader="$repo/node_modules/@tapjs/typescript/dist/esm/import.mjs"
[[ -f "$loader" ]] || { echo "run.sh: $loader missing (npm ci first)" >&2; exit 125; }
export TS_NODE_TRANSPILE_ONLY=1
exec node --no-warnings --import="file://$loader" "$here/cli.ts" "$@"
