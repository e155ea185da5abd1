"""The activations: one row each in :data:`ACTIVATIONS`, holding all that densecore knows of it.

A row names an activation, gives its code in the compiled kernels
(``densecore.kernels.Activation``) and its numpy form, which is what
``Layer.activation`` and ``Layer.activation_derivative`` show for it, so that
a layer behaves like the spec's whichever way it was made.  The numpy forms
take the spec's ``(size, B)`` columns.

Adding an activation: a value in kernels.pxd's ``Activation`` enum (and its
stub), its branches in ``_core.pyx``, a row here and its tests.
"""
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from densecore import kernels

__all__ = ["ACTIVATIONS", "Activation", "relu", "relu_derivative", "resolve"]


def relu(input):
    """The rectified linear unit, ``max(0, input)``."""
    return np.maximum(0, input)


def relu_derivative(input):
    """1 where ``input >= 0``, else 0 (the spec's convention at 0)."""
    return (input >= 0).astype(int)


def identity(input):
    return input


def identity_derivative(input):
    return np.ones_like(input)


def sigmoid(input):
    # 1 / (1 + exp(-x)) without overflow for large |x|.
    return np.exp(-np.logaddexp(0, -input))


def sigmoid_derivative(input):
    s = sigmoid(input)
    return s * (1 - s)


def tanh(input):
    return np.tanh(input)


def tanh_derivative(input):
    return 1 - np.tanh(input) ** 2


def leaky_relu(input):
    return np.where(input >= 0, input, kernels.LEAKY_SLOPE * input)


def leaky_relu_derivative(input):
    return np.where(input >= 0, 1.0, kernels.LEAKY_SLOPE)


def elu(input):
    """The exponential linear unit (alpha 1): ``input`` above 0, else ``exp(input) - 1``."""
    # expm1 keeps the digits that exp(x) - 1 cancels near 0; the minimum keeps
    # exp from overflowing on the positive side, which np.where discards.
    return np.where(input > 0, input, np.expm1(np.minimum(input, 0)))


def elu_derivative(input):
    """1 where ``input > 0``, else ``exp(input)``: 1 at 0 from either side, as in PyTorch."""
    return np.where(input > 0, 1.0, np.exp(np.minimum(input, 0)))


def softmax(input):
    """Softmax over axis 0: each column of a ``(size, B)`` batch is one sample."""
    shifted = np.exp(input - input.max(axis=0, keepdims=True))
    return shifted / shifted.sum(axis=0, keepdims=True)


def softmax_derivative(input):
    """The diagonal of softmax's Jacobian, ``s * (1 - s)``.

    Backpropagation through a named softmax layer uses the whole Jacobian; this
    elementwise form is only what a spec-style caller of the derivative sees.
    """
    s = softmax(input)
    return s * (1 - s)


def exp(input):
    """The exponential: the inverse of the log link, for counts (the poisson loss)."""
    return np.exp(input)


exp_derivative = exp


@dataclass(frozen=True)
class Activation:
    """An activation: its name and kernel code (None for a Python callable), and its
    numpy form with its derivative.

    ``forward_rows`` and ``backward_rows`` run it on row batches, ``(B, size)``:
    through the compiled kernels for a named activation, through numpy (on the
    transposed columns the callables expect) otherwise.
    """

    name: Optional[str]
    code: Optional[int]
    function: Callable
    derivative: Callable

    @property
    def compiled(self):
        return self.code is not None

    def forward_rows(self, x, W, b):
        """``(signal, out)``: ``x @ W.T + b`` and its activation, for a C-contiguous ``x``."""
        if self.compiled:
            return kernels.forward(x, W, b, self.code)
        signal = x @ W.T + b
        out = np.asarray(self.function(signal.T), dtype=signal.dtype).T
        if out.shape != signal.shape:
            raise ValueError(f"activation returned shape {out.T.shape}, "
                             f"expected {signal.T.shape}")
        return signal, np.ascontiguousarray(out)

    def backward_rows(self, delta_next, W_next, signal):
        """``(delta_next @ W_next) * activation'(signal)``, all row batches."""
        if self.compiled:
            return kernels.backward(delta_next, W_next, signal, self.code)
        return self.chain(delta_next @ W_next, signal)

    def chain(self, gradient, signal):
        """``gradient * activation'(signal)`` through the numpy derivative."""
        derivative = np.asarray(self.derivative(signal.T), dtype=signal.dtype).T
        return np.ascontiguousarray(gradient * derivative)


ACTIVATIONS = {row.name: row for row in (
    Activation("identity", kernels.Activation.IDENTITY, identity, identity_derivative),
    Activation("relu", kernels.Activation.RELU, relu, relu_derivative),
    Activation("sigmoid", kernels.Activation.SIGMOID, sigmoid, sigmoid_derivative),
    Activation("tanh", kernels.Activation.TANH, tanh, tanh_derivative),
    Activation("leaky_relu", kernels.Activation.LEAKY_RELU, leaky_relu,
               leaky_relu_derivative),
    Activation("softmax", kernels.Activation.SOFTMAX, softmax, softmax_derivative),
    Activation("elu", kernels.Activation.ELU, elu, elu_derivative),
    Activation("exp", kernels.Activation.EXP, exp, exp_derivative),
)}


def resolve(activation, activation_derivative=None):
    """The :class:`Activation` a Layer's arguments describe.

    ``None`` is relu, a string names a row of :data:`ACTIVATIONS`, and a row's
    numpy function (with its own derivative or none) counts as its name.
    Anything else must be a callable pair, run through numpy.
    """
    if activation is None:
        activation = "relu"
    for row in ACTIVATIONS.values():
        if activation is row.function and activation_derivative in (None, row.derivative):
            return row
    if isinstance(activation, str):
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)} or a callable, "
                             f"got {activation!r}")
        if activation_derivative is not None:
            raise ValueError(f"activation_derivative is only for a callable activation; "
                             f"the named activation {activation!r} has its own")
        return ACTIVATIONS[activation]
    if not callable(activation) or not callable(activation_derivative):
        raise TypeError(
            "activation must be a name or a callable given together with a callable "
            f"activation_derivative, got {activation!r} and {activation_derivative!r}"
        )
    return Activation(None, None, activation, activation_derivative)
