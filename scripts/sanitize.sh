#!/usr/bin/env bash
# Builds and runs the default test suite under AddressSanitizer +
# UndefinedBehaviorSanitizer and under ThreadSanitizer, with the asan-ubsan
# and tsan presets: everything but the `stress`, `web` (browser) and `load`
# labels, which run once, in the ci preset of scripts/test.sh. The tsan
# preset also leaves out the HTTP programs' tests (`http`, `deploy`): their
# threads live in Debian's uninstrumented libcpp-httplib, which ThreadSanitizer
# cannot see into; they run under asan-ubsan.
#
# Usage: bash scripts/sanitize.sh [asan-ubsan] [tsan]   (both by default)
# Environment: KAURI_QUOTA_JOBS  parallel build and test jobs (default: nproc)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-deps.sh --with-postgres-server

jobs=${KAURI_QUOTA_JOBS:-$(nproc)}
presets=("$@")
[[ ${#presets[@]} -gt 0 ]] || presets=(asan-ubsan tsan)
for preset in "${presets[@]}"; do
  echo "== ${preset}"
  cmake --preset "${preset}"
  cmake --build --preset "${preset}" -j "${jobs}"
  ctest --preset "${preset}" -j "${jobs}" </dev/null
done
