#!/usr/bin/env bash
# Installs the build dependencies, builds the kauri-quota CLI with the
# `release` preset (build/release) and runs its guided demo, which works on
# a fresh temporary SQLite database.
#
# Usage: bash scripts/demo.sh
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-deps.sh

jobs=${KAURI_QUOTA_JOBS:-$(nproc)}
cmake --preset release
cmake --build --preset release --target kauri-quota -j "${jobs}"

cli=build/release/examples/cli/kauri-quota
if [[ ! -x ${cli} ]]; then
  cli=$(find build/release -type f -name kauri-quota -perm -u+x -print -quit)
fi
if [[ -z ${cli} || ! -x ${cli} ]]; then
  echo "demo.sh: the kauri-quota executable was not found under build/release" >&2
  exit 1
fi
echo
exec "${cli}" demo
