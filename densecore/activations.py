"""Activation functions by name, their kernel codes, and the spec's numpy twins.

A named activation runs in the compiled kernels; the numpy functions here are
what ``Layer.activation`` and ``Layer.activation_derivative`` show for it, so a
layer behaves like the spec's whichever way it was made.
"""
import numpy as np

from densecore.kernels import Activation

LEAKY_SLOPE = 0.01


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
    return np.where(input >= 0, input, LEAKY_SLOPE * input)


def leaky_relu_derivative(input):
    return np.where(input >= 0, 1.0, LEAKY_SLOPE)


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


ACTIVATIONS = {
    "identity": (identity, identity_derivative),
    "relu": (relu, relu_derivative),
    "sigmoid": (sigmoid, sigmoid_derivative),
    "tanh": (tanh, tanh_derivative),
    "leaky_relu": (leaky_relu, leaky_relu_derivative),
    "softmax": (softmax, softmax_derivative),
}


def code(name):
    """The kernel code of a named activation."""
    return int(Activation[name.upper()])


def resolve(activation, activation_derivative):
    """Return ``(name or None, activation, derivative)`` for a Layer's arguments.

    ``None`` is relu, a string names a compiled activation, and one of this
    module's functions (with its own derivative or none) counts as its name.
    Anything else must be a callable pair, run through numpy.
    """
    if activation is None:
        activation = "relu"
    for name, (function, derivative) in ACTIVATIONS.items():
        if activation is function and activation_derivative in (None, derivative):
            activation, activation_derivative = name, None
    if isinstance(activation, str):
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(ACTIVATIONS)} or a callable, "
                f"got {activation!r}"
            )
        if activation_derivative is not None:
            raise ValueError(
                f"activation_derivative is only for a callable activation; "
                f"the named activation {activation!r} has its own"
            )
        return (activation, *ACTIVATIONS[activation])
    if not callable(activation) or not callable(activation_derivative):
        raise TypeError(
            "activation must be a name or a callable given together with a callable "
            f"activation_derivative, got {activation!r} and {activation_derivative!r}"
        )
    return None, activation, activation_derivative
