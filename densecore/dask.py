"""Scale-out on dask.distributed: prediction and data-parallel training.

Dask owns scheduling, data placement, transfers and worker failure; this
module adds the algorithm.  :func:`predict` and :func:`predict_proba` map a
model over the row chunks of a Dask array.  :func:`fit` trains a network by
synchronous local SGD with model averaging: one replica per row chunk runs
``sync_every`` mini-batches on its chunk, where the chunk lives, and each
replica of the next round starts from the average of the replicas'
parameters and optimizer state, all on the workers.
:class:`DaskDenseClassifier` and :class:`DaskDenseRegressor` put that behind
the scikit-learn estimator API.

Importing this module needs ``dask[distributed]`` and scikit-learn (the
``dask`` and ``sklearn`` extras); ``import densecore`` imports neither.
"""
import math
import threading
from numbers import Integral
from typing import NamedTuple

import dask
import dask.array as da
import numpy as np
from distributed import default_client
from sklearn.base import _fit_context
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions

from densecore import losses, optimizers, training
from densecore._validation import finite_number, non_negative_int, positive_int
from densecore.kernels import FLOAT_DTYPES
from densecore.network import Network
from densecore.sklearn import SEED_BOUND, SOLVERS, DenseClassifier, DenseRegressor

# Added to a run's dropout key per row chunk (times the chunk's number): an odd
# 64-bit constant (2**64 / golden ratio), so each chunk's replicas draw their own masks.
DROPOUT_KEY_STRIDE = 0x9E3779B97F4A7C15

__all__ = ["DaskDenseClassifier", "DaskDenseRegressor", "fit", "predict", "predict_proba"]


# -- prediction ---------------------------------------------------------------


def predict(model, X):
    """``model.predict`` over the row chunks of ``X``, lazily.

    Parameters
    ----------
    model : Network or fitted densecore.sklearn estimator
    X : dask.array.Array of shape (n_samples, n_features)
        Chunked along rows; a chunked feature axis is rechunked to one chunk.

    Returns
    -------
    dask.array.Array
        The predictions, with the row chunks of ``X``.  The graph holds one
        copy of ``model``, so it travels to each worker once per compute.
    """
    return _map_rows(model, "predict", X)


def predict_proba(model, X):
    """``model.predict_proba`` over the row chunks of ``X``, lazily.

    For a :class:`~densecore.Network` this is its output, which must be
    probabilities: a softmax or sigmoid output layer trained with a
    cross-entropy.  Parameters and return value are those of :func:`predict`.
    """
    if isinstance(model, Network):
        if losses.LOSSES[model.loss].accuracy is None:
            raise ValueError("predict_proba needs a network with a softmax or sigmoid "
                             f"output and a cross-entropy loss, got loss={model.loss!r}")
        return _map_rows(model, "predict", X)
    return _map_rows(model, "predict_proba", X)


def _n_features(model):
    if isinstance(model, Network):
        return model.sizes[0]
    n_features = getattr(model, "n_features_in_", None)
    if n_features is None:
        raise TypeError("model must be a densecore Network or a fitted densecore.sklearn "
                        f"estimator, got {type(model).__name__}")
    return n_features


def _rows(X, n_features=None, name="X"):
    """``X`` checked as a 2-d Dask array (of ``n_features`` columns) in one column chunk."""
    if not isinstance(X, da.Array):
        raise TypeError(f"{name} must be a dask.array.Array, got {type(X).__name__}")
    if X.ndim != 2 or X.shape[1] != (X.shape[1] if n_features is None else n_features):
        expected = "n_features" if n_features is None else n_features
        raise ValueError(f"{name} must have shape (n_samples, {expected}), got {X.shape}")
    if any(math.isnan(size) for size in X.chunks[0]):
        raise ValueError(f"{name} has unknown chunk sizes; call {name}.compute_chunk_sizes()")
    return X.rechunk({1: -1})


def _apply(block, model, method):
    return getattr(model, method)(block)


def _map_rows(model, method, X):
    X = _rows(X, _n_features(model))
    # One row through the model gives the output's columns and dtype, which
    # map_blocks would otherwise find by calling the model on the delayed copy.
    sample = getattr(model, method)(np.zeros((1, X.shape[1]), X.dtype))
    chunks = (X.chunks[0], *((n,) for n in sample.shape[1:]))
    # A delayed model is one node of the graph that every block depends on.
    return X.map_blocks(_apply, dask.delayed(model, pure=True), method, chunks=chunks,
                        drop_axis=[1] if sample.ndim == 1 else [],
                        meta=np.empty((0,) * sample.ndim, sample.dtype))


