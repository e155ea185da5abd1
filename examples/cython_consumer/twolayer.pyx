"""A two-layer forward pass on densecore's C-level API, run without the GIL."""
from cython cimport floating
from densecore.kernels cimport RELU, SOFTMAX, dense_forward

import numpy as np


def predict(const floating[:, ::1] x, const floating[:, ::1] W1, const floating[::1] b1,
            const floating[:, ::1] W2, const floating[::1] b2):
    """Return ``softmax(relu(x @ W1.T + b1) @ W2.T + b2)`` for float32 or float64 rows."""
    dtype = np.float32 if floating is float else np.float64
    hidden = np.empty((x.shape[0], W1.shape[0]), dtype)
    probabilities = np.empty((x.shape[0], W2.shape[0]), dtype)
    cdef floating[:, ::1] h = hidden, p = probabilities
    with nogil:
        # Each layer's output overwrites its signal: only the activation is kept.
        # A shape mismatch raises ValueError here, through the nogil block.
        dense_forward(x, W1, b1, h, h, RELU)
        dense_forward(h, W2, b2, p, p, SOFTMAX)
    return probabilities
