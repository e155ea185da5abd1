"""Network: a stack of Layers that trains with SGD and predicts, samples as rows."""
import operator
import sys

import numpy as np

from densecore import _serialization, _train, activations, kernels
from densecore._validation import as_matrix, positive_int, real_array
from densecore.layer import Layer

LOSSES = {
    "mse": kernels.Loss.MSE,
    "cross_entropy": kernels.Loss.CROSS_ENTROPY,
    "binary_cross_entropy": kernels.Loss.BINARY_CROSS_ENTROPY,
}
# The output activation each probabilistic loss is computed through.
LOSS_OUTPUT = {"cross_entropy": "softmax", "binary_cross_entropy": "sigmoid"}


def default_loss(output_activation):
    """cross_entropy after softmax, binary_cross_entropy after sigmoid, else mse."""
    for loss, activation in LOSS_OUTPUT.items():
        if output_activation == activation:
            return loss
    return "mse"


def progress(epochs, verbose):
    """The epochs to run and a function that shows each one's logs.

    With ``verbose``, a tqdm bar if tqdm is installed, else a line per epoch.
    """
    if not verbose:
        return range(epochs), lambda epoch, logs: None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        def show(epoch, logs):
            values = " ".join(f"{key}={value:.4f}" for key, value in logs.items())
            print(f"epoch {epoch + 1}/{epochs} {values}", file=sys.stderr)
        return range(epochs), show
    bar = tqdm(range(epochs), unit="epoch", desc="train")
    return bar, lambda epoch, logs: bar.set_postfix(logs)


