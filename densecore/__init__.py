"""densecore: fully connected neural networks whose hot loops are compiled.

Layer is the spec's layer (samples as columns); Network trains and predicts
with samples as rows.  The kernels behind both are in ``densecore.kernels``,
callable from Cython (``cimport densecore.kernels``).

The submodules in ``_SUBMODULES`` load on first access (PEP 562), so that
``densecore.datasets.load_digits()`` works after a bare ``import densecore``
while the optional ones (``sklearn``, ``dask``, ``onnx``) and their libraries
load only when used.
"""
__version__ = "0.1.0"

import importlib
from importlib.util import find_spec
from pathlib import Path

if find_spec(f"{__name__}.kernels") is None:
    raise ImportError(
        f"densecore's compiled modules are not in {Path(__file__).parent}: this is a "
        "source folder that was never built (python -m from the repository root "
        "finds it first). Install with `pip install -e .`, or run from another folder."
    )

from densecore._threads import get_num_threads, set_num_threads
from densecore.activations import relu, relu_derivative
from densecore.layer import Layer
from densecore.network import Network
from densecore.optimizers import LBFGS, SGD, Adam, AdamW

load = Network.load

# Loaded by __getattr__ on first access; the optional ones need their extras.
_SUBMODULES = ("datasets", "dask", "kernels", "onnx", "sklearn", "testing")

__all__ = ["Adam", "AdamW", "LBFGS", "Layer", "Network", "SGD", "get_include",
           "get_num_threads", "load", "relu", "relu_derivative", "set_num_threads",
           "__version__"]


def get_include() -> str:
    """Return the folder holding ``densecore/``, for a Cython include path.

    Cython finds ``densecore/kernels.pxd`` on ``sys.path`` already; this serves
    builds that cannot rely on that, as ``numpy.get_include()`` does for numpy.
    """
    return str(Path(__file__).parent.parent)


def __getattr__(name):
    # PEP 562: called only for a name the module lacks; importing the submodule
    # binds it here, so each loads once.
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted({*globals(), *_SUBMODULES})
