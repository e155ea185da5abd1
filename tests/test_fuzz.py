"""The fuzz suite (fuzz_api.py), run in a child process so that a crash fails one test."""
import os
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXAMPLES = 2400  # CI's share; DENSECORE_FUZZ_EXAMPLES=50000 for a deep run


def test_fuzz_suite_passes_in_a_child_process(tmp_path):
    command = [sys.executable, "-m", "pytest", str(HERE / "fuzz_api.py"), "-q",
               "-p", "no:cacheprovider", "--hypothesis-show-statistics",
               "--rootdir", str(HERE.parent), "-c", str(HERE.parent / "pyproject.toml")]
    # From an empty folder, so that python -m puts no source tree on sys.path.
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True,
                            env={**os.environ, "DENSECORE_FUZZ_EXAMPLES": str(EXAMPLES)},
                            timeout=1200)
    assert result.returncode == 0, result.stdout[-20_000:] + result.stderr[-5_000:]
    passing = sum(int(n) for n in re.findall(r"(\d+) passing", result.stdout))
    assert passing >= 2000, result.stdout[-5_000:]
