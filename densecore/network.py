"""Network: a stack of Layers that trains with SGD and predicts, samples as rows."""
import functools
import math
import sys
import threading

import numpy as np

from densecore import _blas, _serialization, _train, activations, kernels, optimizers
from densecore._validation import (as_matrix, finite_number, non_negative_int, positive_int,
                                   real_array)
from densecore.layer import Layer

LOSSES = {
    "mse": kernels.Loss.MSE,
    "cross_entropy": kernels.Loss.CROSS_ENTROPY,
    "binary_cross_entropy": kernels.Loss.BINARY_CROSS_ENTROPY,
}
# The output activation each probabilistic loss is computed through.
LOSS_OUTPUT = {"cross_entropy": "softmax", "binary_cross_entropy": "sigmoid"}
SCHEDULES = ("constant", "invscaling", "adaptive")
# PyTorch's clip_grad_norm_ guard against a zero norm (as in _train.pyx).
CLIP_EPSILON = 1e-6
# The adaptive schedule stops dividing the learning rate below this, as scikit-learn.
SMALLEST_ADAPTIVE_RATE = 1e-6


def default_loss(output_activation):
    """cross_entropy after softmax, binary_cross_entropy after sigmoid, else mse."""
    for loss, activation in LOSS_OUTPUT.items():
        if output_activation == activation:
            return loss
    return "mse"


def progress(epochs, verbose):
    """``(epochs to run, show(epoch, logs), close())`` for a training loop.

    With ``verbose``, a tqdm bar if tqdm is installed, else a line per epoch.
    """
    if not verbose:
        return range(epochs), lambda epoch, logs: None, lambda: None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        def show(epoch, logs):
            values = " ".join(f"{key}={value:.4f}" for key, value in logs.items())
            print(f"epoch {epoch + 1}/{epochs} {values}", file=sys.stderr)
        return range(epochs), show, lambda: None
    bar = tqdm(range(epochs), unit="epoch", desc="train")
    return bar, lambda epoch, logs: bar.set_postfix(logs), bar.close


def one_training_at_a_time(method):
    """Refuse a second concurrent training run on one network: the two would race."""
    @functools.wraps(method)
    def exclusive(self, *args, **kwargs):
        if not self._training.acquire(blocking=False):
            raise RuntimeError("this network is already training in another thread; "
                               "train a copy, or wait for that run to finish")
        try:
            return method(self, *args, **kwargs)
        finally:
            self._training.release()
    return exclusive


