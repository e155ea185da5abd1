"""What an install of densecore carries: its metadata and its non-Python files."""
from importlib import metadata

import pytest

import densecore


def test_version_matches_the_metadata():
    assert metadata.version("densecore") == densecore.__version__


@pytest.mark.parametrize("name", [
    "densecore/py.typed",
    "densecore/__init__.pxd",
    "densecore/kernels.pxd",
    "densecore/kernels.pyi",
    "densecore/_train.pyi",
    "densecore/_core.pyi",
    "densecore/datasets/digits.npz",
])
def test_install_carries(name):
    # A consumer's Cython build needs the .pxd files, mypy the .pyi and py.typed.
    assert name in {str(path) for path in metadata.files("densecore")}
