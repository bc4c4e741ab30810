#!/usr/bin/env bash
# Installs what heapscope needs on Debian 12, from Debian's packages only.
# Usage: scripts/deps.sh [build|test|bench]   (default: test)
# Runs apt-get only when something is missing; as root, or through sudo.
set -euo pipefail

build=(build-essential cmake pkg-config libunwind-dev libdw-dev libelf-dev
       libjansson-dev libwslay-dev nettle-dev libhttp-parser-dev libiberty-dev
       libyajl-dev libprotobuf-c-dev protobuf-c-compiler zlib1g-dev)
test=(libcmocka-dev jq sqlite3 python3 clang-format nodejs chromium golang-go
      clang libclang-rt-14-dev valgrind libpython3.11-testsuite)
bench=(heaptrack libjemalloc2 google-perftools libgoogle-perftools4)

case "${1:-test}" in
  build) want=("${build[@]}") ;;
  test) want=("${build[@]}" "${test[@]}") ;;
  bench) want=("${build[@]}" "${test[@]}" "${bench[@]}") ;;
  *) echo "usage: $0 [build|test|bench]" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# Some Node.js builds (NodeSource's) carry npm inside the nodejs package.
case "${1:-test}" in
  test | bench) command -v npm >/dev/null 2>&1 || missing+=(npm) ;;
esac

if [ ${#missing[@]} -gt 0 ]; then
  echo "heapscope: installing ${missing[*]}" >&2
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The Node.js peers of the tests (chrome-remote-interface, devtools-protocol),
# exactly as the committed lock file pins them; again only when out of date.
case "${1:-test}" in
  test | bench)
    nodedir="$(dirname "$0")/../tests/node"
    if [ -f "$nodedir/package-lock.json" ] &&
      ! cmp -s "$nodedir/package-lock.json" "$nodedir/node_modules/.package-lock.json.ci" 2>/dev/null; then
      echo "heapscope: npm ci in tests/node" >&2
      (cd "$nodedir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null &&
        cp package-lock.json node_modules/.package-lock.json.ci)
    fi
    ;;
esac
