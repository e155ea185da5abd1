#!/usr/bin/env bash
# CI's two builds of densecore besides the everyday one, each in a fresh venv:
#   sdist  build the sdist, check it against git (check-sdist), compile a wheel
#          from it as pip would for a user (isolated build from [build-system]
#          requires), check both (twine, check-wheel-contents), install that
#          wheel and run the test suite the sdist carries;
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

echo "== sdist: build, check, compile, test"
fresh_venv sdist
env=$work/sdist
# Making an sdist compiles nothing: it needs no isolated build env of its own.
"$env/bin/pip" install -q build check-sdist check-wheel-contents twine "${build_requires[@]}"
"$env/bin/python" -m build --sdist --no-isolation --outdir "$work/dist" "$repo"
sdist=$(echo "$work"/dist/densecore-*.tar.gz)
# Against git: this also fails on any generated .c that slipped in.
"$env/bin/check-sdist" --no-isolation --source-dir "$repo"
tar -xzf "$sdist" -C "$work" && mv "$work"/densecore-*/ "$work/src"
"$env/bin/pip" wheel -q --no-deps --no-cache-dir --wheel-dir "$work/dist" "$sdist"
wheel=$(echo "$work"/dist/densecore-*.whl)
"$env/bin/twine" check --strict "$sdist" "$wheel"
"$env/bin/check-wheel-contents" "$wheel"
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