# -- data-parallel training ---------------------------------------------------


def fit(net, X, y, *, epochs=10, batch_size=32, learning_rate=0.01, optimizer="sgd",
        sync_every=1, seed=None, shuffle=True, alpha=0.0, clip_norm=None, client=None,
        callbacks=None, verbose=False, scaling="linear", warmup=0, split_every=4):
    """Train ``net`` in place on Dask arrays by synchronous local SGD; return the history.

    Each row chunk of ``X`` trains a replica of ``net``.  A round is
    ``sync_every`` mini-batches of every replica, as
    :meth:`Network.partial_fit` runs them; the replicas' parameters and
    optimizer state are then averaged, weighted by the samples each saw in the
    round, and every replica of the next round starts from that average.  The
    average is a tree of partial sums over the chunks in their row order, each
    node adding up to ``split_every`` nodes below it (as dask.array's
    reductions), and its root is one value that the next round's tasks share:
    a round has O(k) dependencies and O(log k) depth for k chunks, where
    averaging every replica with every other would have k².

    Chunks are not workers: one task trains the replicas of a run of
    consecutive chunks (whole subtrees of the tree of sums, gathered onto one
    worker once per call) and sends on their partial sums alone, so that a round
    has about as many training tasks as the cluster has threads, however
    finely ``X`` is chunked.  The result is decided by ``seed``, the chunks
    (their number, sizes and order) and ``split_every``: not by the number of
    workers, which only sets how many chunks a task trains, nor by where Dask
    places the chunks.  The same seed and chunks give the same model, bit for
    bit, on any cluster.

    The rounds of an epoch are submitted together, so the workers pass the
    average on without waiting for the client, which gathers it once per
    epoch.  An epoch visits every chunk's rows once, in an order drawn per
    chunk from one generator seeded by ``seed``: with a single chunk, the
    batches and the result are those of ``Network.fit`` with the same ``seed``.

    Parameters
    ----------
    net : Network
        Trained in place; it starts from a fresh optimizer state, as ``Network.fit``.
    X : dask.array.Array of shape (n_samples, n_features)
        Chunked along rows: each chunk trains one replica.  Finer chunks are
        more replicas (of fewer samples each), not more tasks.
    y : dask.array.Array of shape (n_samples,) or (n_samples, n_outputs)
        Labels or targets, as ``Network.fit`` takes them; rechunked to the row
        chunks of ``X``.
    epochs, batch_size, learning_rate, optimizer, alpha, clip_norm
        As ``Network.fit``; ``batch_size`` is per replica.
    sync_every : int
        Mini-batches each replica runs between two averagings.
    seed : None, int or Generator
        Draws the order of each epoch and, where ``net`` has dropout, first the
        key of the masks (a chunk's replicas use the key plus the chunk's number
        times ``DROPOUT_KEY_STRIDE``; their step count goes on from the
        network's).
    shuffle : bool
        Whether each epoch visits each chunk's rows in a new random order, or
        in the order of the rows.
    client : distributed.Client, optional
        The default client if None.
    callbacks : iterable of objects with ``on_epoch_end(epoch, logs)``
        Called after each epoch; returning False stops training.
    verbose : bool
        A progress bar (tqdm, if installed) or a line per epoch.
    scaling : {"linear", None}, default "linear"
        How the replicas' learning rate follows their number ``k`` (the row
        chunks that hold rows).  ``k`` replicas averaged take ``k`` times fewer
        steps per epoch than ``Network.fit`` on the same rows, and with its
        rate they fall behind it (4 replicas lost 4 to 8 points of accuracy on
        a 20-32-3 classifier after 40 epochs).  "linear" multiplies the rate by
        ``k`` (Goyal et al. 2017, "Accurate, Large Minibatch SGD"), which
        recovers ``Network.fit``'s accuracy with its hyper-parameters; it is the
        default so that moving from ``fit`` to ``dask.fit`` changes nothing
        else.  None keeps ``learning_rate`` as it is.  One chunk is unchanged
        either way.
    warmup : int, default 0
        Epochs over which the rate grows linearly from ``learning_rate`` to
        ``k`` times it (Goyal et al.'s gradual warm-up, for many replicas or
        large rates).
    split_every : int, default 4
        The fan-in of the tree of partial sums: larger is fewer tasks and
        levels per round, and more data into each of them.  It decides the
        order of the additions, and so the last bits of the result.

    Returns
    -------
    history : dict of lists, one value per epoch
        As ``Network.fit`` gives it without validation: ``loss`` (the mean
        training loss, computed on the workers), ``accuracy`` for the
        cross-entropies (scored on each batch before its update) and
        ``learning_rate`` (the replicas' rate).

    Raises
    ------
    RuntimeError
        If a round fails beyond what Dask recovers from (a task that raised,
        such as non-finite averaged parameters, or a worker that died too
        often); the message names the round.

    Notes
    -----
    After an error ``net`` holds the parameters averaged at the end of the
    last epoch that completed: finite, and never a partial average.  A worker
    that dies is Dask's to recover: the chunks and averages it held are
    recomputed from the graph (back to the start of the epoch at most), and
    the result is the same as without the failure.  docs/data-parallel.md
    gives each round's traffic and dependencies, and a choice of
    ``sync_every``, for clusters of up to a thousand workers.
    """
    client = default_client() if client is None else client
    epochs = non_negative_int(epochs, "epochs")
    learning_rate = finite_number(learning_rate, "learning_rate", minimum=0, open_interval=True)
    if scaling not in ("linear", None):
        raise ValueError(f"scaling must be 'linear' or None, got {scaling!r}")
    warmup = non_negative_int(warmup, "warmup")
    run = _DataParallelRun(client, net, X, y, batch_size=batch_size, sync_every=sync_every,
                           optimizer=optimizer, alpha=alpha, clip_norm=clip_norm, seed=seed,
                           shuffle=shuffle, split_every=split_every)
    schedule = training.Constant(learning_rate)
    if scaling == "linear":
        schedule = training.Scaled(schedule, run.replicas, warmup)
    return training.train(run.epoch, epochs=epochs, schedule=schedule,
                          callbacks=list(callbacks or ()), verbose=verbose).history


