#!/usr/bin/env bash
# Installs what heapscope needs on Debian 12, from Debian's packages only.
# Usage: scripts/deps.sh [build|test|bench]   (default: test)
# Runs apt-get only when something is missing; as root, or through sudo.
set -euo pipefail

build=(build-essential cmake pkg-config libunwind-dev libdw-dev libelf-dev)
test=(libcmocka-dev jq sqlite3 python3 clang-format)
bench=(heaptrack libjemalloc2 google-perftools libgoogle-perftools4 valgrind)

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
[ ${#missing[@]} -eq 0 ] && exit 0

echo "heapscope: installing ${missing[*]}" >&2
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
