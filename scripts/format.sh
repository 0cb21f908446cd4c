#!/usr/bin/env bash
# Formats the tracked C++ sources with the repository's .clang-format
# (clang-format 14, Debian's `clang-format` package).
#
# Usage: bash scripts/format.sh [--check]
#
#   --check  change nothing; list the files that differ and exit 1 if any do.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

check=0
for arg in "$@"; do
  case "${arg}" in
    --check) check=1 ;;
    -h | --help)
      sed -n '2,7s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
      exit 0
      ;;
    *)
      echo "format.sh: unknown argument: ${arg}" >&2
      exit 2
      ;;
  esac
done

formatter=""
for candidate in clang-format-14 clang-format; do
  if command -v "${candidate}" >/dev/null 2>&1; then
    formatter=${candidate}
    break
  fi
done
if [[ -z ${formatter} ]]; then
  echo "format.sh: clang-format not found (apt-get install clang-format)" >&2
  exit 1
fi

mapfile -t files < <(git ls-files -- '*.cpp' '*.hpp' '*.h' '*.cc' | grep -v '^fuzz/corpus/')
if [[ ${#files[@]} -eq 0 ]]; then
  echo "format.sh: no C++ files found" >&2
  exit 1
fi

if [[ ${check} -eq 0 ]]; then
  "${formatter}" -i --style=file "${files[@]}"
  exit 0
fi

differ=()
for f in "${files[@]}"; do
  if ! "${formatter}" --style=file --dry-run -Werror "${f}" >/dev/null 2>&1; then
    differ+=("${f}")
  fi
done
if [[ ${#differ[@]} -gt 0 ]]; then
  echo "format.sh: ${#differ[@]} of ${#files[@]} files differ from .clang-format (run bash scripts/format.sh):" >&2
  printf '  %s\n' "${differ[@]}" >&2
  exit 1
fi
echo "format.sh: ${#files[@]} files formatted as .clang-format asks"
