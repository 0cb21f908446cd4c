#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) in a clang build tree, build/fuzz,
# and runs each for a bounded time on its committed corpus.
#
# Usage: bash scripts/fuzz.sh [SECONDS]
#
#   SECONDS  fuzzing time per target (default 60). 0 only replays the
#            committed corpora: a quick regression check.
#
# Environment:
#   KAURI_QUOTA_JOBS          parallel build jobs (default: nproc)
#   KAURI_QUOTA_FUZZ_TARGETS  targets to run, space-separated
#                             (default: fuzz_storage_url fuzz_cli_args fuzz_json)
#
# Needs clang and its libFuzzer runtime (Debian 12: clang libclang-rt-14-dev)
# besides the library's own dependencies.
#
# A run never modifies the repository: libFuzzer reads the committed
# fuzz/corpus/<target>/ and writes the inputs it discovers to a temporary
# directory, deleted afterwards. Each target stops after SECONDS (and is
# killed if it overruns by a minute); one input may take at most 10 s and
# 2 GB. Full logs go to build/fuzz/logs/<target>.log. The script exits 1
# when any target finds a crash, a sanitizer report, a leak, a timeout or
# an out-of-memory input, which it leaves in build/fuzz/crashes/<target>/.
#
# Every crash becomes a regression test:
#   1. Reproduce it; the report names the violated property or the
#      sanitizer error, with a stack:
#        build/fuzz/fuzz/<target> build/fuzz/crashes/<target>/crash-<sha1>
#      and shrink it if it is large:
#        build/fuzz/fuzz/<target> -minimize_crash=1 -runs=100000 <file>
#   2. Add the input to fuzz/corpus/<target>/ under a name that says what
#      it exercises, e.g. regression-redact-keyword-tab-before-equals (not crash-*:
#      .gitignore ignores crash-*, leak-*, timeout-* and oom-*). Every later
#      run replays it first.
#   3. Add a doctest test to tests/unit/ (the argument parser's to
#      tests/cli/args_tests.cpp) that calls the same function on the same
#      bytes and checks the property the target checks, so that the fast
#      test suite catches a regression with any compiler.
#   4. Fix the code; the test and `bash scripts/fuzz.sh 0` then pass.
#
# To find every distinct crash rather than stop at the first one:
#   build/fuzz/fuzz/<target> -fork=1 -ignore_crashes=1 -max_total_time=300 \
#     -artifact_prefix=<directory>/ <empty directory> fuzz/corpus/<target>
# To grow a committed corpus with what a long run discovered, keeping only
# inputs that add coverage:
#   build/fuzz/fuzz/<target> -merge=1 fuzz/corpus/<target> <directory of new inputs>
set -euo pipefail

usage() {
  sed -n '2,16s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds=60
if [[ $# -gt 1 ]]; then
  usage >&2
  exit 2
fi
if [[ $# -eq 1 ]]; then
  case "$1" in
    -h | --help)
      usage
      exit 0
      ;;
  esac
  if [[ ! $1 =~ ^[0-9]+$ ]]; then
    echo "fuzz.sh: SECONDS must be a whole number, got: $1" >&2
    usage >&2
    exit 2
  fi
  seconds=$((10#$1))
fi

bash scripts/install-deps.sh

if ! command -v clang++ >/dev/null 2>&1; then
  echo "fuzz.sh: clang++ not found (Debian 12: apt-get install clang libclang-rt-14-dev)" >&2
  exit 1
fi

jobs=${KAURI_QUOTA_JOBS:-$(nproc)}
read -r -a targets <<<"${KAURI_QUOTA_FUZZ_TARGETS:-fuzz_storage_url fuzz_cli_args fuzz_json}"
build=build/fuzz

# The CLI's argument parser lives with the examples; the PostgreSQL backend
# is on so that the library is the one users get and libpq can serve as the
# fuzz_storage_url oracle. Line tables are enough for a crash's stack and
# take a third less time to build than full debug information.
cmake -S . -B "${build}" \
  -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -gline-tables-only -DNDEBUG" \
  -DKAURI_QUOTA_BUILD_FUZZERS=ON \
  -DKAURI_QUOTA_BUILD_TESTS=OFF \
  -DKAURI_QUOTA_BUILD_BENCH=OFF \
  -DKAURI_QUOTA_BUILD_EXAMPLES=ON \
  -DKAURI_QUOTA_WITH_POSTGRES=ON \
  -DKAURI_QUOTA_WARNINGS_AS_ERRORS=OFF >/dev/null
cmake --build "${build}" -j "${jobs}" --target "${targets[@]}"

rm -rf "${build}/crashes"
mkdir -p "${build}/logs"
work=$(mktemp -d "${build}/corpus-run.XXXXXX")
trap 'rm -rf "${work}"' EXIT

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=()
summary=()
for target in "${targets[@]}"; do
  corpus=fuzz/corpus/${target}
  if [[ ! -d ${corpus} ]]; then
    echo "fuzz.sh: no corpus directory ${corpus}" >&2
    exit 1
  fi
  crashes=${build}/crashes/${target}
  log=${build}/logs/${target}.log
  mkdir -p "${crashes}" "${work}/${target}"

  flags=(-rss_limit_mb=2048 -timeout=10 -max_len=4096 -print_final_stats=1 "-artifact_prefix=${crashes}/")
  if [[ ${seconds} -eq 0 ]]; then
    flags+=(-runs=0)
    echo "fuzz.sh: ${target}: replaying ${corpus}"
  else
    flags+=("-max_total_time=${seconds}")
    echo "fuzz.sh: ${target}: fuzzing for ${seconds} s"
  fi

  status=0
  timeout --kill-after=30 "$((seconds + 60))" \
    "${build}/fuzz/${target}" "${flags[@]}" "${work}/${target}" "${corpus}" </dev/null >"${log}" 2>&1 || status=$?

  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "${log}" | tail -n 1)
  coverage=$(grep -E '^#[0-9]+' "${log}" | tail -n 1 | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[^ ]+' || true)
  if [[ ${status} -eq 0 ]]; then
    summary+=("${target}: ok, ${runs:-?} executions, ${coverage:-no coverage line}")
  else
    failed+=("${target}")
    summary+=("${target}: FAILED (exit ${status}), ${runs:-?} executions; see ${log}")
    # The report: from the violated property or sanitizer error onwards.
    first=$(grep -n -m 1 -E '^\*\*\* property violated|ERROR: |runtime error:' "${log}" | cut -d: -f1 || true)
    echo "fuzz.sh: ${target} failed; from ${log}:" >&2
    tail -n "+${first:-1}" "${log}" | head -n 80 >&2
  fi
done

echo
echo "fuzz.sh: results (${seconds} s per target):"
printf '  %s\n' "${summary[@]}"

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz.sh: FAILED: ${failed[*]}; inputs kept in ${build}/crashes/:" >&2
  find "${build}/crashes" -type f -printf '  %p\n' >&2
  exit 1
fi
