"""The spec's fully connected layer, with its kernels compiled."""
import weakref

import numpy as np

from densecore import _layout, _serialization, activations, losses
from densecore._validation import (as_matrix, dropout_rate, float_dtype, positive_int,
                                   real_array)

INITIALIZERS = ("seed", "he", "glorot")


def initial_parameters(init, output_size, input_size, rng):
    """Weights ``(output_size, input_size)`` and bias ``(output_size, 1)`` in float64.

    ``"seed"`` draws both uniformly from [0, 0.1) exactly as the spec does;
    ``"he"`` (normal, variance 2 / fan-in), ``"glorot"`` (uniform, variance
    2 / (fan-in + fan-out)) and a callable ``init(shape, rng) -> weights``
    start the bias at zero.  ``rng=None`` draws from numpy's global random
    state, as the spec's ``np.random.rand`` does (a callable then gets the
    ``numpy.random`` module, else a Generator).
    """
    source = np.random if rng is None else np.random.default_rng(rng)
    if callable(init):
        weights = np.asarray(init((output_size, input_size), source))
        if weights.shape != (output_size, input_size) or weights.dtype.kind not in "biuf":
            raise ValueError(f"init must return real numbers of shape "
                             f"{(output_size, input_size)}, got {weights.dtype} {weights.shape}")
        return weights, np.zeros((output_size, 1))
    if init == "seed":
        weights = source.random((output_size, input_size)) * 0.1
        return weights, source.random((output_size, 1)) * 0.1
    if init == "he":
        weights = source.standard_normal((output_size, input_size))
        weights *= np.sqrt(2.0 / input_size)
    elif init == "glorot":
        limit = np.sqrt(6.0 / (input_size + output_size))
        weights = limit * (2 * source.random((output_size, input_size)) - 1)
    else:
        raise ValueError(f"init must be one of {INITIALIZERS}, got {init!r}")
    return weights, np.zeros((output_size, 1))


