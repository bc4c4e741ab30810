#!/usr/bin/env bash
# The allocation-free zone: objects whose code runs inside the program's
# malloc calls must not call stdio, the libc allocator or formatting
# functions. Checks the undefined symbols of those object files.
# Usage: check_banned.sh OBJECT...
set -euo pipefail
banned='^(malloc|calloc|realloc|free|strdup|strndup|printf|fprintf|dprintf|sprintf|snprintf|vsnprintf|fopen|fwrite|fputs|puts|getenv|setenv|qsort|localtime|strftime)$'
bad=0
[ $# -gt 0 ] || { echo "no objects given" >&2; exit 2; }
for o in "$@"; do
  syms=$(nm -u "$o") || { echo "cannot read $o" >&2; exit 2; }
  hits=$(awk '{print $2}' <<<"$syms" | sed 's/@.*//' | grep -E "$banned" || true)
  if [ -n "$hits" ]; then
    echo "$(basename "$o") calls banned functions: $(echo $hits)" >&2
    bad=1
  fi
done
[ $bad -eq 0 ] && echo "allocation-free zone: $# objects clean"
exit $bad
