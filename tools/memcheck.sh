#!/usr/bin/env bash
# The kernel tests under valgrind's memcheck, against the installed densecore.
#   tools/memcheck.sh [pytest arguments]     (default: tests/test_kernels.py)
# Passes when no error of any kind, invalid reads and writes included, has a
# stack that passes through densecore. What remains is listed by its top frame:
# seen here, the dynamic loader's and glibc's vectorised string reads (known
# memcheck false positives) and CPython's own uninitialised-value noise.
# PYTHONMALLOC=malloc lets memcheck see each object; Debian's python3.supp
# suppresses what is known about CPython.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
python=${PYTHON:-python3}
log=$(mktemp)
suppressions=()
[ -f /usr/lib/valgrind/python3.supp ] && suppressions=(--suppressions=/usr/lib/valgrind/python3.supp)
(cd "$(mktemp -d)" && PYTHONMALLOC=malloc valgrind --tool=memcheck --num-callers=30 \
    "${suppressions[@]}" --log-file="$log" \
    "$python" -m pytest -q -p no:cacheprovider --rootdir "$repo" -c "$repo/pyproject.toml" \
    "${@:-$repo/tests/test_kernels.py}")
grep "ERROR SUMMARY" "$log"
echo "invalid reads or writes, by top frame:"
grep -A1 -E "Invalid (read|write)" "$log" | grep -oE "at 0x[0-9A-F]+: [^ ]+ \([^)]*\)" |
    sed -E 's/at 0x[0-9A-F]+: //' | sort | uniq -c || true
ours=$(awk '/^==[0-9]+== [A-Z]/ {context = $0} /densecore/ && context {print context; context = ""}' "$log" | sort -u)
echo "error contexts through densecore: $(printf '%s' "$ours" | grep -c . || true)"
[ -z "$ours" ] || { printf '%s\n' "$ours"; echo "full log: $log"; exit 1; }
