"""The losses: one row each in :data:`LOSSES`, holding all that densecore knows of it.

Losses follow scikit-learn: mse is half the mean squared error over samples
and outputs, the cross-entropies and poisson (half the Poisson deviance, for
counts) are summed over outputs and averaged over samples.  Those three are
computed from the logits of the output activation they need (softmax, sigmoid,
exp), which makes each the default loss after that activation.
"""
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from densecore import kernels
from densecore._validation import as_matrix, real_array

__all__ = ["CustomLoss", "LOSSES", "Loss", "default", "resolve"]


@dataclass(frozen=True)
class Loss:
    """A loss: its name, its kernel code, the output activation it needs (None
    for any) and what its accuracy counts (None: no accuracy).

    ``accuracy`` is ``"samples"`` when a sample is right if its largest
    output is its class, ``"outputs"`` when each output is right if it falls on
    its target's side of 0.5.
    """

    name: str
    code: int
    output: Optional[str]
    accuracy: Optional[str]

    def targets(self, y, n_samples, n_outputs, dtype):
        """``y`` as a finite ``(n_samples, n_outputs)`` matrix of ``dtype``.

        A loss that counts right samples takes integer class labels ``(n,)``
        as well, turned into one-hot rows here.
        """
        y = real_array(y, "y")
        if y.ndim == 0 or len(y) != n_samples:
            raise ValueError(f"y must hold one target per sample ({n_samples}), "
                             f"got shape {y.shape}")
        if y.ndim == 1 and self.accuracy == "samples":
            y = np.eye(n_outputs, dtype=dtype)[_labels(y, n_outputs)]
        elif y.ndim == 1 and n_outputs == 1:
            y = y.reshape(-1, 1)
        return as_matrix(y, "y", dtype, n_outputs)

    def gradient(self, output, signal, out, Y, weight=None):
        """Summed loss and d(mean loss)/d(signal) for one batch through the
        output :class:`~densecore.activations.Activation` ``output``; with
        ``weight``, each sample's loss counts so many times and the mean is the
        weighted mean."""
        if output.compiled:
            return kernels.loss(self.code, output.code, signal, out, Y, weight)
        # A callable output activation (mse only): the loss with respect to
        # out, then the chain rule through its numpy derivative.
        total, delta = kernels.loss(self.code, kernels.Activation.IDENTITY, out, out, Y, weight)
        return total, output.chain(delta, signal)

    def right_answers(self, out, Y, weight=None):
        """How many of the batch's answers ``out`` gets right, each counting its
        sample's ``weight`` if given (0 without accuracy)."""
        if self.accuracy == "samples":
            right = out.argmax(axis=1) == Y.argmax(axis=1)
        elif self.accuracy == "outputs":
            right = ((out > 0.5) == (Y > 0.5)).sum(axis=1)
        else:
            return 0
        return int(right.sum()) if weight is None else float(np.dot(weight, right))

    def class_weights(self, Y, class_weight):
        """One weight per row of the target matrix ``Y``: its class's weight in
        ``class_weight``, a dict ``{class index: weight}`` (1 for a class it does
        not name) or ``"balanced"``, scikit-learn's ``n_samples / (n_classes *
        count of the class)`` over the classes present.  The class of a row is
        its largest target (cross_entropy) or its one output above 0.5
        (binary_cross_entropy)."""
        if self.accuracy is None or (self.accuracy == "outputs" and Y.shape[1] != 1):
            raise ValueError("class_weight needs one class per sample: the cross_entropy "
                             "loss, or binary_cross_entropy with one output; got the "
                             f"{self.name} loss with {Y.shape[1]} outputs")
        classes = Y.argmax(axis=1) if self.accuracy == "samples" else (Y[:, 0] > 0.5) * 1
        n_classes = max(Y.shape[1], 2)
        if isinstance(class_weight, str) and class_weight == "balanced":
            counts = np.bincount(classes, minlength=n_classes)
            table = len(classes) / (np.count_nonzero(counts) * np.maximum(counts, 1))
            return table[classes]
        if not isinstance(class_weight, dict):
            raise TypeError(f"class_weight must be None, a dict or 'balanced', got "
                            f"{class_weight!r}")
        table = np.ones(n_classes)
        for label, weight in class_weight.items():
            if not (isinstance(label, (int, np.integer)) and 0 <= label < n_classes):
                raise ValueError(f"class_weight's keys must be class indices in "
                                 f"[0, {n_classes}), got {label!r}")
            table[label] = weight
        if not (np.isfinite(table).all() and (table >= 0).all()):
            raise ValueError(f"class_weight's weights must be finite and non-negative, got "
                             f"{list(class_weight.values())}")
        return table[classes]

    def answers(self, samples, n_outputs):
        """How many answers ``samples`` (a count, or a summed weight) hold."""
        return samples if self.accuracy == "samples" else samples * n_outputs


