"""Training: the session that runs epochs, and the one loop over epochs.

A :class:`Session` is built once per fit.  It owns the compiled ``Trainer``
(or the numpy steps, for Python-callable activations), the scratch buffers and
the gradients, and updates a network's flat parameters and its optimizer state
in place, an epoch over given rows at a time (or, for L-BFGS, by
``scipy.optimize.minimize`` on the full-batch loss and gradient).  :func:`train` is the loop over
epochs that ``Network.fit``, the scikit-learn estimators and ``densecore.dask``
all run; the learning-rate schedule and the stopping rule are objects handed
to it: :class:`Constant`, :class:`InvScaling` and :class:`Adaptive`;
:class:`Plateau` (Keras's) and :class:`NoImprovement` (scikit-learn's).
"""
import math
import sys
from dataclasses import astuple, dataclass
from typing import NamedTuple

import numpy as np
import scipy.optimize
import scipy.sparse

from densecore import _layout, _threads, _train, activations, kernels
from densecore._validation import as_samples, csr_arrays, finite_number, positive_int

__all__ = ["Adaptive", "Checkpoint", "Constant", "FULL_BATCH_ROWS", "InvScaling",
           "NoImprovement", "Plateau", "SCHEDULES", "Scaled", "Session", "Tally", "minimize",
           "train"]

# Rows per block of a full-batch evaluation (L-BFGS): enough for BLAS to run at
# speed, few enough that the session's buffers stay at a few MB.
FULL_BATCH_ROWS = 4096


# -- one epoch ------------------------------------------------------------------


@dataclass(frozen=True)
class Tally:
    """What an epoch counted: its summed per-sample loss, the answers it got right
    (scored on each batch before its update), the samples and the answers."""

    loss: float
    right: int
    samples: int
    answers: int

    def __add__(self, other):
        return Tally(*(a + b for a, b in zip(astuple(self), astuple(other))))

    def logs(self, loss):
        """``{"loss": mean loss}``, with ``"accuracy"`` where the :class:`Loss` ``loss``
        counts it."""
        logs = {"loss": self.loss / self.samples}
        if loss.accuracy:
            logs["accuracy"] = self.right / self.answers
        return logs


