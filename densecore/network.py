"""Network: a stack of Layers that trains and predicts, samples as rows.

The network owns the memory of its model: every parameter in one flat buffer
(the layers' weights and biases are views into it, see ``densecore._layout``)
and the optimizer state in another.  Training runs through a
:class:`densecore.training.Session`; files and pickles go through the plain
dict of :meth:`Network.state`.
"""
import contextlib
import functools
import threading

import numpy as np
import scipy.sparse

from densecore import (_layout, _serialization, _threads, _train, activations, losses,
                       optimizers, training)
from densecore._validation import (as_samples, csr_arrays, dropout_rate, dropout_rates,
                                   finite_number, float_dtype, non_negative_int,
                                   positive_int, sample_weights)
from densecore.layer import Layer

# Bytes of a prediction block's widest signal: rows enough that a product whose
# weights are packed afresh by every block of rows still cuts into 8 blocks of
# 512 rows (float32, 512 wide; see _core's WIDE_BLOCK_MIN_WIDTH), few enough that
# memory stays bounded.  Predicting 16,384 rows through 784-512-256-10 float32 at
# two threads ran as fast in blocks of 4,096 rows as of 1,024.
BLOCK_BYTES = 8 * 2 ** 20

# The keys of Network.state(), in its order; a state may lack "dropout" (no dropout),
# as those made before it did.
STATE_KEYS = ("sizes", "activations", "loss", "dtype", "parameters", "optimizer", "dropout")
OPTIONAL_STATE_KEYS = ("dropout",)


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


