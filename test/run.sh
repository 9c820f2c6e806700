#!/usr/bin/env bash
# Runs the whole test suite (tap over test/**/*.test.ts) and ends with one
# line `N passed, N failed, N skipped` for the run. Extra arguments go to tap.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p build
npx tap --reporter=tap "$@" 2>&1 | tee build/test-output.tap
status=${PIPESTATUS[0]}
# tap ends with a comment like `# { total: 12, pass: 10, fail: 1, skip: 1 }`.
summary=$(grep -E '^# \{ total:' build/test-output.tap | tail -n 1)
count() { local n; n=$(sed -nE "s/.*[{ ,]$1: ([0-9]+).*/\1/p" <<<"$summary"); echo "${n:-0}"; }
echo "$(count pass) passed, $(count fail) failed, $(count skip) skipped"
exit "$status"