class Session:
    """Everything one fit trains with, built once: the compiled epoch and its buffers.

    Parameters
    ----------
    layers : list of Layer
        The network's layers; their activations choose the compiled epoch
        (all named) or numpy steps (any Python callable).
    parameters : ndarray
        The network's flat parameters, in the layout of ``densecore._layout``
        (the layers' weights and biases are views into it); updated in place.
    loss : densecore.losses.Loss
    optimizer_state : densecore.optimizers.State
        Updated in place.
    batch_size : int
        The largest mini-batch; the last of an epoch may be smaller.
    alpha : float
        L2 penalty: ``alpha * W`` is added to each weight gradient.
    clip_norm : float, optional
        Scale each step's gradients so that their global norm is at most this.
    l2_per_sample : bool
        Divide ``alpha`` by each batch's size, as scikit-learn does.
    rollback : bool
        Whether an epoch whose loss stops being finite puts the parameters and
        optimizer state back as they were before it and raises
        ``FloatingPointError`` (one copy of each per epoch), or returns.
    dropout_seed : int in [0, 2**64)
        The key of the dropout masks of the layers' rates (``Layer.dropout``).
        Step ``t`` (the optimizer's step count, which goes on across sessions,
        pickles and Dask replicas) drops output ``e`` of layer ``i``'s batch
        where Philox4x32-10 under this key, counting ``(e // 4, i, t)``, says
        so: a run's masks depend on nothing else, not on threads or machines.
        ``Network.fit`` draws it from its ``seed``.  Masks apply in
        :meth:`epoch` only, never in :meth:`loss_gradient`; a full-batch
        optimizer (L-BFGS) and Python-callable activations (numpy steps) are
        refused with dropout.
    """

    def __init__(self, layers, parameters, loss, optimizer_state, *, batch_size, alpha=0.0,
                 clip_norm=None, l2_per_sample=False, rollback=True, dropout_seed=0):
        self.sizes = [layers[0].input_size] + [layer.output_size for layer in layers]
        self.parameters, self.loss, self.optimizer_state = parameters, loss, optimizer_state
        self.batch_size = positive_int(batch_size, "batch_size")
        self.alpha = finite_number(alpha, "alpha", minimum=0)
        self.clip_norm = 0.0 if clip_norm is None else finite_number(
            clip_norm, "clip_norm", minimum=0, open_interval=True)
        self.l2_per_sample = bool(l2_per_sample)
        decay = optimizer_state.optimizer.decoupled_decay
        if decay and self.alpha:
            raise ValueError(f"{optimizer_state.optimizer!r} decays the weights itself: give "
                             f"its weight_decay, not alpha={self.alpha}")
        # The kernels' alpha: the L2 penalty on the weights, or a decoupled decay of
        # every parameter (never over a batch's size: it is per step).
        self._kernel_alpha, self._alpha_on_biases = (decay, True) if decay else (self.alpha, False)
        self.l2_per_sample = self.l2_per_sample and not decay
        self.activations = [activations.resolve(layer.activation, layer.activation_derivative)
                            for layer in layers]
        # A custom loss (numpy callables) has no kernel: the numpy steps run it.
        compiled = (loss.code is not None
                    and all(activation.compiled for activation in self.activations))
        self.dropout = [layer.dropout for layer in layers]
        self.dropout_seed = int(dropout_seed)
        if any(self.dropout):
            if self.dropout[-1]:
                raise ValueError(f"the output layer cannot drop its outputs: its dropout must "
                                 f"be 0, got {self.dropout[-1]}")
            if optimizer_state.optimizer.full_batch:
                raise ValueError(f"{optimizer_state.optimizer!r} minimizes one deterministic "
                                 f"full-batch loss: it takes no dropout, got rates "
                                 f"{self.dropout}")
            if not compiled:
                raise ValueError(f"dropout runs in the compiled epoch only: it needs named "
                                 f"activations, got rates {self.dropout} with a "
                                 "Python-callable activation")
            if not 0 <= self.dropout_seed < 2 ** 64:
                raise ValueError(f"dropout_seed must be an integer in [0, 2**64), got "
                                 f"{dropout_seed}")
        fused = compiled and optimizer_state.optimizer.plain and not (self.alpha or self.clip_norm)
        # Plain SGD updates the weights from the backward pass: no gradients kept.
        self.gradients = None if fused else np.zeros_like(parameters)
        # Each layer's (W, b) in the parameters, the gradients and each optimizer slot.
        self._views = _layout.layer_views(parameters, self.sizes)
        self._gradient_views = (None if fused
                                else _layout.layer_views(self.gradients, self.sizes))
        self._slot_views = [_layout.layer_views(row, self.sizes) for row in optimizer_state.slots]
        self._trainer = self._build_trainer() if compiled else None
        self._backup = (parameters.copy(), optimizer_state.slots.copy()) if rollback else None

    def data(self, X, y):
        """``(X, Y)``: the samples as a checked C-contiguous matrix (a scipy.sparse ``X``
        as a checked CSR of the network's dtype, which the first layer reads as it is),
        and the targets as the matrix the loss takes (``y`` may be class labels for
        cross_entropy)."""
        X = as_samples(X, "X", self.parameters.dtype, self.sizes[0])
        return X, self.loss.targets(y, X.shape[0], self.sizes[-1], self.parameters.dtype)

    def epoch(self, X, Y, order, learning_rate, sample_weight=None):
        """One pass over the rows ``X[order]``, ``Y[order]`` (checked by :meth:`data`)
        in mini-batches; its :class:`Tally`.  A CSR ``X``'s batches are its rows read
        in place (the first layer's products run on them).

        ``sample_weight`` (checked by ``densecore._validation.sample_weights``, one
        per row of ``X``)
        scales each sample's loss and gradient, as scikit-learn's: a batch's mean
        is its weighted mean, and the L2 term of ``l2_per_sample`` is divided by
        the batch's summed weight.
        """
        if self.optimizer_state.optimizer.full_batch:
            raise ValueError(f"{self.optimizer_state.optimizer!r} takes no mini-batch steps: "
                             "use Session.minimize")
        rate = finite_number(learning_rate, "learning_rate", minimum=0, open_interval=True)
        order = np.asarray(order, dtype=np.intp)
        step = self.optimizer_state.step
        if self._backup is not None:
            np.copyto(self._backup[0], self.parameters)
            np.copyto(self._backup[1], self.optimizer_state.slots)
        total, right, samples = (self._compiled_epoch if self._trainer else self._numpy_epoch)(
            X, Y, sample_weight, order, rate)
        if not math.isfinite(total) and self._backup is not None:
            np.copyto(self.parameters, self._backup[0])
            np.copyto(self.optimizer_state.slots, self._backup[1])
            self.optimizer_state.step = step
            raise FloatingPointError(f"the loss became {total}; the parameters are those from "
                                     "before that epoch (try a smaller learning_rate)")
        return Tally(total, right, samples, self.loss.answers(samples, self.sizes[-1]))

    def loss_gradient(self, X, Y, sample_weight=None, parameters=None):
        """The (weighted) mean loss over every row of ``X``, ``Y`` with the L2 term, and
        its gradient: the session's flat gradient array, overwritten by the next call.

        ``parameters``: a flat array of the network's layout and dtype to evaluate
        at, read where it is, instead of the network's own.
        """
        if parameters is not None and not (
                isinstance(parameters, np.ndarray) and parameters.ndim == 1
                and parameters.dtype == self.parameters.dtype
                and parameters.flags.c_contiguous and parameters.size == self.parameters.size):
            raise ValueError(f"parameters must be a C-contiguous 1-D {self.parameters.dtype} "
                             f"array of {self.parameters.size} values")
        views = (self._views if parameters is None
                 else _layout.layer_views(parameters, self.sizes))
        if self._trainer:
            self._trainer.point_at(parameters)
            try:
                total = self._compiled_loss_gradient(X, Y, sample_weight)
            finally:
                self._trainer.point_at(None)
        else:
            total = self._numpy_gradients(X, Y, sample_weight, views)[0]
        whole = X.shape[0] if sample_weight is None else float(sample_weight.sum())
        alpha = self.alpha / whole if self.l2_per_sample else self.alpha
        squares = 0.0
        for (weights, _), (grad_weights, _) in zip(views, self._gradient_views):
            grad_weights += alpha * weights
            squares += float(np.vdot(weights, weights))
        return total / whole + 0.5 * alpha * squares, self.gradients

    def minimize(self, X, Y, *, max_iter, callback=None, sample_weight=None):
        """Train by L-BFGS-B (``scipy.optimize.minimize``) on the full batch: at most
        ``max_iter`` iterations and the optimizer's ``max_fun`` evaluations, stopping
        when the largest gradient entry falls below its ``tol``.

        ``callback(loss)`` is called after each iteration; returning False stops.
        The parameters end as scipy's result; its ``OptimizeResult`` is returned.
        """
        optimizer = self.optimizer_state.optimizer

        def loss_gradient(x):
            if x.dtype == self.parameters.dtype:  # scipy's own vector, read where it is
                loss, gradient = self.loss_gradient(X, Y, sample_weight, parameters=x)
            else:  # scipy works in float64: a float32 network takes a converted copy
                np.copyto(self.parameters, x, casting="same_kind")
                loss, gradient = self.loss_gradient(X, Y, sample_weight)
            return loss, gradient.astype(np.float64)  # a copy: scipy keeps it

        def after_iteration(intermediate_result):
            if callback is not None and callback(float(intermediate_result.fun)) is False:
                raise StopIteration

        # L-BFGS-B's own BLAS calls, on vectors of the parameters' size, on one
        # thread: OpenBLAS's idle threads spin after a call and took a core from
        # the team in the next evaluation (digits, 64-100-10, 100 iterations:
        # 7.5 ms an evaluation against 1.6 ms so).
        with _threads.blas_on_one_thread():
            result = scipy.optimize.minimize(
                loss_gradient, self.parameters.astype(np.float64), method="L-BFGS-B",
                jac=True, callback=after_iteration,
                options={"maxiter": max_iter, "maxfun": optimizer.max_fun,
                         "gtol": optimizer.tol})
        np.copyto(self.parameters, result.x, casting="same_kind")
        self.optimizer_state.step += int(result.nit)
        return result

    def _build_trainer(self):
        """The compiled epoch over this session's buffers."""
        optimizer = self.optimizer_state.optimizer
        gradients = self._gradient_views or [(None, None)] * len(self._views)
        layers = [(W, b, activation.code, grad_W, grad_b,
                   [slot[i][0] for slot in self._slot_views],
                   [slot[i][1] for slot in self._slot_views])
                  for i, ((W, b), (grad_W, grad_b), activation)
                  in enumerate(zip(self._views, gradients, self.activations))]
        # A full-batch optimizer has no update kernel (-1): the trainer only evaluates.
        return _train.Trainer(layers, self.loss.code, self.sizes[-1], self.batch_size,
                              -1 if optimizer.code is None else optimizer.code,
                              optimizer.hyper_parameters(), self._kernel_alpha,
                              self.l2_per_sample, self._alpha_on_biases, self.clip_norm,
                              self.gradients, self.dropout, self.dropout_seed)

    def _compiled_loss_gradient(self, X, Y, weight):
        with _threads.compiled_products():
            if scipy.sparse.issparse(X):
                return self._trainer.sparse_loss_gradient(*csr_arrays(X), Y, weight)
            return self._trainer.loss_gradient(X, Y, weight)

    def _compiled_epoch(self, X, Y, weight, order, rate):
        self._trainer.step = self.optimizer_state.step
        try:
            with _threads.compiled_products():
                if scipy.sparse.issparse(X):
                    return self._trainer.sparse_epoch(*csr_arrays(X), Y, order, rate, weight)
                return self._trainer.epoch(X, Y, order, rate, weight)
        finally:
            self.optimizer_state.step = self._trainer.step

    def _numpy_epoch(self, X, Y, weight, order, rate):
        """The epoch through numpy, for Python-callable activations."""
        total = right = samples = 0
        for start in range(0, len(order), self.batch_size):
            rows = order[start:start + self.batch_size]
            batch_weight = None if weight is None else weight[rows]
            batch_samples = len(rows) if weight is None else float(batch_weight.sum())
            if batch_samples == 0:  # all its weights are 0: nothing to learn from, no step
                continue
            batch_total, batch_right = self._numpy_gradients(X[rows], Y[rows], batch_weight)
            alpha = self._kernel_alpha
            self._apply(rate, alpha / batch_samples if self.l2_per_sample else alpha)
            total += batch_total
            right += batch_right
            samples += batch_samples
        return total, right, samples

    def _numpy_gradients(self, x, y, weight=None, views=None):
        """The summed (weighted) loss and right answers of the rows ``x`` (dense or CSR),
        ``y``, at the parameters ``views`` (default: the network's); the gradient of
        their (weighted) mean loss into the gradient arrays."""
        views = self._views if views is None else views
        inputs, signals = [x], []
        sparse = scipy.sparse.issparse(x)
        for i, ((W, b), activation) in enumerate(zip(views, self.activations)):
            if i == 0 and sparse:
                signal, out = forward_csr(activation, x, W, b)
            else:
                signal, out = activation.forward_rows(inputs[-1], W, b)
            signals.append(signal)
            inputs.append(out)
        total, delta = self.loss.gradient(self.activations[-1], signals[-1], inputs[-1], y,
                                          weight)
        right = self.loss.right_answers(inputs[-1], y, weight)
        for i in reversed(range(len(views))):
            grad_W, grad_b = self._gradient_views[i]
            if i == 0 and sparse:  # delta.T @ x, as (x.T @ delta).T: scipy's CSC product
                grad_W[...], grad_b[...] = (x.T @ delta).T, delta.sum(axis=0)
            else:
                grad_W[...], grad_b[...] = kernels.gradients(inputs[i], delta)
            if i > 0:
                delta = self.activations[i - 1].backward_rows(delta, views[i][0],
                                                              signals[i - 1])
        return total, right

    def _apply(self, rate, alpha):
        """The compiled optimizer kernel on each parameter, from the gradients kept."""
        scale = 1.0
        if self.clip_norm:
            norm = math.sqrt(float(np.dot(self.gradients, self.gradients)))
            scale = min(1.0, self.clip_norm / (norm + kernels.CLIP_EPSILON))
        self.optimizer_state.step += 1
        optimizer = self.optimizer_state.optimizer
        beta_1, beta_2, epsilon, nesterov = optimizer.hyper_parameters()
        unused = np.empty(0, self.parameters.dtype)
        slots = self._slot_views
        for i, (pair, gradient_pair) in enumerate(zip(self._views, self._gradient_views)):
            # L2 (alpha) applies to the weights only; a decoupled decay to both.
            for k, (parameter, gradient) in enumerate(zip(pair, gradient_pair)):
                slot_1, slot_2 = ([slot[i][k].ravel() for slot in slots]
                                  + [unused] * (2 - len(slots)))
                kernels.update(optimizer.code, parameter.ravel(), gradient.ravel(), slot_1,
                               slot_2, rate, alpha if k == 0 or self._alpha_on_biases else 0.0,
                               scale, beta_1, beta_2,
                               epsilon, nesterov, self.optimizer_state.step)