@dataclass(frozen=True)
class CustomLoss(Loss):
    """A loss given as a pair of numpy callables, as the spec lets activations be
    given: ``value(out, Y)`` gives each sample's loss, shape ``(n_samples,)``, and
    ``derivative(out, Y)`` its derivative with respect to the output, shape
    ``(n_samples, n_outputs)``.  It runs through numpy, and counts no accuracy.
    """

    value: Callable = None
    derivative: Callable = None

    def gradient(self, output, signal, out, Y, weight=None):
        n, k = out.shape
        per_sample = np.asarray(self.value(out, Y), dtype=np.float64)
        derivative = np.asarray(self.derivative(out, Y), dtype=out.dtype)
        if per_sample.shape != (n,) or derivative.shape != (n, k):
            raise ValueError(f"a custom loss's value must give shape ({n},) and its derivative "
                             f"({n}, {k}), got {per_sample.shape} and {derivative.shape}")
        w = np.ones(n) if weight is None else weight
        delta = np.ascontiguousarray(derivative * (w / w.sum()).astype(out.dtype)[:, None])
        if output.compiled:  # the chain rule through the compiled activation's Jacobian
            delta = kernels.backward(delta, np.eye(k, dtype=out.dtype), signal, output.code)
        else:
            delta = output.chain(delta, signal)
        return float(np.dot(w, per_sample)), delta


LOSSES = {row.name: row for row in (
    Loss("mse", kernels.Loss.MSE, None, None),
    Loss("cross_entropy", kernels.Loss.CROSS_ENTROPY, "softmax", "samples"),
    Loss("binary_cross_entropy", kernels.Loss.BINARY_CROSS_ENTROPY, "sigmoid", "outputs"),
    Loss("poisson", kernels.Loss.POISSON, "exp", None),
)}


def default(output_activation):
    """The loss computed through ``output_activation`` (its name), else mse."""
    for row in LOSSES.values():
        if row.output is not None and row.output == output_activation:
            return row.name
    return "mse"


def resolve(loss, output_activation):
    """The :class:`Loss` named ``loss`` (None: :func:`default`) after the output
    activation named ``output_activation`` (None for a callable), or the
    :class:`CustomLoss` of a pair of callables ``(value, derivative)``."""
    if isinstance(loss, tuple) and len(loss) == 2 and all(map(callable, loss)):
        return CustomLoss(None, None, None, None, *loss)
    loss = default(output_activation) if loss is None else loss
    if not isinstance(loss, str) or loss not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)} or a pair of callables "
                         f"(value, derivative), got {loss!r}")
    row = LOSSES[loss]
    if row.output not in (None, output_activation):
        raise ValueError(f"loss {loss!r} needs a {row.output!r} output layer, "
                         f"got {output_activation or 'a callable'!r}")
    return row


def _labels(y, n_classes):
    with np.errstate(invalid="ignore"):
        integral = np.array_equal(y, np.floor(y)) if y.dtype.kind == "f" else True
    if not integral:
        raise ValueError("y must hold integer class labels, got non-integer values")
    if len(y) and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"labels must lie in [0, {n_classes}), got values from "
                         f"{y.min()} to {y.max()}")
    return y.astype(np.intp)
