"""densecore's submodules load on first attribute access (PEP 562), and only then."""
import json
import os
import subprocess
import sys

import pytest

import densecore

LAZY = ("datasets", "dask", "kernels", "onnx", "sklearn", "testing")
# Optional libraries that a bare import densecore must leave alone.
HEAVY = ("sklearn", "dask", "distributed", "onnx", "onnxruntime", "skl2onnx", "matplotlib",
         "torch")


def python(code):
    """What ``code`` prints as JSON, run in a fresh interpreter away from the source tree."""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, timeout=120, cwd=os.path.dirname(sys.executable))
    return json.loads(result.stdout)


def test_import_densecore_imports_no_optional_library():
    imported = python(f"import json, sys, densecore; "
                      f"print(json.dumps([name for name in {HEAVY!r} if name in sys.modules]))")
    assert imported == []


def test_a_submodule_works_after_a_bare_import():
    shape = python("import json, densecore; "
                   "print(json.dumps(densecore.datasets.load_digits()[0].shape))")
    assert shape == [1797, 64]


@pytest.mark.parametrize("name", LAZY)
def test_each_submodule_resolves_on_attribute_access(name):
    required = {"sklearn": "sklearn", "dask": "distributed", "onnx": "onnx"}.get(name)
    if required:
        pytest.importorskip(required)
    module = getattr(densecore, name)
    assert module.__name__ == f"densecore.{name}"
    assert module is sys.modules[f"densecore.{name}"]


def test_dir_lists_the_submodules_and_unknown_names_raise():
    assert set(LAZY) <= set(dir(densecore))
    assert {"Network", "Layer", "__version__"} <= set(dir(densecore))
    with pytest.raises(AttributeError, match="module 'densecore' has no attribute 'nope'"):
        densecore.nope  # noqa: B018
    assert not hasattr(densecore, "layers")
