"""The .pyi stubs: they match the compiled modules, and typed code checks against them.

Both run mypy, against the installed densecore, from a temporary folder so
that the source tree is not on mypy's search path.
"""
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mypy")

HERE = Path(__file__).resolve().parent
COMPILED = ["densecore.kernels", "densecore._train", "densecore._core"]


def _run(tmp_path, *args):
    result = subprocess.run([sys.executable, "-m", *args], cwd=tmp_path,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_typed_usage_passes_mypy_strict(tmp_path):
    _run(tmp_path, "mypy", "--strict", "--cache-dir", str(tmp_path / "cache"),
         str(HERE / "typing_usage.py"))


def test_stubs_match_the_compiled_modules(tmp_path):
    _run(tmp_path, "mypy.stubtest", "--concise", "--allowlist", str(HERE / "data" / "stubtest_allowlist.txt"), *COMPILED)
