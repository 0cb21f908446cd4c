#!/usr/bin/env bash
# Installs the Debian 12 packages needed to build kauri_quota, its CLI, its
# HTTP services, its tests and its benchmark. Safe to run again: packages already installed
# are left alone, and nothing is fetched when all of them are present.
#
# Usage: bash scripts/install-deps.sh [--with-postgres-server]
#
#   --with-postgres-server  also install the PostgreSQL server, which the
#                           PostgreSQL tests start as a throw-away cluster.
set -euo pipefail

usage() {
  sed -n '2,9s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

with_postgres_server=0
for arg in "$@"; do
  case "${arg}" in
    --with-postgres-server) with_postgres_server=1 ;;
    -h | --help)
      usage
      exit 0
      ;;
    *)
      echo "install-deps.sh: unknown argument: ${arg}" >&2
      usage >&2
      exit 2
      ;;
  esac
done

# Toolchain and build tools, then the libraries.
packages=(
  ca-certificates
  g++
  make
  cmake
  pkg-config
  libsqlitecpp-dev
  libsqlite3-dev
  libfmt-dev
  libhowardhinnant-date-dev
  libboost-dev
  doctest-dev
  nlohmann-json3-dev
  libpq-dev
  libbenchmark-dev
  tzdata
  # The HTTP host programs (examples/host_common, examples/user_service):
  # cpp-httplib 0.11 (a shared library), JSON bodies, HMAC for tokens,
  # argon2id password hashes, crypt_r for adopted bcrypt hashes.
  libcpp-httplib-dev
  libssl-dev
  libsodium-dev
  libcrypt-dev
  # Their HTTP tests: Python 3 with PyJWT (tokens minted by another
  # implementation) and bcrypt (password hashes as the original service
  # wrote them).
  python3
  python3-jwt
  python3-bcrypt
)
if [[ ${with_postgres_server} -eq 1 ]]; then
  # postgresql: initdb and pg_ctl for the throw-away test cluster, which
  # refuses to run as root: util-linux gives runuser, passwd gives useradd
  # (both essential on Debian, listed for minimal images); procps gives ps
  # and pkill for tests that look at or stop processes.
  packages+=(postgresql util-linux passwd procps)
  # clang and its runtime (sanitizers, libFuzzer) for scripts/fuzz.sh.
  packages+=(clang libclang-rt-14-dev)
  # clang-format for scripts/format.sh --check.
  packages+=(clang-format)
  # promtool (in Debian's prometheus package; the server it also installs
  # is never started by the tests) for the deploy checks, systemd for
  # systemd-analyze verify, and Locust for the load tests.
  packages+=(prometheus systemd python3-locust)
  # Headless Chromium, its driver (the same version, by dependency) and
  # Selenium for the browser tests of the pages (tests/web, tests/gate),
  # with a font so that screenshots show text.
  packages+=(chromium chromium-driver python3-selenium fonts-dejavu-core)
  # The benchmark's alternatives, measured in the same run: Redis 7 (the
  # server it starts, and hiredis for its client threads), and SQLAlchemy
  # with psycopg2 for the original Python service's flow.
  packages+=(redis-server libhiredis-dev python3-sqlalchemy python3-psycopg2)
fi

missing=()
for pkg in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Abbrev}' "${pkg}" 2>/dev/null || true)
  if [[ ${status} != ii* ]]; then
    missing+=("${pkg}")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps.sh: all ${#packages[@]} packages already installed"
  exit 0
fi

sudo=()
if [[ ${EUID} -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
  else
    echo "install-deps.sh: must run as root (or with sudo available) to install: ${missing[*]}" >&2
    exit 1
  fi
fi

trap 'echo "install-deps.sh: FAILED installing: ${missing[*]}" >&2' ERR

echo "install-deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -qq update </dev/null
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  -o Dpkg::Use-Pty=0 "${missing[@]}" </dev/null >/dev/null

trap - ERR
echo "install-deps.sh: done"
