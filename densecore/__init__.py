"""densecore: fully connected neural networks whose hot loops are compiled.

Layer is the spec's layer (samples as columns); Network trains and predicts
with samples as rows.  The kernels behind both are in ``densecore.kernels``,
callable from Cython (``cimport densecore.kernels``).
"""
__version__ = "0.1.0"

from densecore.activations import relu, relu_derivative
from densecore.layer import Layer
from densecore.network import Network

__all__ = ["Layer", "Network", "relu", "relu_derivative", "__version__"]
