"""The layout of a network's flat parameters, shared by the network and its files.

A network of ``sizes`` keeps every parameter in one 1-D array: layer 0's
weights ``(sizes[1], sizes[0])`` row by row, then its bias ``(sizes[1],)``,
then layer 1's, and so on.  Optimizer slots follow the same layout.
"""
import math

import numpy as np

from densecore._validation import real_array


def shapes(sizes):
    """``[(W shape, b shape), ...]``, one pair per layer."""
    return [((n_out, n_in), (n_out,)) for n_in, n_out in zip(sizes, sizes[1:])]


def count(sizes):
    """The number of parameters of a network of ``sizes``."""
    return sum(math.prod(shape) for pair in shapes(sizes) for shape in pair)


# Where the parameters start: a cache line, so that the first layer's weights start
# on one.  OpenBLAS's sgemv over 784x128 float32 weights ran about 0.45 us (9%)
# slower per call when they started 16 or 48 bytes past one (1 December 2026).
ALIGNMENT = 64


def empty(sizes, dtype):
    """A new 1-D array (not initialised) for the parameters of a network of ``sizes``,
    starting on an ``ALIGNMENT``-byte boundary."""
    dtype = np.dtype(dtype)
    nbytes = count(sizes) * dtype.itemsize
    raw = np.empty(nbytes + ALIGNMENT, np.uint8)
    start = -raw.ctypes.data % ALIGNMENT
    return raw[start:start + nbytes].view(dtype)


def layer_views(flat, sizes):
    """``[(W, b), ...]``: views of the 1-D ``flat`` in the layout of ``sizes``."""
    views, start = [], 0
    for pair in shapes(sizes):
        layer = []
        for shape in pair:
            stop = start + math.prod(shape)
            layer.append(flat[start:stop].reshape(shape))
            start = stop
        views.append(tuple(layer))
    return views


def flatten(arrays, dtype):
    """The 1-D array that holds ``arrays`` (W0, b0, W1, ...) one after the other."""
    return np.concatenate([np.ravel(array) for array in arrays]).astype(dtype, copy=False)


def check_parameters(parameters, sizes, dtype):
    """``parameters`` as the finite 1-D array of ``dtype`` that a network of ``sizes``
    holds; ``ValueError`` or ``TypeError`` saying what is wrong otherwise."""
    array = real_array(parameters, "parameters")
    expected = (count(sizes),)
    if array.shape != expected:
        raise ValueError(f"parameters must have shape {expected} for sizes {sizes}, got "
                         f"shape {array.shape}")
    array = array.astype(dtype, copy=False)
    if not np.isfinite(array).all():
        raise ValueError("parameters hold NaN or infinity")
    return array