class _DataParallelRun:
    """A network trained on the row chunks of Dask arrays, one epoch at a time.

    The chunks are gathered once into groups of consecutive chunks, a group a
    task of each round; each :meth:`epoch` runs its rounds on the workers and
    leaves the averaged parameters in the network.
    """

    def __init__(self, client, net, X, y, *, batch_size, sync_every, optimizer, alpha,
                 clip_norm, seed, shuffle, l2_per_sample=False, split_every=4):
        if not isinstance(net, Network):
            raise TypeError(f"net must be a densecore Network, got {type(net).__name__}")
        if not all(net.activation_names):
            raise ValueError("data-parallel training needs named activations, got a "
                             "Python-callable activation")
        self.span = positive_int(batch_size, "batch_size") * positive_int(sync_every, "sync_every")
        self.split_every = positive_int(split_every, "split_every")
        if self.split_every < 2:
            raise ValueError(f"split_every must be at least 2, got {split_every}")
        X, y = client.persist(list(_training_arrays(net, X, y)))
        self.client, self.net = client, net
        self.sizes = X.chunks[0]
        self.replicas = sum(1 for size in self.sizes if size)  # the chunks that hold rows
        self.n_rounds = max(math.ceil(size / self.span) for size in self.sizes)
        self.groups, self.data, self.hints = self._gather_groups(_chunk_futures(client, X, y))
        self.settings = {"batch_size": batch_size, "alpha": alpha, "clip_norm": clip_norm,
                         "l2_per_sample": l2_per_sample, "split_every": self.split_every,
                         "subtree": self.subtree}
        optimizer = optimizers.get(optimizer)
        if optimizer.full_batch:
            raise ValueError(f"data-parallel training averages mini-batch SGD replicas; "
                             f"{optimizer!r} is a full-batch quasi-Newton method: train with "
                             "Network.fit on one machine")
        net.reset_optimizer(optimizer)
        rng = np.random.default_rng(seed)
        # Drawn first, as Network.fit draws it: one chunk trains as Network.fit does.
        self.settings["dropout_seed"] = (int(rng.integers(2 ** 64, dtype=np.uint64))
                                         if any(net.dropout) else 0)
        self.rng = rng if shuffle else None
        self.epochs_run = 0

    def _gather_groups(self, chunks):
        """The groups of chunk numbers, a future of each group's rows and the workers each
        is meant for.  The hints spread the groups over the cluster's threads; they
        place work and never change a result (and a dead worker's tasks go elsewhere)."""
        threads = sorted(address for address, n in self.client.nthreads().items()
                         for _ in range(n))
        self.subtree, self.per_group = group_size(len(chunks), max(1, len(threads)),
                                                  self.split_every)
        size = self.subtree * self.per_group
        groups = [range(start, min(start + size, len(chunks)))
                  for start in range(0, len(chunks), size)]
        # No hint for a cluster whose workers have yet to come (an adaptive one).
        hints = [[threads[i % len(threads)]] if threads else None for i in range(len(groups))]
        data = [self.client.submit(_gather_rows, [chunks[j] for j in group],
                                   workers=hint, allow_other_workers=bool(hint), pure=False)
                for group, hint in zip(groups, hints)]
        return groups, data, hints

    def epoch(self, learning_rate):
        """One epoch at ``learning_rate``; its logs (``loss``, and ``accuracy`` for the
        cross-entropies).  ``RuntimeError`` naming the round if one fails."""
        self.epochs_run += 1
        orders = [np.arange(size) if self.rng is None else self.rng.permutation(size)
                  for size in self.sizes]
        rounds = [[order[r * self.span:(r + 1) * self.span] for order in orders]
                  for r in range(self.n_rounds)]
        names = [f"round {r + 1} of {self.n_rounds} in epoch {self.epochs_run}"
                 for r in range(self.n_rounds)]
        average = self._run_rounds(rounds, names, learning_rate)
        self.net.set_state(average.state)
        return average.tally.logs(losses.LOSSES[self.net.loss])

    def _run_rounds(self, rounds, names, learning_rate):
        """The :class:`_Average` after the last of ``rounds``, with their tally."""
        client, settings = self.client, {**self.settings, "learning_rate": learning_rate}
        # The starting state is data inside a task, so that Dask can recompute it
        # (and the chain of rounds after it) if the worker holding it dies.
        average = client.submit(_start_of_epoch, self.net.state(), pure=False)
        round_of_task = {}
        for rows, name in zip(rounds, names):
            tasks = []
            # Each value holds a list of nodes of the tree: a group's subtrees, then one.
            values, per = self._train_groups(average, rows, name, settings, tasks), self.per_group
            while len(values) * per > self.split_every:
                step = self.split_every // per
                values = [self._add(values[i:i + step], per, name, tasks)
                          for i in range(0, len(values), step)]
                per = 1
            # The root: one key that every task of the next round depends on.
            average = client.submit(_average_round, values, average, name, pure=False)
            tasks.append(average)
            round_of_task.update(dict.fromkeys((task.key for task in tasks), name))
        try:
            return average.result()
        except Exception as error:
            failed, cause = self._failed_round(error, round_of_task)
            raise RuntimeError(f"data-parallel training failed in {failed}: {cause!r}; the "
                               "network keeps the parameters averaged before that epoch"
                               ) from error

    def _train_groups(self, average, rows, name, settings, tasks):
        """A future of each group's partial sums after training on its ``rows`` of the
        round (None for a group with none left), appended to ``tasks`` too."""
        total = sum(len(part) for part in rows)
        nodes = []
        for group, data, hint in zip(self.groups, self.data, self.hints):
            # Each chunk's rows, and its weight in the average: its share of the
            # round's samples.
            plan = [(j, rows[j], len(rows[j]) / total) for j in group]
            if not any(len(part) for _, part, _ in plan):
                nodes.append(None)
                continue
            nodes.append(self.client.submit(_train_replicas, average, name, data, plan, settings,
                                            workers=hint, allow_other_workers=bool(hint),
                                            pure=False))
            tasks.append(nodes[-1])
        return nodes

    def _add(self, values, per, name, tasks):
        """One node of the tree above ``values`` (of ``per`` nodes each): a task adding
        their nodes; a lone node itself, and None if there is none."""
        present = [value for value in values if value is not None]
        if not present or (per == 1 and len(present) == 1):
            return present[0] if present else None
        tasks.append(self.client.submit(_add_task, present, name, pure=False))
        return tasks[-1]

    def _failed_round(self, error, round_of_task):
        """The round that ``error`` comes from, and its cause."""
        if isinstance(error, _RoundFailed):  # raised by a task of ours
            return error.round, error.error
        # KilledWorker names the task whose workers died too often.
        return round_of_task.get(getattr(error, "task", None), f"epoch {self.epochs_run}"), error