class Layer:
    """A fully connected layer: ``X = activation(weights @ input + bias)``.

    Parameters
    ----------
    output_size, input_size : int
        Units of this layer and of its input.
    activation : str or callable, default None (relu)
        A name of ``densecore.activations.ACTIVATIONS`` (``"relu"``,
        ``"identity"``, ``"sigmoid"``, ``"tanh"``, ``"leaky_relu"``,
        ``"softmax"``, ``"elu"``, ``"exp"``) runs in the compiled kernels.  A callable, given
        together with ``activation_derivative``, runs through numpy and sees
        the spec's ``(output_size, B)`` columns.
    activation_derivative : callable, optional
        The derivative of a callable ``activation``.
    dtype : float32 or float64, default float64
    init : {"seed", "he", "glorot"} or callable, default "seed"
        ``"seed"`` is the spec's uniform [0, 0.1) for weights and bias; a
        callable ``init((output_size, input_size), rng)`` returns the weights.
    rng : None, int or numpy.random.Generator
        ``None`` uses numpy's global random state, like the spec.
    dropout : float in [0, 1), default 0.0
        While a :class:`~densecore.Network` trains by mini-batches, each of
        this layer's outputs is zeroed with this probability and the others
        are scaled by ``1 / (1 - dropout)`` (inverted dropout); ``forward``,
        prediction and evaluation never drop.  The output layer of a network
        must keep 0.

    Notes
    -----
    A layer handed to a :class:`~densecore.Network` keeps its parameters in
    the network's one flat buffer from then on: ``weights`` and ``bias`` are
    writable views into it, which the network trains and reads.  Arrays taken
    from ``layer.weights`` or ``layer.bias`` before that are the old storage and
    no longer change with the layer.  A layer belongs to one network at a time.

    Attributes
    ----------
    weights : ndarray (output_size, input_size)
    bias : ndarray (output_size, 1)
    signal, X : ndarray (output_size, B)
        Set by ``forward``: the values before and after the activation.
    delta : ndarray (output_size, B)
        Set by ``backward`` (or by the caller, for the last layer).
    """

    def __init__(self, output_size, input_size, activation=None,
                 activation_derivative=None, *, dtype=np.float64, init="seed", rng=None,
                 dropout=0.0):
        self.output_size = positive_int(output_size, "output_size")
        self.input_size = positive_int(input_size, "input_size")
        self.dtype = float_dtype(dtype)
        self.dropout = dropout
        self._activation = activations.resolve(activation, activation_derivative)
        weights, bias = initial_parameters(init, self.output_size, self.input_size, rng)
        self._weights = np.ascontiguousarray(weights, dtype=self.dtype)
        self._bias = np.ascontiguousarray(bias, dtype=self.dtype)
        self._owner = None  # a weak reference to the network whose buffer holds them
        self.signal = self.X = self.delta = None

    def __repr__(self):
        activation = self.activation_name or getattr(self.activation, "__name__", "callable")
        dropout = f", dropout={self.dropout}" if self.dropout else ""
        return (f"Layer(output_size={self.output_size}, input_size={self.input_size}, "
                f"activation={activation!r}, dtype={self.dtype.name}{dropout})")

    def __reduce__(self):
        # A pickle carries the bytes of a one-layer network's file and no other state.
        state = {"sizes": [self.input_size, self.output_size],
                 "activations": [self.activation_name],
                 "loss": losses.default(self.activation_name), "dtype": self.dtype.name,
                 "parameters": _layout.flatten([self._weights, self._bias], self.dtype),
                 "optimizer": None, "dropout": [self.dropout]}
        return _layer_from_bytes, (_serialization.to_bytes(state),)

    def use_storage(self, weights, bias, owner):
        """Keep the parameters in ``weights`` ``(output_size, input_size)`` and ``bias``
        ``(output_size, 1)`` from now on, after copying them there.

        This is how a :class:`~densecore.Network` (the ``owner``) gathers its
        layers' parameters into one buffer.  ``ValueError`` if another network
        that is still alive holds this layer.
        """
        current = self._owner() if self._owner is not None else None
        if current is not None and current is not owner:
            raise ValueError("this layer already belongs to another Network; give the new "
                             "network a copy (copy.deepcopy(layer))")
        weights[...] = self._weights
        bias[...] = self._bias
        self._weights, self._bias = weights, bias
        self._owner = weakref.ref(owner)

    @property
    def dropout(self):
        """The probability of zeroing each output in training, in [0, 1)."""
        return self._dropout

    @dropout.setter
    def dropout(self, value):
        self._dropout = dropout_rate(value)

    @property
    def activation_name(self):
        """The activation's name if it runs compiled, else None."""
        return self._activation.name

    @property
    def activation(self):
        return self._activation.function

    @property
    def activation_derivative(self):
        return self._activation.derivative

    @property
    def weights(self):
        return self._weights

    @weights.setter
    def weights(self, value):
        self._weights[...] = self._parameter(value, self._weights.shape, "weights")

    @property
    def bias(self):
        return self._bias

    @bias.setter
    def bias(self, value):
        self._bias[...] = self._parameter(value, self._bias.shape, "bias")

    @staticmethod
    def _parameter(value, shape, name):
        array = real_array(value, name)
        if array.shape != shape:
            raise ValueError(f"{name} must have shape {shape}, got shape {array.shape}")
        return array

    def forward(self, input):
        """Compute ``X`` for ``input`` of shape ``(input_size, B)``; store and return it."""
        rows = as_matrix(input, "input", self.dtype, self.input_size, columns_first=True)
        signal, out = self._forward_rows(rows)
        self.signal, self.X = signal.T, out.T
        return self.X

    def backward(self, next_layer):
        """Compute ``delta`` from the layer after this one; store and return it.

        ``delta = (next_layer.weights.T @ next_layer.delta) * activation'(signal)``;
        for a named softmax the product is with its whole Jacobian.
        """
        if next_layer.input_size != self.output_size:
            raise ValueError(f"next_layer takes {next_layer.input_size} inputs, "
                             f"this layer has {self.output_size} outputs")
        if self.signal is None or next_layer.delta is None:
            raise ValueError("backward needs forward to have run on this layer and "
                             "next_layer.delta to be set")
        batch = self.signal.shape[1]
        delta_next = as_matrix(next_layer.delta, "next_layer.delta", self.dtype,
                               next_layer.output_size, columns_first=True)
        if len(delta_next) != batch:
            raise ValueError(f"next_layer.delta must hold {batch} samples, as this layer's "
                             f"signal does, got {len(delta_next)}")
        W_next = np.ascontiguousarray(next_layer.weights, dtype=self.dtype)
        signal = np.ascontiguousarray(self.signal.T, dtype=self.dtype)
        self.delta = self._backward_rows(delta_next, W_next, signal).T
        return self.delta

    def _forward_rows(self, rows):
        """``(signal, out)``, each ``(B, output_size)``, for a C-contiguous ``(B, input_size)``."""
        return self._activation.forward_rows(rows, self._weights, self._bias.ravel())

    def _backward_rows(self, delta_next, W_next, signal):
        """``(delta_next @ W_next) * activation'(signal)``, all row batches."""
        return self._activation.backward_rows(delta_next, W_next, signal)


def _layer_from_bytes(data):
    """The layer that ``Layer.__reduce__`` wrote into ``data``, after checking it."""
    state = _serialization.state_from_bytes(data)
    sizes = state["sizes"]
    if len(sizes) != 2:
        raise ValueError(f"a pickled layer holds one layer, got sizes {sizes}")
    (weights, bias), = _layout.layer_views(
        _layout.check_parameters(state["parameters"], sizes, state["dtype"]), sizes)
    layer = Layer(sizes[1], sizes[0], state["activations"][0], dtype=state["dtype"],
                  init=lambda shape, rng: weights.copy(), dropout=state["dropout"][0])
    layer.bias = bias.reshape(-1, 1)
    return layer


def _only_layer(network):
    """The layer of a one-layer network: how densecore 0.1's pickles of a Layer
    are rebuilt."""
    return network.layers[0]
