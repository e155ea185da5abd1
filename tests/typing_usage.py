"""Typed use of densecore's compiled kernels: ``mypy --strict`` must pass on it.

Not a test module (pytest does not collect it); test_typing.py runs mypy on it.
"""
import numpy as np
from numpy.typing import NDArray

import densecore
from densecore.kernels import Activation, Loss, backward, forward, gradients, loss


def train_step(x: NDArray[np.float32], W: NDArray[np.float32], b: NDArray[np.float32],
               target: NDArray[np.float32], learning_rate: float) -> float:
    """One SGD step of a single softmax layer, in place; returns the summed loss."""
    signal, out = forward(x, W, b, Activation.SOFTMAX)
    total, delta = loss(Loss.CROSS_ENTROPY, Activation.SOFTMAX, signal, out, target)
    grad_W, grad_b = gradients(x, delta)
    W -= learning_rate * grad_W
    b -= learning_rate * grad_b
    return total


def hidden_delta(delta_next: NDArray[np.float64], W_next: NDArray[np.float64],
                 signal: NDArray[np.float64]) -> NDArray[np.float64]:
    return backward(delta_next, W_next, signal, Activation.RELU)


include: str = densecore.get_include()
version: str = densecore.__version__