def forward_csr(activation, X, W, b, start=0, stop=None, arrays=None):
    """``(signal, out)`` of a layer of ``activation`` on the rows ``start:stop`` of the
    CSR ``X`` (from ``Session.data``): ``X[start:stop] @ W.T + b`` and its activation,
    through the compiled CSR kernel, or scipy's product for a Python-callable
    activation.  ``arrays``: ``csr_arrays(X)``, made once by a caller that runs the
    rows in blocks."""
    stop = X.shape[0] if stop is None else stop
    if not activation.compiled:
        return activation.forward_rows(X[start:stop], W, b)
    return _train.csr_forward(*(arrays or csr_arrays(X)), start, stop, W, b, activation.code)


class Checkpoint:
    """A copy of an array kept in a buffer of its own: :meth:`save` overwrites it,
    :meth:`restore` writes it back (early stopping keeps the best epoch so)."""

    def __init__(self, array):
        self.array, self.copy, self.saved = array, np.empty_like(array), False

    def save(self):
        np.copyto(self.copy, self.array)
        self.saved = True

    def restore(self):
        if self.saved:
            np.copyto(self.array, self.copy)


# -- learning-rate schedules ------------------------------------------------------


class Constant:
    """The same learning rate every epoch."""

    def __init__(self, rate):
        self.rate = rate

    def after_epoch(self):
        pass

    def reduce(self):
        """Lower the rate when the stopping rule stalls; False: this schedule cannot."""
        return False