def group_size(n_chunks, n_threads, split_every):
    """``(subtree, per_group)``: one task trains ``per_group`` whole subtrees of
    ``subtree`` consecutive chunks (a power of ``split_every``), ``per_group``
    dividing ``split_every``, so that the tasks above add whole nodes of the same
    tree.  The most chunks a task that leaves at least ``n_threads`` groups, or
    all of them in one group where they are fewer."""
    best, subtree = (1, 1), 1
    while True:
        for per_group in range(1, split_every):
            if split_every % per_group:
                continue
            size = subtree * per_group
            if math.ceil(n_chunks / size) < n_threads:
                return best
            best = (subtree, per_group)
            if size >= n_chunks:
                return best
        subtree *= split_every


def _training_arrays(net, X, y):
    """``(X, y)`` checked, with one feature chunk and the rows of ``y`` chunked as ``X``'s."""
    X = _rows(X, net.sizes[0])
    if not isinstance(y, da.Array):
        raise TypeError(f"y must be a dask.array.Array, got {type(y).__name__}")
    if y.ndim not in (1, 2) or y.shape[0] != X.shape[0]:
        raise ValueError(f"y must have shape ({X.shape[0]},) or ({X.shape[0]}, n_outputs), "
                         f"got {y.shape}")
    if X.shape[0] == 0:
        raise ValueError("training needs at least one sample, got 0")
    return X, y.rechunk({0: X.chunks[0], **({1: -1} if y.ndim == 2 else {})})


