#!/usr/bin/env bash
# Builds and runs the default test suite under AddressSanitizer +
# UndefinedBehaviorSanitizer and under ThreadSanitizer, with the asan-ubsan
# and tsan presets: everything but the `stress`, `web` (browser) and `load`
# labels, which run once, in the ci preset of scripts/test.sh. The asan-ubsan
# preset leaves out the command line's tests (`cli`): each starts the
# program anew, which AddressSanitizer makes slow, and its argument parser
# runs under AddressSanitizer in the fuzz_cli_args fuzzer. The tsan preset
# also leaves out the HTTP programs' tests (`http`, `deploy`): their
# threads live in Debian's uninstrumented libcpp-httplib, which ThreadSanitizer
# cannot see into; they run under asan-ubsan. It leaves out the I/O fault
# sweeps (`fault`) too: they exercise error paths one thread at a time (the
# threads of group commit are covered by the `batch:` conformance cases),
# and they run under asan-ubsan.
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