class Network:
    """A feed-forward stack of :class:`Layer` objects, trained by mini-batch SGD.

    Parameters
    ----------
    layers : sequence of Layer
        Consecutive sizes must chain and all layers share one dtype.  The
        network takes their parameters into its flat buffer (see
        :class:`Layer`'s notes).
    loss : {"mse", "cross_entropy", "binary_cross_entropy", "poisson"} or (callable, callable), optional
        By default, follows the last activation: softmax -> cross_entropy,
        sigmoid -> binary_cross_entropy, exp -> poisson, anything else -> mse.
        The last three are computed from the logits and need that output.  A
        pair ``(value, derivative)`` of numpy callables is a custom loss:
        ``value(out, Y)`` gives each sample's loss ``(n_samples,)`` and
        ``derivative(out, Y)`` its derivative with respect to the output
        ``(n_samples, n_outputs)``; it trains through numpy (check it with
        :func:`densecore.testing.check_gradients`) and cannot be saved.

    Attributes
    ----------
    parameters : ndarray of shape (n_parameters,)
        Every weight and bias, in one buffer: layer 0's weights row by row, its
        bias, then layer 1's, and so on.  Writing into it changes the model.
    optimizer : SGD, Adam or None
        The optimizer whose state the network holds, if it has trained.

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
        if self.layers[-1].dropout:
            raise ValueError(f"the output layer cannot drop its outputs: its dropout must be "
                             f"0, got {self.layers[-1].dropout}")
        dtypes = {layer.dtype for layer in self.layers}
        if len(dtypes) > 1:
            raise ValueError(f"all layers must share one dtype, got {sorted(map(str, dtypes))}")
        self._loss = losses.resolve(loss, self.layers[-1].activation_name)
        self._activations = [activations.resolve(layer.activation, layer.activation_derivative)
                             for layer in self.layers]
        self._parameters = _layout.empty(self.sizes, self.dtype)
        self._views = _layout.layer_views(self._parameters, self.sizes)
        for layer, (weights, bias) in zip(self.layers, self._views):
            layer.use_storage(weights, bias.reshape(-1, 1), owner=self)
        self._optimizer_state = None  # an optimizers.State once the network trains
        self._training = threading.Lock()
        # The compiled serving path (_train.Predictor), built by the first prediction
        # and rebuilt larger when a call needs more rows, up to a block; it reads
        # the parameters in place.  Python-callable activations stay on numpy.  One
        # thread at a time computes into its buffers (Predictor.claim and serve).
        self._compiled = all(activation.compiled for activation in self._activations)
        self._predictor = None

    @classmethod
    def from_sizes(cls, sizes, activation="relu", output_activation="softmax",
                   dtype=np.float64, init="he", seed=None, dropout=0.0):
        """A network whose layer sizes are ``sizes``, the input's size first.

        ``activation`` names the hidden layers' activation, or gives one name per
        hidden layer (a sequence of ``len(sizes) - 2``).  ``seed`` (an int or a
        Generator) draws every layer's parameters from one stream; ``None`` uses
        numpy's global random state.  ``dropout``: one rate in [0, 1) for every
        hidden layer, or a sequence of one rate per hidden layer (see
        :class:`Layer`); the output layer never drops.
        """
        sizes = [positive_int(size, "each size") for size in sizes]
        if len(sizes) < 2:
            raise ValueError(f"sizes needs at least an input and an output size, got {sizes}")
        hidden = len(sizes) - 2
        one_for_all = activation is None or isinstance(activation, str)
        names = [activation] * hidden if one_for_all else list(activation)
        if len(names) != hidden:
            raise ValueError(f"activation must be a name or one per hidden layer ({hidden}), "
                             f"got {activation!r}")
        rates = dropout_rates(dropout, hidden) + [0.0]
        rng = None if seed is None else np.random.default_rng(seed)
        return cls([
            Layer(n_out, n_in, name, dtype=dtype, init=init, rng=rng, dropout=rate)
            for n_in, n_out, name, rate in zip(sizes, sizes[1:], [*names, output_activation],
                                               rates)
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

    @property
    def dropout(self):
        """Each layer's dropout rate (the output layer's is 0)."""
        return [layer.dropout for layer in self.layers]

    @property
    def loss(self):
        """The loss's name (None for a custom loss)."""
        return self._loss.name

    @property
    def parameters(self):
        return self._parameters

    @property
    def optimizer(self):
        return None if self._optimizer_state is None else self._optimizer_state.optimizer

    # -- public API -------------------------------------------------------

    @one_training_at_a_time
    def fit(self, X, y, epochs=10, batch_size=32, learning_rate=0.01, shuffle=True,
            seed=None, verbose=False, *, optimizer="sgd", alpha=0.0, schedule="constant",
            power_t=0.5, clip_norm=None, validation_data=None, validation_split=0.0,
            early_stopping=False, patience=10, min_delta=0.0, callbacks=None,
            sample_weight=None, class_weight=None):
        """Train for ``epochs`` passes over the data; return the history.

        Parameters
        ----------
        X : array-like (n_samples, n_features) or scipy.sparse matrix or array
            Sparse input (CSR; CSC and other formats are converted to CSR once)
            feeds the first layer's products directly, its rows never made dense.
        y : array-like
            Integer labels ``(n,)`` or a ``(n, k)`` target matrix for
            cross_entropy; targets ``(n,)`` or ``(n, k)`` otherwise.
        epochs, batch_size, learning_rate, shuffle
            The passes, the mini-batch size (the last batch may be smaller),
            the step size and whether each pass visits the samples in a new
            random order.
        seed : None, int or Generator
            Draws the shuffling and the validation split and, where a layer
            has dropout, first the 64-bit key of its masks (see
            :class:`densecore.training.Session`): the same seed, data and
            settings give the same weights bit for bit.
        verbose : bool
            A progress bar (tqdm, if installed) or a line per epoch.
        optimizer : "sgd", "adam", "lbfgs", densecore.SGD, densecore.Adam or densecore.LBFGS
            Starts from a fresh state.  L-BFGS minimizes the loss of the whole
            training set (scipy's L-BFGS-B): ``epochs`` bounds its iterations,
            the history holds one value per iteration, and ``batch_size``,
            ``learning_rate``, ``shuffle`` and ``seed`` (but for the
            validation split) play no part; ``schedule``, ``clip_norm`` and
            ``early_stopping`` are refused, and so is a network with dropout
            (a full-batch optimizer needs one deterministic loss).
        alpha : float
            L2 penalty: ``alpha * W`` is added to each weight gradient.
        schedule : {"constant", "invscaling", "adaptive"}
            As scikit-learn: invscaling uses ``learning_rate / (t + 1) **
            power_t`` with t the samples seen in earlier epochs; adaptive divides
            the rate by 5 after ``patience`` epochs without an improvement of
            ``min_delta`` in the monitored loss.
        clip_norm : float, optional
            Scale each step's gradients so that their global norm is at most this.
        validation_data : (X_val, y_val) or (X_val, y_val, sample_weight_val), optional
        validation_split : float in [0, 1)
            Hold out this fraction of the samples (and of their weights), drawn
            at random, instead.
        early_stopping : bool
            Stop after ``patience`` epochs without an improvement of
            ``min_delta`` in the monitored loss (``val_loss`` with validation
            data, else ``loss``) and restore the best epoch's parameters.
        callbacks : iterable of objects with ``on_epoch_end(epoch, logs)``
            Called after each epoch with its logs; returning False stops training.
        sample_weight : array-like (n_samples,), optional
            Non-negative weights: each sample's loss and gradient count so many
            times, and every mean (of a batch, of an epoch, of the validation
            loss and accuracy) is the weighted mean, as in scikit-learn.
        class_weight : None, dict or "balanced"
            For the classification losses: each sample's weight is also its
            class's, ``{class index: weight}`` (1 for a class left out), or
            "balanced", scikit-learn's ``n_samples / (n_classes * count)``
            over the training samples, composed with ``sample_weight`` by
            multiplication.

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
        Y = self._targets(y, X.shape[0])
        weight = sample_weights(sample_weight, X.shape[0], self.dtype)
        if class_weight is not None:
            by_class = self._loss.class_weights(Y, class_weight).astype(self.dtype)
            weight = sample_weights(by_class if weight is None else by_class * weight,
                                    X.shape[0], self.dtype)
        rng = np.random.default_rng(seed)
        dropout_seed = self._dropout_seed(rng)
        (X, Y, weight), validation = self._split_validation(
            X, Y, weight, validation_data, validation_split, rng)
        epochs = non_negative_int(epochs, "epochs")
        patience = positive_int(patience, "patience")
        min_delta = finite_number(min_delta, "min_delta", minimum=0)
        if schedule not in training.SCHEDULES:
            raise ValueError(f"schedule must be one of {tuple(training.SCHEDULES)}, "
                             f"got {schedule!r}")
        power_t = finite_number(power_t, "power_t", minimum=0)
        learning_rate = finite_number(learning_rate, "learning_rate", minimum=0,
                                      open_interval=True)
        session = self._session(X, batch_size, optimizer, alpha, clip_norm,
                                dropout_seed=dropout_seed)

        def validate():
            return {f"val_{key}": value for key, value in self._score(*validation).items()}

        validate = None if validation is None else validate
        if session.optimizer_state.optimizer.full_batch:
            if early_stopping or clip_norm is not None or schedule != "constant":
                raise ValueError(f"{session.optimizer_state.optimizer!r} runs on the full batch: "
                                 "early_stopping, clip_norm and schedules do not apply")
            return training.minimize(session, X, Y, max_iter=epochs, sample_weight=weight,
                                     validate=validate, callbacks=list(callbacks or ()),
                                     verbose=verbose).history

        def run_epoch(rate):
            order = rng.permutation(X.shape[0]) if shuffle else np.arange(X.shape[0])
            return session.epoch(X, Y, order, rate, weight).logs(self._loss)

        schedule = (training.InvScaling(learning_rate, power_t=power_t,
                                        samples_per_epoch=X.shape[0])
                    if schedule == "invscaling" else training.SCHEDULES[schedule](learning_rate))
        return training.train(
            run_epoch, epochs=epochs, schedule=schedule,
            rule=training.Plateau("loss" if validation is None else "val_loss", patience,
                                  min_delta),
            stop_when_stalled=early_stopping,
            checkpoint=training.Checkpoint(self._parameters) if early_stopping else None,
            validate=validate, callbacks=list(callbacks or ()), verbose=verbose).history

    @one_training_at_a_time
    def partial_fit(self, X, y, *, batch_size=32, learning_rate=0.01, optimizer=None,
                    alpha=0.0, clip_norm=None, shuffle=True, seed=None, sample_weight=None):
        """One pass over ``X``, keeping the optimizer's state; return its mean loss.

        ``optimizer=None`` goes on with the optimizer in use ("sgd" before any
        training); another optimizer, or other settings, start a fresh state.
        ``sample_weight`` is ``fit``'s.  ``seed`` draws the order and, with
        dropout, first the key of the masks, as in ``fit``.
        """
        learning_rate = finite_number(learning_rate, "learning_rate", minimum=0,
                                      open_interval=True)
        X = self._samples(X)
        Y = self._targets(y, X.shape[0])
        weight = sample_weights(sample_weight, X.shape[0], self.dtype)
        if optimizer is None:
            optimizer = self.optimizer or "sgd"
        rng = np.random.default_rng(seed)
        session = self._session(X, batch_size, optimizer, alpha, clip_norm, keep_state=True,
                                dropout_seed=self._dropout_seed(rng))
        n_samples = X.shape[0]
        order = rng.permutation(n_samples) if shuffle else np.arange(n_samples)
        try:
            return session.epoch(X, Y, order, learning_rate, weight).logs(self._loss)["loss"]
        except FloatingPointError as error:
            raise FloatingPointError(f"training diverged: {error}") from None

    def predict(self, X, out=None):
        """The output layer's activations, ``(n_samples, output_size)``.

        Parameters
        ----------
        X : array-like or scipy.sparse matrix of shape (n_samples, n_features)
            Finite numbers, converted to the network's dtype.
        out : ndarray of shape (n_samples, output_size), optional
            A writable C-contiguous array of the network's dtype to write the
            result into (and return), so that a call allocates nothing.

        Returns
        -------
        ndarray of shape (n_samples, output_size)

        Notes
        -----
        Any number of rows runs in blocks of rows sized for the caches (see
        ``BLOCK_BYTES``), so memory beyond the result stays bounded.
        """
        predictor = self._predictor
        # The serving path: one sample or a few, already of the right dtype.  The
        # predictor checks dtype, shape and finite values in C; anything it
        # refuses (None), or a call while another thread computes into its
        # buffers, takes the full checks below, which say what is wrong.
        if predictor is not None:
            result = predictor.serve(X, out)
            if result is not None:
                return result
        X = self._samples(X)
        if out is not None:
            _check_out(out, (X.shape[0], self.sizes[-1]), self.dtype)
        if scipy.sparse.issparse(X) or not self._compiled:
            result = self._forward(X)[1]
            if out is None:
                return result
            out[...] = result
            return out
        result = np.empty((X.shape[0], self.sizes[-1]), self.dtype) if out is None else out
        if X.shape[0]:
            with self._compiled_predictor(X.shape[0]) as predictor:
                predictor.predict(X, result)
        return result

    def evaluate(self, X, y, sample_weight=None):
        """``{"loss": mean loss}``, with ``"accuracy"`` for the cross-entropies; both
        weighted means with ``sample_weight``."""
        X = self._samples(X)
        return self._score(X, self._targets(y, X.shape[0]),
                           sample_weights(sample_weight, X.shape[0], self.dtype))

    # -- training sessions and optimizer state -------------------------------

    def training_session(self, batch_size, *, alpha=0.0, clip_norm=None, l2_per_sample=False,
                         rollback=True, optimizer_state=None, dropout_seed=0):
        """A :class:`densecore.training.Session` over this network's parameters and
        optimizer state (a fresh SGD state if it has none), or over
        ``optimizer_state`` (a :class:`densecore.optimizers.State`), leaving the
        network's own alone; see the session for the other arguments.  ``fit``
        and ``partial_fit`` train through one."""
        if optimizer_state is None:
            if self._optimizer_state is None:
                self.reset_optimizer("sgd")
            optimizer_state = self._optimizer_state
        return training.Session(self.layers, self._parameters, self._loss, optimizer_state,
                                batch_size=batch_size, alpha=alpha, clip_norm=clip_norm,
                                l2_per_sample=l2_per_sample, rollback=rollback,
                                dropout_seed=dropout_seed)

    def reset_optimizer(self, optimizer=None):
        """Drop the optimizer state; with ``optimizer`` (a name or an object), start a
        fresh state of it (zero slots, no step taken)."""
        self._optimizer_state = None if optimizer is None else optimizers.State(
            optimizer, self._parameters.size, self.dtype)

    # -- the model's state, files and pickles --------------------------------

    def state(self):
        """The model as a plain dict, which :meth:`from_state` turns back into a network.

        Returns
        -------
        dict
            ``sizes`` (list of int, input first), ``activations`` (one name per
            layer; None for a Python callable, which no network can be built
            from), ``loss`` and ``dtype`` (str), ``parameters`` (a copy of
            :attr:`parameters`) and ``optimizer``: None before training, else
            ``{"name", "settings", "step", "slots"}`` with ``slots`` of shape
            ``(n_slots, n_parameters)`` in the layout of ``parameters``; and
            ``dropout``, each layer's rate (a list of float, the last 0).
        """
        return {"sizes": self.sizes, "activations": self.activation_names, "loss": self.loss,
                "dtype": self.dtype.name, "parameters": self._parameters.copy(),
                "optimizer": None if self._optimizer_state is None
                else self._optimizer_state.to_dict(), "dropout": self.dropout}

    @classmethod
    def from_state(cls, state):
        """The network that :meth:`state` describes, after checking all of it
        (``ValueError`` or ``TypeError`` saying what is wrong)."""
        missing = set(STATE_KEYS) - set(OPTIONAL_STATE_KEYS) - set(state)
        extra = set(state) - set(STATE_KEYS)
        if missing or extra:
            raise ValueError(f"a network's state has the keys {list(STATE_KEYS)}, got "
                             f"{sorted(map(str, state))}")
        sizes = [positive_int(size, "each size") for size in state["sizes"]]
        names = list(state["activations"])
        if len(sizes) < 2 or len(names) != len(sizes) - 1:
            raise ValueError(f"sizes {sizes} need one activation per layer and at least one "
                             f"layer, got activations {names}")
        if not all(isinstance(name, str) for name in names):
            raise ValueError(f"activations must be names, got {names}")
        rates = _state_dropout(state, len(names))
        layers = [Layer(n_out, n_in, name, dtype=state["dtype"], init=_zeros, dropout=rate)
                  for n_in, n_out, name, rate in zip(sizes, sizes[1:], names, rates)]
        network = cls(layers, loss=state["loss"])
        network.set_state(state)
        return network

    def set_state(self, state):
        """Set the parameters, the optimizer state and the dropout rates from ``state``,
        which must be of a network of this one's sizes, activations, loss and dtype;
        the layers keep their arrays."""
        given = [list(state["sizes"]), list(state["activations"]), state["loss"],
                 float_dtype(state["dtype"]).name]
        if given != [self.sizes, self.activation_names, self.loss, self.dtype.name]:
            raise ValueError(f"a state of sizes, activations, loss and dtype {given} does not "
                             f"fit {self!r}")
        rates = _state_dropout(state, len(self.layers))
        parameters = _layout.check_parameters(state["parameters"], self.sizes, self.dtype)
        optimizer = state["optimizer"]
        if optimizer is not None:
            optimizer = optimizers.State.from_dict(optimizer, self._parameters.size, self.dtype)
        self._parameters[...] = parameters
        self._optimizer_state = optimizer
        for layer, rate in zip(self.layers, rates):
            layer.dropout = rate

    def save(self, path):
        """Write the network, with its optimizer state, to the ``.npz`` file ``path``.

        The file holds arrays only (see :func:`densecore.load`).  It is
        written under a temporary name and renamed over ``path``, so a failed
        or killed save leaves a previous file there intact.  A network with a
        Python-callable activation cannot be saved (``ValueError``).
        """
        _serialization.save(self.state(), path)

    def save_onnx(self, path, *, opset=None, dtype=None):
        """Write the network to ``path`` as an ONNX model (needs the ``onnx`` extra):
        see :func:`densecore.onnx.to_onnx` for ``opset``, ``dtype`` and the model."""
        from densecore import onnx

        onnx.save(self, path, opset=opset, dtype=dtype)

    @classmethod
    def load(cls, path):
        """The network saved at ``path`` by :meth:`save`, ready to predict or resume training.

        Nothing is unpickled.  A file that is not a complete, consistent
        densecore model of a known format version raises ``ValueError``.
        """
        return _serialization.load(path, cls)

    def __reduce__(self):
        # A pickle (joblib, Dask) carries the bytes of a saved file and no other state.
        return _serialization.from_bytes, (_serialization.to_bytes(self.state()), type(self))

    # -- inputs -----------------------------------------------------------

    def _samples(self, X):
        return as_samples(X, "X", self.dtype, self.sizes[0])

    def _targets(self, y, n_samples):
        return self._loss.targets(y, n_samples, self.sizes[-1], self.dtype)

    def _split_validation(self, X, Y, weight, validation_data, validation_split, rng):
        """``((X, Y, weight) to train on, (X_val, Y_val, weight_val) or None)``, the
        weights None where none are given."""
        split = finite_number(validation_split, "validation_split", minimum=0)
        if split >= 1:
            raise ValueError(f"validation_split must lie in [0, 1), got {split}")
        if validation_data is not None:
            if split:
                raise ValueError("give validation_data or validation_split, not both")
            if len(validation_data) not in (2, 3):
                raise ValueError("validation_data must be (X_val, y_val) or (X_val, y_val, "
                                 f"sample_weight_val), got {len(validation_data)} items")
            X_val, y_val, weight_val = (*validation_data, None)[:3]
            X_val = self._samples(X_val)
            return (X, Y, weight), (X_val, self._targets(y_val, X_val.shape[0]),
                                    sample_weights(weight_val, X_val.shape[0], self.dtype))
        if not split:
            return (X, Y, weight), None
        n_val = int(X.shape[0] * split)
        if not 0 < n_val < X.shape[0]:
            raise ValueError(f"validation_split={split} of {X.shape[0]} samples leaves no "
                             "validation or no training samples")
        order = rng.permutation(X.shape[0])
        held_out, kept = order[:n_val], order[n_val:]
        return ((X[kept], Y[kept], None if weight is None else weight[kept]),
                (X[held_out], Y[held_out], None if weight is None else weight[held_out]))

    def _dropout_seed(self, rng):
        """The key of a run's dropout masks, drawn from its ``rng``; 0 (and nothing
        drawn, so that a run without dropout shuffles as before) without dropout."""
        return int(rng.integers(2 ** 64, dtype=np.uint64)) if any(self.dropout) else 0

    def _session(self, X, batch_size, optimizer, alpha, clip_norm, *, keep_state=False,
                 dropout_seed=0):
        """The session that fit or partial_fit trains with, the optimizer's state kept
        if ``keep_state`` and ``optimizer`` is the one in use."""
        if X.shape[0] == 0:
            raise ValueError("training needs at least one sample, got 0")
        batch_size = positive_int(batch_size, "batch_size")
        optimizer = optimizers.get(optimizer)
        if optimizer.full_batch:
            batch_size = training.FULL_BATCH_ROWS  # a block of the full batch
        batch_size = min(batch_size, X.shape[0])
        if not (keep_state and optimizer == self.optimizer):
            self.reset_optimizer(optimizer)
        return self.training_session(batch_size, alpha=alpha, clip_norm=clip_norm,
                                     dropout_seed=dropout_seed)

    # -- computation ------------------------------------------------------

    def _forward(self, X):
        """``(signal, out)`` of the output layer for the rows of ``X``."""
        if scipy.sparse.issparse(X):
            return self._forward_csr(X)
        signal, out = None, X
        for (weights, bias), activation in zip(self._views, self._activations):
            signal, out = activation.forward_rows(out, weights, bias)
        return signal, out

    def _forward_csr(self, X):
        """``_forward`` for a CSR ``X``, in blocks of the full batch's rows: the first
        layer through the CSR kernel on the block's rows as they are, the others dense;
        only the output layer's signal and out are kept for every row."""
        rows = training.FULL_BATCH_ROWS
        signal = np.empty((X.shape[0], self.sizes[-1]), self.dtype)
        out = np.empty_like(signal)
        arrays = csr_arrays(X)
        (W, b), first = self._views[0], self._activations[0]
        for start in range(0, X.shape[0], rows):
            stop = min(start + rows, X.shape[0])
            block_signal, block_out = training.forward_csr(first, X, W, b, start, stop, arrays)
            for (weights, bias), activation in zip(self._views[1:], self._activations[1:]):
                block_signal, block_out = activation.forward_rows(block_out, weights, bias)
            signal[start:stop], out[start:stop] = block_signal, block_out
        return signal, out

    def _score(self, X, Y, weight=None):
        """Loss and accuracy over the rows of ``X``, summed block by block so that
        no more than a block's outputs are held at once."""
        if X.shape[0] == 0:
            raise ValueError("evaluate needs at least one sample, got 0")
        if scipy.sparse.issparse(X) or not self._compiled:
            blocks = [(0, X.shape[0], self._forward(X))]
        else:
            blocks = self._blocks(X)
        total = right = 0
        for start, stop, (signal, out) in blocks:
            w = None if weight is None else weight[start:stop]
            total += self._loss.gradient(self._activations[-1], signal, out, Y[start:stop], w)[0]
            right += self._loss.right_answers(out, Y[start:stop], w)
        samples = X.shape[0] if weight is None else float(weight.sum())
        tally = training.Tally(total, right, samples,
                               self._loss.answers(samples, self.sizes[-1]))
        return tally.logs(self._loss)

    def _blocks(self, X):
        """``(start, stop, (signal, out))`` of the output layer for each block of the
        dense rows of ``X``, through the compiled predictor (views of its buffers,
        valid until the next block)."""
        with self._compiled_predictor(X.shape[0]) as predictor:
            for start in range(0, X.shape[0], predictor.capacity):
                stop = min(start + predictor.capacity, X.shape[0])
                yield start, stop, predictor.forward(X[start:stop])

    @contextlib.contextmanager
    def _compiled_predictor(self, rows):
        """The network's predictor (built, or rebuilt larger, for ``rows`` rows up to
        a block), or a private one while another thread uses it: its buffers are
        shared state."""
        widest = max(self.sizes[1:]) * self.dtype.itemsize
        capacity = max(1, min(rows, BLOCK_BYTES // widest))
        predictor = self._predictor
        if predictor is not None and not predictor.claim():
            with _threads.compiled_products():
                yield self._new_predictor(capacity)
            return
        if predictor is None or predictor.capacity < capacity:
            # Claimed before it is published; the one it replaces serves whichever
            # thread claims it next, as a private one would.
            if predictor is not None:
                predictor.release()
            predictor = self._new_predictor(capacity)
            predictor.claim()
            self._predictor = predictor
        try:
            with _threads.compiled_products():
                yield predictor
        finally:
            predictor.release()

    def _new_predictor(self, capacity):
        return _train.Predictor([(W, b.reshape(-1), activation.code) for (W, b), activation
                                 in zip(self._views, self._activations)], capacity)


def _check_out(out, shape, dtype):
    """``ValueError``/``TypeError`` unless ``out`` can take a result of ``shape``."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy array, got {type(out).__name__}")
    if out.dtype != dtype:
        raise TypeError(f"out must have dtype {dtype}, got {out.dtype}")
    if out.shape != shape:
        raise ValueError(f"out must have shape {shape}, got shape {out.shape}")
    if not (out.flags.c_contiguous and out.flags.writeable):
        raise ValueError("out must be a writable C-contiguous array")


def _state_dropout(state, n_layers):
    """The per-layer rates of ``state`` (zeros where it has none), checked."""
    rates = state.get("dropout")
    if rates is None:
        return [0.0] * n_layers
    rates = list(rates)
    if len(rates) != n_layers:
        raise ValueError(f"dropout must hold one rate per layer ({n_layers}), got {rates}")
    rates = [dropout_rate(rate, "each dropout rate") for rate in rates]
    if rates[-1]:
        raise ValueError(f"the output layer cannot drop its outputs: its dropout must be 0, "
                         f"got {rates[-1]}")
    return rates


def _zeros(shape, rng):
    """An initializer that draws nothing: the parameters are set right after."""
    return np.zeros(shape)