class Network:
    """A feed-forward stack of :class:`Layer` objects, trained by mini-batch SGD.

    Parameters
    ----------
    layers : sequence of Layer
        Consecutive sizes must chain and all layers share one dtype.
    loss : {"mse", "cross_entropy", "binary_cross_entropy"}, optional
        By default, follows the last activation: softmax -> cross_entropy,
        sigmoid -> binary_cross_entropy, anything else -> mse.  The two
        cross-entropies are computed from the logits and need that output.

    Notes
    -----
    ``fit``, ``predict`` and ``evaluate`` take samples as rows,
    ``(n_samples, n_features)``.  Losses follow scikit-learn: mse is half the
    mean squared error over samples and outputs, the cross-entropies are
    summed over outputs and averaged over samples.
    """

    def __init__(self, layers, loss=None):
        self.layers = list(layers)
        if not self.layers or not all(isinstance(layer, Layer) for layer in self.layers):
            raise TypeError(f"layers must be a non-empty sequence of Layer, got {layers!r}")
        for i, (layer, following) in enumerate(zip(self.layers, self.layers[1:])):
            if layer.output_size != following.input_size:
                raise ValueError(f"layer {i} has {layer.output_size} outputs but layer "
                                 f"{i + 1} takes {following.input_size} inputs")
        dtypes = {layer.dtype for layer in self.layers}
        if len(dtypes) > 1:
            raise ValueError(f"all layers must share one dtype, got {sorted(map(str, dtypes))}")
        self.loss = self._check_loss(loss)

    def _check_loss(self, loss):
        output = self.layers[-1].activation_name
        loss = default_loss(output) if loss is None else loss
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {loss!r}")
        if LOSS_OUTPUT.get(loss, output) != output:
            raise ValueError(f"loss {loss!r} needs a {LOSS_OUTPUT[loss]!r} output layer, "
                             f"got {self.layers[-1].activation!r}")
        return loss

    @classmethod
    def from_sizes(cls, sizes, activation="relu", output_activation="softmax",
                   dtype=np.float64, init="he", seed=None):
        """A network of layers ``sizes[0] -> sizes[1] -> ... -> sizes[-1]``.

        ``seed`` (an int or a Generator) draws every layer's parameters from
        one stream; ``None`` uses numpy's global random state.
        """
        sizes = [positive_int(size, "each size") for size in sizes]
        if len(sizes) < 2:
            raise ValueError(f"sizes needs at least an input and an output size, got {sizes}")
        rng = None if seed is None else np.random.default_rng(seed)
        last = len(sizes) - 2
        return cls([
            Layer(n_out, n_in, output_activation if i == last else activation,
                  dtype=dtype, init=init, rng=rng)
            for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:]))
        ])

    def __repr__(self):
        return (f"Network(sizes={self.sizes}, activations={self.activation_names}, "
                f"loss={self.loss!r}, dtype={self.dtype.name})")

    @property
    def dtype(self):
        return self.layers[0].dtype

    @property
    def sizes(self):
        return [self.layers[0].input_size] + [layer.output_size for layer in self.layers]

    @property
    def activation_names(self):
        """Each layer's activation name (None for a Python callable)."""
        return [layer.activation_name for layer in self.layers]

    # -- public API -------------------------------------------------------

    def fit(self, X, y, epochs=10, batch_size=32, learning_rate=0.01, shuffle=True,
            seed=None, verbose=False):
        """Train with mini-batch SGD; return ``{"loss": [mean loss per epoch]}``.

        ``y`` is integer labels ``(n,)`` or a ``(n, k)`` target matrix for
        cross_entropy, and targets ``(n,)`` or ``(n, k)`` otherwise.  Each
        epoch runs in compiled code when every activation is named.
        """
        X = self._samples(X)
        Y = self._targets(y, len(X))
        if len(X) == 0:
            raise ValueError("fit needs at least one sample, got 0")
        epochs = operator.index(epochs)
        if epochs < 0:
            raise ValueError(f"epochs must be >= 0, got {epochs}")
        batch_size = min(positive_int(batch_size, "batch_size"), len(X))
        learning_rate = float(learning_rate)
        if not np.isfinite(learning_rate) or learning_rate <= 0:
            raise ValueError(f"learning_rate must be a positive number, got {learning_rate}")
        run_epoch = self._epoch_runner(Y.shape[1], batch_size)
        rng = np.random.default_rng(seed)
        epochs, show = progress(epochs, verbose)
        history = {"loss": []}
        for epoch in epochs:
            order = rng.permutation(len(X)) if shuffle else np.arange(len(X))
            history["loss"].append(run_epoch(X, Y, order, learning_rate) / len(X))
            show(epoch, {"loss": history["loss"][-1]})
        return history

    def predict(self, X):
        """The output layer's activations, ``(n_samples, output_size)``."""
        return self._forward(self._samples(X))[1]

    def evaluate(self, X, y):
        """``{"loss": mean loss}``, with ``"accuracy"`` for the cross-entropies."""
        X = self._samples(X)
        Y = self._targets(y, len(X))
        if len(X) == 0:
            raise ValueError("evaluate needs at least one sample, got 0")
        signal, out = self._forward(X)
        total, _ = self._loss_gradient(signal, out, Y)
        result = {"loss": total / len(X)}
        if self.loss == "cross_entropy":
            result["accuracy"] = float(np.mean(out.argmax(axis=1) == Y.argmax(axis=1)))
        elif self.loss == "binary_cross_entropy":
            result["accuracy"] = float(np.mean((out > 0.5) == (Y > 0.5)))
        return result

    # -- files and pickles -------------------------------------------------

    def save(self, path):
        """Write the network, with its optimizer state, to the ``.npz`` file ``path``.

        The file holds arrays only (see :func:`densecore.load`).  It is
        written under a temporary name and renamed over ``path``, so a failed
        or killed save leaves a previous file there intact.  A network with a
        Python-callable activation cannot be saved (``ValueError``).
        """
        _serialization.save(self, path)

    @classmethod
    def load(cls, path):
        """The network saved at ``path`` by :meth:`save`, ready to predict or resume training.

        Nothing is unpickled.  A file that is not a complete, consistent
        densecore model of a known format version raises ``ValueError``.
        """
        return _serialization.load(path, cls)

    def __reduce__(self):
        # A pickle (joblib, Dask) carries the bytes of a saved file and no other state.
        return _serialization.from_bytes, (_serialization.to_bytes(self), type(self))

    # -- inputs -----------------------------------------------------------

    def _samples(self, X):
        return as_matrix(X, "X", self.dtype, self.layers[0].input_size)

    def _targets(self, y, n_samples):
        """``y`` as a finite ``(n_samples, n_outputs)`` matrix of the network's dtype."""
        y = real_array(y, "y")
        n_outputs = self.layers[-1].output_size
        if y.ndim == 0 or len(y) != n_samples:
            raise ValueError(f"y must hold one target per sample ({n_samples}), "
                             f"got shape {y.shape}")
        if y.ndim == 1 and self.loss == "cross_entropy":
            y = np.eye(n_outputs, dtype=self.dtype)[self._labels(y, n_outputs)]
        elif y.ndim == 1 and n_outputs == 1:
            y = y.reshape(-1, 1)
        return as_matrix(y, "y", self.dtype, n_outputs)

    @staticmethod
    def _labels(y, n_classes):
        labels = y.astype(np.intp)
        if not np.array_equal(labels, y):
            raise ValueError("integer class labels expected in y, got non-integer values")
        if len(labels) and (labels.min() < 0 or labels.max() >= n_classes):
            raise ValueError(f"labels must lie in [0, {n_classes}), got values from "
                             f"{labels.min()} to {labels.max()}")
        return labels

    # -- computation ------------------------------------------------------

    def _forward(self, X):
        """``(signal, out)`` of the output layer for the rows of ``X``."""
        signal, out = None, X
        for layer in self.layers:
            signal, out = layer._forward_rows(out)
        return signal, out

    def _loss_gradient(self, signal, out, Y):
        """Summed loss and d(mean loss)/d(signal) for one batch."""
        last = self.layers[-1]
        loss = LOSSES[self.loss]
        if last.activation_name:
            return kernels.loss(loss, activations.code(last.activation_name), signal, out, Y)
        # A callable output activation (mse only): the loss with respect to
        # out, then its derivative by hand.
        total, delta = kernels.loss(loss, kernels.Activation.IDENTITY, out, out, Y)
        derivative = np.asarray(last.activation_derivative(signal.T), dtype=self.dtype).T
        return total, np.ascontiguousarray(delta * derivative)

    def _epoch_runner(self, n_targets, batch_size):
        """A function ``(X, Y, order, learning_rate) -> summed loss`` for one epoch."""
        if all(self.activation_names):
            trainer = _train.Trainer(
                [layer._weights for layer in self.layers],
                [layer._bias for layer in self.layers],
                [activations.code(name) for name in self.activation_names],
                LOSSES[self.loss], n_targets, batch_size)
            return trainer.epoch
        return lambda X, Y, order, learning_rate: sum(
            self._python_step(X[rows], Y[rows], learning_rate)
            for rows in np.array_split(order, range(batch_size, len(order), batch_size)))

    def _python_step(self, x, y, learning_rate):
        """One SGD step through the layers' own methods, for callable activations."""
        inputs, signals = [x], []
        for layer in self.layers:
            signal, out = layer._forward_rows(inputs[-1])
            signals.append(signal)
            inputs.append(out)
        total, delta = self._loss_gradient(signals[-1], inputs[-1], y)
        for i in reversed(range(len(self.layers))):
            layer = self.layers[i]
            grad_W, grad_b = kernels.gradients(inputs[i], delta)
            if i > 0:
                delta = self.layers[i - 1]._backward_rows(delta, layer._weights, signals[i - 1])
            layer._weights -= learning_rate * grad_W
            layer._bias[:, 0] -= learning_rate * grad_b
        return total
