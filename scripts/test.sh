#!/usr/bin/env bash
# Installs the build dependencies and the PostgreSQL server, builds
# everything with the `ci` preset (build/ci, warnings as errors) and runs
# the whole test suite with CTest.
#
# Usage: bash scripts/test.sh [extra ctest arguments, e.g. -L sqlite]
#
# Environment: KAURI_QUOTA_JOBS  parallel build and test jobs (default: nproc)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-deps.sh --with-postgres-server

jobs=${KAURI_QUOTA_JOBS:-$(nproc)}
cmake --preset ci
cmake --build --preset ci -j "${jobs}"
ctest --preset ci -j "${jobs}" "$@" </dev/null

# With no ctest arguments (the whole suite): the libFuzzer targets, for a
# bounded time each, over their committed corpora.
if [[ $# -eq 0 ]]; then
  bash scripts/fuzz.sh "${KAURI_QUOTA_FUZZ_SECONDS:-60}"
fi
