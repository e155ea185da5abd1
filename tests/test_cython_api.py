"""densecore's C-level API as another Cython extension sees it.

examples/cython_consumer is built in a temporary folder against the installed
densecore, as a user's extension would be, and checked against numpy.
"""
import importlib.util
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest

import densecore

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "cython_consumer"
TOLERANCE = {np.float32: 1e-5, np.float64: 1e-12}


def _has_c_compiler():
    compiler = sysconfig.get_config_var("CC")
    return bool(compiler) and shutil.which(compiler.split()[0]) is not None


@pytest.fixture(scope="module")
def twolayer(tmp_path_factory):
    pytest.importorskip("Cython")
    pytest.importorskip("setuptools")
    if not _has_c_compiler():
        pytest.skip("no C compiler")
    root = tmp_path_factory.mktemp("consumer")
    shutil.copytree(EXAMPLE, root / "source")
    # No build isolation: the build must see this densecore, not one from an index.
    build = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-build-isolation", "--no-deps",
         "--no-index", "--target", str(root / "site"), str(root / "source")],
        capture_output=True, text=True,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    path = next((root / "site").glob("twolayer" + sysconfig.get_config_var("EXT_SUFFIX")))
    spec = importlib.util.spec_from_file_location("twolayer", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_consumer_matches_numpy(twolayer, dtype):
    rng = np.random.default_rng(4)
    x, W1, b1, W2, b2 = (rng.standard_normal(shape).astype(dtype)
                         for shape in [(7, 5), (4, 5), (4,), (3, 4), (3,)])
    expected = _softmax(np.maximum(x @ W1.T + b1, 0) @ W2.T + b2)
    got = twolayer.predict(x, W1, b1, W2, b2)
    assert got.dtype == dtype
    np.testing.assert_allclose(got, expected, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype])


def test_shape_error_in_nogil_kernel_is_value_error(twolayer):
    x, W1, b1 = np.ones((2, 5)), np.ones((4, 5)), np.ones(4)
    W2, b2 = np.ones((3, 6)), np.ones(3)  # 6 inputs, but the hidden layer has 4
    with pytest.raises(ValueError, match=r"x\.shape\[1\] against W\.shape\[1\]"):
        twolayer.predict(x, W1, b1, W2, b2)


def test_get_include_holds_the_pxd_files():
    package = Path(densecore.get_include()) / "densecore"
    assert (package / "__init__.pxd").is_file()
    assert (package / "kernels.pxd").is_file()


def test_kernels_pxd_needs_nothing_but_cython():
    # A consumer compiles against kernels.pxd alone: no other package's
    # declarations and no C header may leak into it.
    text = (Path(densecore.get_include()) / "densecore" / "kernels.pxd").read_text()
    cimported = set(re.findall(r"^\s*(?:from\s+(\S+)\s+)?cimport\s+(\S+)", text, re.M))
    assert {source or module for source, module in cimported} == {"cython"}
    assert "extern" not in text