class InvScaling(Constant):
    """After each epoch, ``initial / (t + 1) ** power_t`` with ``t`` the samples seen
    (``seen`` before this run), as scikit-learn; ``rate`` until then."""

    def __init__(self, rate, *, power_t, samples_per_epoch, initial=None, seen=0):
        super().__init__(rate)
        self.initial = rate if initial is None else initial
        self.power_t, self.samples_per_epoch, self.seen = power_t, samples_per_epoch, seen

    def after_epoch(self):
        self.seen += self.samples_per_epoch
        self.rate = self.initial / (self.seen + 1) ** self.power_t


class Adaptive(Constant):
    """Divide the rate by 5 each time the stopping rule stalls, while it is above 1e-6."""

    FACTOR = 5
    SMALLEST = 1e-6  # as scikit-learn

    def reduce(self):
        if self.rate <= self.SMALLEST:
            return False
        self.rate /= self.FACTOR
        return True


SCHEDULES = {"constant": Constant, "invscaling": InvScaling, "adaptive": Adaptive}


class Scaled:
    """Another schedule's rate times ``factor``, reached linearly over the first
    ``warmup`` epochs: the linear scaling rule with gradual warm-up of Goyal et al.
    (2017, "Accurate, Large Minibatch SGD") for ``factor`` replicas averaged."""

    def __init__(self, schedule, factor, warmup=0):
        self.schedule, self.factor, self.warmup, self.epochs = schedule, factor, warmup, 0

    @property
    def rate(self):
        ramp = min(1.0, self.epochs / self.warmup) if self.warmup else 1.0
        return self.schedule.rate * (1 + (self.factor - 1) * ramp)

    def after_epoch(self):
        self.schedule.after_epoch()
        self.epochs += 1

    def reduce(self):
        return self.schedule.reduce()