def _chunk_futures(client, X, y):
    """``[(X chunk, y chunk)]`` as futures of the persisted arrays, in row order."""
    parts = [*X.to_delayed(optimize_graph=False).ravel(),
             *y.to_delayed(optimize_graph=False).ravel()]
    futures = client.compute(parts)
    return list(zip(futures[:len(parts) // 2], futures[len(parts) // 2:]))


def _gather_rows(chunks):
    """A group's ``[(X, y)]``, a pair per chunk, held by the worker that runs this task
    (no copy of the chunks it held already)."""
    return chunks


class _Partial(NamedTuple):
    """A node of the tree of sums: its replicas' parameters and optimizer slots, each
    times its share of the round's samples, summed; their largest step count; and
    what they scored."""

    parameters: np.ndarray
    slots: np.ndarray
    step: int
    tally: training.Tally


class _Average(NamedTuple):
    """A round's root: the averaged state, and the tally of the epoch up to it."""

    state: dict  # as Network.state gives it
    tally: training.Tally


class _RoundFailed(Exception):
    """An error in a task of ``round``, which the client names."""

    def __init__(self, round, error):
        super().__init__(round, error)
        self.round, self.error = round, error


_NOTHING = training.Tally(0.0, 0, 0, 0)


def _start_of_epoch(state):
    """An epoch's starting point, which scored nothing."""
    return _Average(state, _NOTHING)


def _train_replicas(average, name, data, plan, settings):
    """The partial sums of a group: a replica of the ``average`` trained on each
    ``(chunk, rows, share)`` of ``plan`` that has rows (of the chunk's ``(X, y)`` in
    ``data``), then the sum of each subtree."""
    try:
        leaves = [_train_replica(average.state, X[rows], y[rows], chunk, share, settings)
                  if len(rows) else None for (X, y), (chunk, rows, share) in zip(data, plan)]
        size = settings["subtree"]
        return [_subtree_sum(leaves[i:i + size], settings["split_every"])
                for i in range(0, len(leaves), size)]
    except Exception as error:
        raise _RoundFailed(name, error) from error


def _train_replica(state, X, y, chunk, share, settings):
    """A leaf: a replica of ``state`` trained on the rows ``X``, ``y`` of ``chunk``,
    weighted by ``share``."""
    # The replica's step count goes on from the average's; its chunk's number
    # changes the key, so that replicas of one round draw different masks.
    session = _replica_session(state, {
        "batch_size": min(settings["batch_size"], len(X)), "alpha": settings["alpha"],
        "clip_norm": settings["clip_norm"], "l2_per_sample": settings["l2_per_sample"],
        "dropout_seed": (settings["dropout_seed"] + chunk * DROPOUT_KEY_STRIDE) % 2 ** 64
        if any(state["dropout"]) else 0})
    X, Y = session.data(X, y)
    tally = session.epoch(X, Y, np.arange(len(X)), settings["learning_rate"])
    if not math.isfinite(tally.loss):
        raise FloatingPointError("the training loss stopped being finite; try a smaller "
                                 "learning_rate")
    optimizer = session.optimizer_state
    # One replica's share is 1.0: a single chunk's average is its replica exactly.
    return _Partial(share * session.parameters, share * optimizer.slots, optimizer.step, tally)


# The session each worker thread trained its last replica with.  Building a
# network costs more than a round of a small model, and most of it is fresh
# memory, which Dask's workers hand back to the system on every free
# (MALLOC_TRIM_THRESHOLD_): a thread reuses it for the next replica of the
# same model and settings, overwriting all it holds.
_LAST = threading.local()


def _replica_session(state, options):
    """A session (with ``options``, rollback off) over a replica of ``state``: its
    parameters, optimizer slots and step are the state's."""
    optimizer = state["optimizer"]
    model = ({key: value for key, value in state.items() if key != "parameters"}
             | {"optimizer": {key: optimizer[key] for key in ("name", "settings")}})
    last = getattr(_LAST, "session", None)
    if last is None or last[:2] != (model, options):
        replica = Network.from_state(state)
        _LAST.session = last = (model, options, replica.training_session(rollback=False,
                                                                         **options))
    session = last[2]
    np.copyto(session.parameters, state["parameters"])
    np.copyto(session.optimizer_state.slots, optimizer["slots"])
    session.optimizer_state.step = optimizer["step"]
    return session


def _subtree_sum(nodes, split_every):
    """The tree of sums over ``nodes`` (None where a chunk had no rows), level by
    level in their order: the same additions as the tasks above a group make."""
    while len(nodes) > 1:
        nodes = [_sum(nodes[i:i + split_every], owned=True)
                 for i in range(0, len(nodes), split_every)]
    return nodes[0]


def _sum(nodes, owned=False):
    """``nodes`` added left to right, skipping None (None if all are); into the first
    one's arrays where this task ``owned`` them (never into a value Dask holds)."""
    present = [node for node in nodes if node is not None]
    if len(present) < 2:
        return present[0] if present else None
    parameters, slots = present[0].parameters, present[0].slots
    if not owned:
        parameters, slots = parameters.copy(), slots.copy()
    for node in present[1:]:
        parameters += node.parameters
        slots += node.slots
    return _Partial(parameters, slots, max(node.step for node in present),
                    sum((node.tally for node in present), _NOTHING))


def _add_task(values, name):
    """A task of the tree: the nodes of ``values`` added, as a list of one."""
    try:
        return [_sum(_nodes(values))]
    except Exception as error:
        raise _RoundFailed(name, error) from error


def _nodes(values):
    """The nodes that ``values`` (lists of nodes, or None) hold, in order."""
    return [node for value in values if value is not None for node in value]


def _average_round(values, previous, name):
    """The round's root: the top nodes in ``values`` added into the average that the
    next round starts from, after the ``previous`` one.  ``FloatingPointError`` (as
    ``_RoundFailed``) if it is not finite."""
    total = _sum(_nodes(values))
    if not np.isfinite(total.parameters).all():
        raise _RoundFailed(name, FloatingPointError(
            f"the averaged parameters are not finite after {name}; try a smaller "
            "learning_rate"))
    state = previous.state
    optimizer = {**state["optimizer"], "slots": total.slots, "step": total.step}
    return _Average({**state, "parameters": total.parameters, "optimizer": optimizer},
                    previous.tally + total.tally)


# -- scikit-learn estimators ---------------------------------------------------

class _DaskDenseMixin:
    """``fit`` on Dask arrays by :func:`fit`, and prediction on Dask arrays, for the
    estimators of :mod:`densecore.sklearn`, whose parameters and numpy methods are kept."""

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Train for up to ``max_iter`` epochs on Dask arrays, on the default client.

        Parameters
        ----------
        X : dask.array.Array of shape (n_samples, n_features)
            Chunked along rows; each row chunk trains one replica.
        y : dask.array.Array of shape (n_samples,)
            The labels (classifier) or targets (regressor); a regressor also
            takes ``(n_samples, n_targets)``.
        sample_weight : None
            Not taken on Dask yet: a ``ValueError`` names the way round it.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        if sample_weight is not None or getattr(self, "class_weight", None) is not None:
            raise ValueError("the Dask estimators do not take sample_weight or class_weight "
                             "yet: repeat the rows in the Dask array, or fit the estimator of "
                             "densecore.sklearn on an array that fits in memory")
        self._refuse_what_dask_cannot_train()
        self._check_settings()
        X = _rows(X)
        if X.dtype not in FLOAT_DTYPES:
            X = X.astype(np.float64)
        reset = not (self.warm_start and hasattr(self, "_network"))
        targets, n_outputs = self._dask_targets(y)
        rng = check_random_state(self.random_state)
        if reset:
            self.n_features_in_ = X.shape[1]
            self._initialize(X.shape[1], n_outputs, X.dtype, rng)
        self._set_dropout()
        self._start_optimizer()
        n_samples = X.shape[0]
        batch_size = self._batch_size(n_samples)
        run = _DataParallelRun(
            default_client(), self._network, X, targets, batch_size=batch_size,
            sync_every=self.sync_every, optimizer=self._network.optimizer,
            alpha=self.alpha / self._gradient_scale(), l2_per_sample=True, clip_norm=None,
            seed=rng.randint(SEED_BOUND), shuffle=self.shuffle)

        # The replicas' rate: the estimator's times the number of replicas, reached
        # over the warm-up epochs, as dask.fit's scaling (the schedule sees its own).
        replicas = training.Scaled(training.Constant(1.0),
                                   run.replicas if self.scaling == "linear" else 1, self.warmup)

        def run_epoch(rate):
            factor = replicas.rate
            replicas.after_epoch()
            mean_loss = run.epoch(self._step_rate(rate) * factor)["loss"]
            return {"loss": self._penalized(mean_loss, n_samples, -(-n_samples // batch_size))}

        # scikit-learn's epochs, schedules and stopping rules, on the cluster.
        self._run_epochs(run_epoch, n_samples, None, incremental=False)
        return self

    def _refuse_what_dask_cannot_train(self):
        """``ValueError`` for the settings that data-parallel training does not take."""
        if self.solver not in SOLVERS:
            raise ValueError(f"the Dask estimators train with a solver in {SOLVERS}, got "
                             f"solver={self.solver!r}")
        if self.early_stopping:
            raise ValueError("the Dask estimators do not support early_stopping=True: "
                             "hold out a validation set with dask_ml.model_selection."
                             "train_test_split and score it instead")

    def predict(self, X):
        """``predict`` of :mod:`densecore.sklearn`; lazily, by row chunk, for a Dask array."""
        if isinstance(X, da.Array):
            return _map_rows(self, "predict", X)
        return super().predict(X)


_DASK_PARAMETERS = """
    The parameters and attributes are those of the estimator underneath, with
    these more:

    sync_every : int, default=1
        Mini-batches each replica runs between two averagings.
    scaling : "linear" or None, default="linear"
        The replicas step with the estimator's learning rate times their
        number (the row chunks), as :func:`densecore.dask.fit`'s linear scaling
        rule; None steps with the estimator's rate as it is.
    warmup : int, default=0
        Epochs over which that factor grows linearly from 1.

    ``fit`` takes Dask arrays, needs a ``distributed.Client`` (the default
    one) and trains as :func:`densecore.dask.fit` does, one replica per row
    chunk of ``X``, with ``batch_size`` samples per replica and batch, under
    the estimator's epochs, learning-rate schedules, stopping rule, warm start
    and ``verbose`` lines (printed by the client); ``early_stopping=True`` (it
    would hold out part of a Dask array) and ``solver="lbfgs"`` (a full-batch
    method) are refused with a ``ValueError``.  The other methods are those of
    the estimator underneath, and ``predict`` (with ``predict_proba`` and
    ``predict_log_proba``) of a Dask array are lazy Dask arrays.
"""

# scikit-learn's parameter validation: the estimator's constraints, and sync_every's.
_DASK_ONLY = {"sync_every": [Interval(Integral, 1, None, closed="left")],
              "scaling": [StrOptions({"linear"}), None],
              "warmup": [Interval(Integral, 0, None, closed="left")]}


class DaskDenseClassifier(_DaskDenseMixin, DenseClassifier):
    __doc__ = f"""A :class:`densecore.sklearn.DenseClassifier` that trains on Dask arrays.
    {_DASK_PARAMETERS}
    Only one-dimensional labels are taken (binary or multiclass).

    Examples
    --------
    >>> import dask.array as da
    >>> from distributed import Client
    >>> from densecore.dask import DaskDenseClassifier
    >>> client = Client(n_workers=2, threads_per_worker=1)  # doctest: +SKIP
    >>> clf = DaskDenseClassifier((32,), max_iter=20).fit(X, y)  # doctest: +SKIP
    >>> clf.predict(X).compute()  # doctest: +SKIP
    """

    # scikit-learn reads the parameters from this signature: the base's, and sync_every.
    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10,
                 warm_start=False, max_fun=15000, dropout=0.0, class_weight=None, sync_every=1,
                 scaling="linear", warmup=0):
        super().__init__(
            hidden_layer_sizes, activation, solver=solver, alpha=alpha, batch_size=batch_size,
            learning_rate=learning_rate, learning_rate_init=learning_rate_init,
            power_t=power_t, max_iter=max_iter, shuffle=shuffle, random_state=random_state,
            tol=tol, verbose=verbose, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping, validation_fraction=validation_fraction,
            beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, n_iter_no_change=n_iter_no_change,
            warm_start=warm_start, max_fun=max_fun, dropout=dropout, class_weight=class_weight)
        self.sync_every, self.scaling, self.warmup = sync_every, scaling, warmup

    _parameter_constraints = {**DenseClassifier._parameter_constraints, **_DASK_ONLY}

    def predict_proba(self, X):
        """``predict_proba`` of DenseClassifier; lazily, by row chunk, for a Dask array."""
        if isinstance(X, da.Array):
            return _map_rows(self, "predict_proba", X)
        return super().predict_proba(X)

    def _dask_targets(self, y):
        """Class indices by chunk, and the number of outputs; sets ``classes_`` afresh
        unless a warm start goes on with them."""
        _labels(y)
        classes = da.unique(y).compute()
        if self._new_classes(incremental=False):
            if len(classes) < 2:
                raise ValueError(f"y must hold at least 2 classes, got {classes}")
            self._binarizer = LabelBinarizer().fit(classes)
            self.classes_ = self._binarizer.classes_
        else:
            self._check_classes(classes, same=True)
        n_outputs = 1 if len(self.classes_) == 2 else len(self.classes_)
        return y.map_blocks(_class_indices, self.classes_, dtype=np.intp), n_outputs


class DaskDenseRegressor(_DaskDenseMixin, DenseRegressor):
    __doc__ = f"""A :class:`densecore.sklearn.DenseRegressor` that trains on Dask arrays.
    {_DASK_PARAMETERS}"""

    # scikit-learn reads the parameters from this signature: the base's, and sync_every.
    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *,
                 solver="adam", alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10,
                 warm_start=False, max_fun=15000, dropout=0.0, sync_every=1, scaling="linear",
                 warmup=0):
        super().__init__(
            loss, hidden_layer_sizes, activation, solver=solver, alpha=alpha,
            batch_size=batch_size, learning_rate=learning_rate,
            learning_rate_init=learning_rate_init, power_t=power_t, max_iter=max_iter,
            shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
            momentum=momentum, nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping, validation_fraction=validation_fraction,
            beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, n_iter_no_change=n_iter_no_change,
            warm_start=warm_start, max_fun=max_fun, dropout=dropout)
        self.sync_every, self.scaling, self.warmup = sync_every, scaling, warmup

    _parameter_constraints = {**DenseRegressor._parameter_constraints, **_DASK_ONLY}

    def _dask_targets(self, y):
        """The targets, and the number of outputs."""
        if not isinstance(y, da.Array) or y.ndim not in (1, 2):
            raise TypeError(f"y must be a 1-d or 2-d dask.array.Array, got {type(y).__name__} "
                            f"of shape {getattr(y, 'shape', None)}")
        return y.astype(np.float64), 1 if y.ndim == 1 else y.shape[1]


def _class_indices(labels, classes):
    return np.searchsorted(classes, labels)


def _labels(y):
    if not isinstance(y, da.Array) or y.ndim != 1:
        raise TypeError(f"y must be a 1-d dask.array.Array of labels, got {type(y).__name__} "
                        f"of shape {getattr(y, 'shape', None)}")
