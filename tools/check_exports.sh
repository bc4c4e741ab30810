#!/usr/bin/env bash
# Fails if libheapscope.so exports anything but what its version script
# lists (the malloc family, operator new, hs_agent_*), or misses one of them.
# Usage: check_exports.sh LIBHEAPSCOPE_SO VERSION_SCRIPT
set -euo pipefail
so=$1 map=$2
want=$(perl -0pe 's{/\*.*?\*/}{}gs' "$map" | tr ' ;' '\n\n' | grep -E '^[A-Za-z_][A-Za-z0-9_]*$' \
       | grep -vE '^(global|local)$' | sort -u)
have=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TtWwiBDV]$/ {print $3}' | sed 's/@.*//' | sort -u)
if [ "$want" != "$have" ]; then
  echo "exports differ from $map (< wanted, > exported):" >&2
  diff <(echo "$want") <(echo "$have") >&2
  exit 1
fi
echo "exports: $(echo "$have" | wc -l) symbols, as listed"