# -- stopping rules -----------------------------------------------------------


class Plateau:
    """Keras's rule: stalled after ``patience`` epochs in which ``monitor`` (a loss)
    did not fall below its best by more than ``min_delta``."""

    def __init__(self, monitor, patience, min_delta):
        self.monitor, self.patience, self.min_delta = monitor, patience, min_delta
        self.best, self.wait = math.inf, 0

    def update(self, logs):
        """Record an epoch's logs; True if it is the best so far."""
        value = logs[self.monitor]
        if value < self.best - self.min_delta:
            self.best, self.wait = value, 0
            return True
        self.wait += 1
        return False

    @property
    def stalled(self):
        return self.wait >= self.patience

    def reset(self):
        self.wait = 0


class NoImprovement:
    """scikit-learn's rule: stalled after more than ``n_iter_no_change`` epochs in which
    ``monitor`` did not improve on its best by ``tol`` (``maximize`` for a score).

    ``best`` and ``count`` carry the rule over from an earlier call.
    """

    def __init__(self, monitor, tol, n_iter_no_change, *, maximize=False, best=None, count=0):
        self.monitor, self.tol, self.n_iter_no_change = monitor, tol, n_iter_no_change
        self.sign = -1 if maximize else 1
        self.best = self.sign * math.inf if best is None else best
        self.count = count

    def update(self, logs):
        """Record an epoch's logs; True if it is the best so far."""
        value, sign = logs[self.monitor], self.sign
        # For a loss: no progress unless below best - tol; for a score, above best + tol.
        self.count = self.count + 1 if sign * value > sign * self.best - self.tol else 0
        if sign * value < sign * self.best:
            self.best = value
            return True
        return False

    @property
    def stalled(self):
        return self.count > self.n_iter_no_change

    def reset(self):
        self.count = 0