class Plateau:
    """Counts the epochs since a monitored loss last improved by ``min_delta``."""

    def __init__(self, patience, min_delta):
        self.patience, self.min_delta = patience, min_delta
        self.best, self.wait = math.inf, 0

    def improved(self, value):
        """Record an epoch's value; True if it is the best by ``min_delta``."""
        if value < self.best - self.min_delta:
            self.best, self.wait = value, 0
            return True
        self.wait += 1
        return False

    @property
    def stalled(self):
        return self.wait >= self.patience


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
        self.optimizer = None  # the optimizer in use, set by fit and partial_fit
        self._slots, self._step = [], 0  # its state for each parameter; steps taken
        self._training = threading.Lock()

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

    @one_training_at_a_time
    def fit(self, X, y, epochs=10, batch_size=32, learning_rate=0.01, shuffle=True,
            seed=None, verbose=False, *, optimizer="sgd", alpha=0.0, schedule="constant",
            power_t=0.5, clip_norm=None, validation_data=None, validation_split=0.0,
            early_stopping=False, patience=10, min_delta=0.0, callbacks=None):
        """Train for ``epochs`` passes over the data; return the history.

        Parameters
        ----------
        X : array-like (n_samples, n_features)
        y : array-like
            Integer labels ``(n,)`` or a ``(n, k)`` target matrix for
            cross_entropy; targets ``(n,)`` or ``(n, k)`` otherwise.
        epochs, batch_size, learning_rate, shuffle
            The passes, the mini-batch size (the last batch may be smaller),
            the step size and whether each pass visits the samples in a new
            random order.
        seed : None, int or Generator
            Draws the shuffling and the validation split.
        verbose : bool
            A progress bar (tqdm, if installed) or a line per epoch.
        optimizer : "sgd", "adam", densecore.SGD or densecore.Adam
            Starts from a fresh state.
        alpha : float
            L2 penalty: ``alpha * W`` is added to each weight gradient.
        schedule : {"constant", "invscaling", "adaptive"}
            As scikit-learn: invscaling uses ``learning_rate / (t + 1) **
            power_t`` with t the samples seen in earlier epochs; adaptive divides
            the rate by 5 after ``patience`` epochs without an improvement of
            ``min_delta`` in the monitored loss.
        clip_norm : float, optional
            Scale each step's gradients so that their global norm is at most this.
        validation_data : (X_val, y_val), optional
        validation_split : float in [0, 1)
            Hold out this fraction of the samples, drawn at random, instead.
        early_stopping : bool
            Stop after ``patience`` epochs without an improvement of
            ``min_delta`` in the monitored loss (``val_loss`` with validation
            data, else ``loss``) and restore the best epoch's parameters.
        callbacks : iterable of objects with ``on_epoch_end(epoch, logs)``
            Called after each epoch with its logs; returning False stops training.

        Returns
        -------
        history : dict of lists, one value per epoch
            ``loss`` and ``learning_rate``; ``accuracy`` for the cross-entropies
            (scored on each batch before its update); ``val_loss`` and
            ``val_accuracy`` with validation.

        Raises
        ------
        FloatingPointError
            If the loss stops being finite; the parameters are then those from
            before the epoch that diverged.
        """
        X = self._samples(X)
        Y = self._targets(y, len(X))
        rng = np.random.default_rng(seed)
        (X, Y), validation = self._split_validation(X, Y, validation_data, validation_split, rng)
        epochs = non_negative_int(epochs, "epochs")
        patience = positive_int(patience, "patience")
        min_delta = finite_number(min_delta, "min_delta", minimum=0)
        if schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
        power_t = finite_number(power_t, "power_t", minimum=0)
        callbacks = list(callbacks or ())
        rate = learning_rate = finite_number(learning_rate, "learning_rate", minimum=0,
                                       open_interval=True)
        run = self._start(X, Y, batch_size, optimizer, alpha, clip_norm, keep_state=False)
        history, plateau, best_parameters = {}, Plateau(patience, min_delta), None
        epoch_numbers, show, close = progress(epochs, verbose)
        try:
            for epoch in epoch_numbers:
                total, right = run(rng if shuffle else None, rate, epoch)
                logs = {**self._logs(total, right, len(Y), self._answers(Y)),
                        "learning_rate": rate}
                if validation is not None:
                    logs.update({f"val_{key}": value
                                 for key, value in self._score(*validation).items()})
                for key, value in logs.items():
                    history.setdefault(key, []).append(value)
                show(epoch, logs)
                if schedule == "invscaling":
                    rate = learning_rate / ((epoch + 1) * len(X) + 1) ** power_t
                if plateau.improved(logs.get("val_loss", logs["loss"])) and early_stopping:
                    best_parameters = self._copy_parameters()
                if plateau.stalled and schedule == "adaptive" and rate > SMALLEST_ADAPTIVE_RATE:
                    rate, plateau.wait = rate / 5, 0
                replies = [callback.on_epoch_end(epoch, dict(logs)) for callback in callbacks]
                if (plateau.stalled and early_stopping) or any(r is False for r in replies):
                    break
        finally:
            close()
        if best_parameters is not None:
            self._set_parameters(best_parameters)
        return history

    @one_training_at_a_time
    def partial_fit(self, X, y, *, batch_size=32, learning_rate=0.01, optimizer=None,
                    alpha=0.0, clip_norm=None, shuffle=True, seed=None):
        """One pass over ``X``, keeping the optimizer's state; return its mean loss.

        ``optimizer=None`` goes on with the optimizer in use ("sgd" before any
        training); another optimizer, or other settings, start a fresh state.
        """
        X = self._samples(X)
        rng = np.random.default_rng(seed) if shuffle else None
        total, _ = self._pass(X, self._targets(y, len(X)), batch_size=batch_size,
                              learning_rate=learning_rate, optimizer=optimizer, alpha=alpha,
                              clip_norm=clip_norm, rng=rng)
        return total / len(X)

    def predict(self, X):
        """The output layer's activations, ``(n_samples, output_size)``."""
        return self._forward(self._samples(X))[1]

    def evaluate(self, X, y):
        """``{"loss": mean loss}``, with ``"accuracy"`` for the cross-entropies."""
        X = self._samples(X)
        return self._score(X, self._targets(y, len(X)))

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
        with np.errstate(invalid="ignore"):
            integral = np.array_equal(y, np.floor(y)) if y.dtype.kind == "f" else True
        if not integral:
            raise ValueError("y must hold integer class labels, got non-integer values")
        if len(y) and (y.min() < 0 or y.max() >= n_classes):
            raise ValueError(f"labels must lie in [0, {n_classes}), got values from "
                             f"{y.min()} to {y.max()}")
        return y.astype(np.intp)

    def _split_validation(self, X, Y, validation_data, validation_split, rng):
        """``((X, Y) to train on, (X_val, Y_val) or None)``."""
        split = finite_number(validation_split, "validation_split", minimum=0)
        if split >= 1:
            raise ValueError(f"validation_split must lie in [0, 1), got {split}")
        if validation_data is not None:
            if split:
                raise ValueError("give validation_data or validation_split, not both")
            X_val, y_val = validation_data
            X_val = self._samples(X_val)
            return (X, Y), (X_val, self._targets(y_val, len(X_val)))
        if not split:
            return (X, Y), None
        n_val = int(len(X) * split)
        if not 0 < n_val < len(X):
            raise ValueError(f"validation_split={split} of {len(X)} samples leaves no "
                             "validation or no training samples")
        order = rng.permutation(len(X))
        held_out, kept = order[:n_val], order[n_val:]
        return (X[kept], Y[kept]), (X[held_out], Y[held_out])

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

    def _score(self, X, Y):
        if len(X) == 0:
            raise ValueError("evaluate needs at least one sample, got 0")
        signal, out = self._forward(X)
        total, _ = self._loss_gradient(signal, out, Y)
        result = {"loss": total / len(X)}
        if self.loss in LOSS_OUTPUT:
            result["accuracy"] = self._right_answers(out, Y) / self._answers(Y)
        return result

    def _right_answers(self, out, Y):
        """Samples classified right (cross_entropy) or outputs (binary)."""
        if self.loss == "cross_entropy":
            return int(np.sum(out.argmax(axis=1) == Y.argmax(axis=1)))
        return int(np.sum((out > 0.5) == (Y > 0.5)))

    def _answers(self, Y):
        return len(Y) if self.loss == "cross_entropy" else Y.size

    # -- training ---------------------------------------------------------

    def _pass(self, X, Y, *, batch_size, learning_rate, optimizer, alpha, clip_norm, rng):
        """One pass of ``partial_fit`` over checked ``X`` and ``Y``: its summed loss and
        right answers.  ``rng`` draws the order (None: the order of the rows)."""
        rate = finite_number(learning_rate, "learning_rate", minimum=0, open_interval=True)
        optimizer = optimizer if optimizer is not None else self.optimizer or "sgd"
        run = self._start(X, Y, batch_size, optimizer, alpha, clip_norm, keep_state=True)
        return run(rng, rate, epoch=0)

    def _logs(self, total, right, n_samples, n_answers):
        """An epoch's logs: its mean loss, and its accuracy for the cross-entropies."""
        logs = {"loss": total / n_samples}
        if self.loss in LOSS_OUTPUT:
            logs["accuracy"] = right / n_answers
        return logs

    def _parameters(self):
        """Every parameter array, in place: W0, b0 (flat), W1, b1, ..."""
        return [p for layer in self.layers for p in (layer._weights, layer._bias.ravel())]

    def _copy_parameters(self):
        return [p.copy() for p in self._parameters()]

    def _set_parameters(self, values):
        for parameter, value in zip(self._parameters(), values):
            parameter[...] = value

    def _training_state(self):
        """Copies of everything a pass changes: parameters, optimizer slots, step."""
        return (self._copy_parameters(), [[slot.copy() for slot in slots] for slots in self._slots],
                self._step)

    def _restore_training_state(self, state):
        parameters, slots, self._step = state
        self._set_parameters(parameters)
        for current, saved in zip(self._slots, slots):
            for slot, value in zip(current, saved):
                slot[...] = value

    def _use_optimizer(self, optimizer, keep_state):
        """Make ``optimizer`` current, with a fresh state unless it is unchanged."""
        optimizer = optimizers.get(optimizer)
        if keep_state and optimizer == self.optimizer:
            return
        self.optimizer = optimizer
        self._slots = [[np.zeros_like(p) for _ in range(optimizer.n_slots)]
                       for p in self._parameters()]
        self._step = 0

    def _start(self, X, Y, batch_size, optimizer, alpha, clip_norm, keep_state):
        """Check the training options; return ``run(rng, rate, epoch) -> (summed loss,
        right answers)`` for a pass."""
        if len(X) == 0:
            raise ValueError("training needs at least one sample, got 0")
        batch_size = min(positive_int(batch_size, "batch_size"), len(X))
        alpha = finite_number(alpha, "alpha", minimum=0)
        clip_norm = 0.0 if clip_norm is None else finite_number(
            clip_norm, "clip_norm", minimum=0, open_interval=True)
        self._use_optimizer(optimizer, keep_state)
        run_epoch = self._epoch_runner(Y.shape[1], batch_size, alpha, clip_norm)

        def run(rng, rate, epoch):
            order = np.arange(len(X)) if rng is None else rng.permutation(len(X))
            before = self._training_state()
            total, right = run_epoch(X, Y, order, rate)
            if not math.isfinite(total):
                self._restore_training_state(before)
                raise FloatingPointError(
                    f"training diverged in epoch {epoch + 1}: the loss became {total}; the "
                    "parameters are those from before that epoch (try a smaller learning_rate)")
            return total, right

        return run

    def _epoch_runner(self, n_targets, batch_size, alpha, clip_norm):
        """``(X, Y, order, rate) -> (summed loss, right answers)`` for one pass."""
        if all(self.activation_names):
            trainer = _train.Trainer(
                [layer._weights for layer in self.layers],
                [layer._bias for layer in self.layers],
                [activations.code(name) for name in self.activation_names],
                LOSSES[self.loss], n_targets, batch_size, self.optimizer.code,
                self.optimizer.hyper_parameters(), alpha, clip_norm, self._slots, self._step)

            largest = max(layer.input_size * layer.output_size for layer in self.layers)

            def compiled(X, Y, order, rate):
                try:
                    with _blas.threads_for(batch_size * largest):
                        return trainer.epoch(X, Y, order, rate)
                finally:
                    self._step = trainer.step
            return compiled

        def in_python(X, Y, order, rate):
            results = [self._python_step(X[rows], Y[rows], rate, alpha, clip_norm)
                       for rows in np.array_split(order, range(batch_size, len(order), batch_size))]
            return tuple(map(sum, zip(*results)))
        return in_python

    def _python_step(self, x, y, rate, alpha, clip_norm):
        """One step through the layers' own methods, for callable activations."""
        inputs, signals = [x], []
        for layer in self.layers:
            signal, out = layer._forward_rows(inputs[-1])
            signals.append(signal)
            inputs.append(out)
        total, delta = self._loss_gradient(signals[-1], inputs[-1], y)
        right = self._right_answers(inputs[-1], y) if self.loss in LOSS_OUTPUT else 0
        gradients = []
        for i in reversed(range(len(self.layers))):
            gradients[:0] = kernels.gradients(inputs[i], delta)
            if i > 0:
                delta = self.layers[i - 1]._backward_rows(delta, self.layers[i]._weights,
                                                           signals[i - 1])
        self._apply(gradients, rate, alpha, clip_norm)
        return total, right

    def _apply(self, gradients, rate, alpha, clip_norm):
        """The compiled optimizer kernel, one parameter at a time."""
        scale = 1.0
        if clip_norm:
            norm = math.sqrt(sum(float(np.dot(g.ravel(), g.ravel())) for g in gradients))
            scale = min(1.0, clip_norm / (norm + CLIP_EPSILON))
        self._step += 1
        beta_1, beta_2, epsilon, nesterov = self.optimizer.hyper_parameters()
        unused = np.empty(0, self.dtype)
        for k, (parameter, gradient, slots) in enumerate(
                zip(self._parameters(), gradients, self._slots)):
            slot_1, slot_2 = [slot.ravel() for slot in slots] + [unused] * (2 - len(slots))
            kernels.update(self.optimizer.code, parameter.ravel(), gradient.ravel(), slot_1, slot_2, rate,
                           alpha if k % 2 == 0 else 0.0, scale, beta_1, beta_2, epsilon,
                           nesterov, self._step)

    # -- serialization hooks ------------------------------------------------

    def _optimizer_arrays(self):
        """The optimizer's name, settings, step and state as plain arrays."""
        if self.optimizer is None:
            return {}
        arrays = {"name": np.array(self.optimizer.name), "step": np.array(self._step)}
        arrays.update({key: np.array(value) for key, value in self.optimizer.get_params().items()})
        for i, slots in enumerate(self._slots):
            for j, slot in enumerate(slots):
                arrays[f"slot_{i}_{j}"] = slot
        return arrays

    def _restore_optimizer(self, arrays):
        """Undo ``_optimizer_arrays``; ``ValueError`` if they do not fit this network."""
        if not arrays:
            self.optimizer, self._slots, self._step = None, [], 0
            return
        try:
            settings = {key: value.item() for key, value in arrays.items()
                        if key not in ("name", "step") and not key.startswith("slot_")}
            optimizer = optimizers.OPTIMIZERS[str(arrays["name"])](**settings)
            step = non_negative_int(arrays["step"].item(), "step")
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise ValueError(f"invalid optimizer state: {error!r}") from None
        self._use_optimizer(optimizer, keep_state=False)
        expected = {f"slot_{i}_{j}" for i, slots in enumerate(self._slots)
                    for j in range(len(slots))}
        found = {key for key in arrays if key.startswith("slot_")}
        if found != expected:
            raise ValueError(f"optimizer state has slots {sorted(found)}, "
                             f"expected {sorted(expected)}")
        for i, slots in enumerate(self._slots):
            for j, slot in enumerate(slots):
                value = arrays[f"slot_{i}_{j}"]
                if value.shape != slot.shape or value.dtype.kind != "f":
                    raise ValueError(f"optimizer slot_{i}_{j} must be a float array of shape "
                                     f"{slot.shape}, got {value.dtype} {value.shape}")
                if j == 1 and value.min(initial=0) < 0:  # Adam's second moments
                    raise ValueError(f"optimizer slot_{i}_{j} holds second moments, which "
                                     f"cannot be negative, got {value.min()}")
                slot[...] = value
        self._step = step
