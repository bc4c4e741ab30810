#!/usr/bin/env bash
# Fails if a C/C++ source differs from what clang-format (.clang-format at
# the top) would write. Fix with: clang-format -i $(git ls-files '*.c' '*.h' '*.cpp')
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.c' '*.h' '*.cpp' 2>/dev/null ||
                     find include src tests examples bench -name '*.[ch]' -o -name '*.cpp')
[ ${#files[@]} -gt 0 ] || { echo "no sources found" >&2; exit 2; }
clang-format --dry-run --Werror "${files[@]}"
echo "format: ${#files[@]} files as clang-format writes them"