# -- the loop over epochs -----------------------------------------------------


class Trained(NamedTuple):
    history: dict  # a list of values per log key, one per epoch
    stopped: bool  # whether the stopping rule or a callback ended the run
    result: object = None  # scipy's OptimizeResult, for a full-batch run


def train(run_epoch, *, epochs, schedule, rule=None, stop_when_stalled=False, checkpoint=None,
          validate=None, callbacks=(), verbose=False):
    """Run up to ``epochs`` epochs; return the :class:`Trained` history.

    Parameters
    ----------
    run_epoch : callable ``(learning_rate) -> logs``
        One epoch; its logs hold at least ``"loss"``.  A ``FloatingPointError``
        it raises is raised again naming the epoch.
    schedule : Constant, InvScaling or Adaptive
    rule : Plateau or NoImprovement, optional
        Updated with each epoch's logs.  When it stalls, the schedule may lower
        the rate (and the rule starts counting again); otherwise training
        stops if ``stop_when_stalled``.
    checkpoint : Checkpoint, optional
        Saved whenever the rule sees a best epoch, restored at the end.
    validate : callable ``() -> logs``, optional
        Scores held-out data after each epoch; its logs join the epoch's.
    callbacks : objects with ``on_epoch_end(epoch, logs)``
        Returning False stops training.
    verbose : bool
        A progress bar (tqdm, if installed) or a line per epoch.
    """
    history, stopped = {}, False
    show, close = progress(epochs, verbose)
    try:
        for epoch in range(epochs):
            try:
                logs = {**run_epoch(schedule.rate), "learning_rate": schedule.rate}
            except FloatingPointError as error:
                raise FloatingPointError(f"training diverged in epoch {epoch + 1}: "
                                         f"{error}") from None
            if validate is not None:
                logs.update(validate())
            for key, value in logs.items():
                history.setdefault(key, []).append(value)
            show(epoch, logs)
            schedule.after_epoch()
            if rule is not None and rule.update(logs) and checkpoint is not None:
                checkpoint.save()
            if rule is not None and rule.stalled:
                if schedule.reduce():
                    rule.reset()
                else:
                    stopped = stop_when_stalled
            replies = [callback.on_epoch_end(epoch, dict(logs)) for callback in callbacks]
            stopped = stopped or any(reply is False for reply in replies)
            if stopped:
                break
    finally:
        close()
    if checkpoint is not None:
        checkpoint.restore()
    return Trained(history, stopped)


def minimize(session, X, Y, *, max_iter, sample_weight=None, validate=None, callbacks=(),
             verbose=False):
    """Train by the session's full-batch optimizer (L-BFGS) for at most ``max_iter``
    iterations (on the ``sample_weight``-weighted loss, if given); return the
    :class:`Trained` history, one value per iteration.

    ``validate`` and ``callbacks`` are :func:`train`'s, called after each
    iteration; a callback's False stops training.
    """
    history, replies = {}, []
    show, close = progress(max_iter, verbose, unit="iteration")

    def after_iteration(loss):
        logs = {"loss": loss, **(validate() if validate is not None else {})}
        for key, value in logs.items():
            history.setdefault(key, []).append(value)
        iteration = len(history["loss"]) - 1
        show(iteration, logs)
        replies[:] = [callback.on_epoch_end(iteration, dict(logs)) for callback in callbacks]
        return not any(reply is False for reply in replies)

    try:
        result = session.minimize(X, Y, max_iter=max_iter, callback=after_iteration,
                                  sample_weight=sample_weight)
    finally:
        close()
    return Trained(history, any(reply is False for reply in replies), result)


def progress(epochs, verbose, unit="epoch"):
    """``(show(epoch, logs), close())`` for a training loop of at most ``epochs``.

    With ``verbose``, a tqdm bar if tqdm is installed, else a line per epoch.
    """
    if not verbose:
        return lambda epoch, logs: None, lambda: None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        def show(epoch, logs):
            values = " ".join(f"{key}={value:.4f}" for key, value in logs.items())
            print(f"{unit} {epoch + 1}/{epochs} {values}", file=sys.stderr)
        return show, lambda: None
    bar = tqdm(total=epochs, unit=unit, desc="train")

    def advance(epoch, logs):
        bar.update()
        bar.set_postfix(logs)
    return advance, bar.close
