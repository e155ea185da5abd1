"""scipy.sparse input in Network.fit, partial_fit, predict and evaluate (and Session).

The first layer's products run on the CSR rows themselves; everything must come
out as from the same matrix made dense, to the per-dtype tolerances.
"""
import tracemalloc

import numpy as np
import pytest
import scipy.sparse

import densecore
from densecore import Layer, Network, training
from densecore._validation import as_csr, csr_arrays

KINDS = [scipy.sparse.csr_matrix, scipy.sparse.csr_array, scipy.sparse.csc_matrix,
         scipy.sparse.csc_array]
DTYPES = [np.float32, np.float64]
TOLERANCE = {np.float32: 1e-5, np.float64: 1e-12}
OPTIMIZERS = {"sgd": "sgd", "momentum": densecore.SGD(momentum=0.9, nesterov=True),
              "adam": "adam", "lbfgs": "lbfgs"}
EMPTY_ROWS = [3, 4, 5, 6, 17]


def problem(n=40, features=13, seed=0):
    """A sparse-ish X (about 25% stored) with empty rows, labels and weights."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, features)) * (rng.random((n, features)) < 0.25)
    X[EMPTY_ROWS] = 0
    y = rng.integers(0, 3, n)
    weight = rng.random(n) * 2
    return X, y, weight


def network(dtype=np.float64, features=13, hidden=7):
    # 7 hidden units: the kernels' groups of four outputs and a tail of three.
    return Network.from_sizes([features, hidden, 3], activation="tanh", dtype=dtype, seed=1)


def close(actual, expected, dtype):
    tolerance = TOLERANCE[dtype]
    np.testing.assert_allclose(actual, expected, rtol=tolerance, atol=tolerance)


def error_of(call):
    with pytest.raises((ValueError, TypeError)) as caught:
        call()
    return caught.type, str(caught.value)


# -- predict and evaluate -------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_predict_equals_predict_on_the_dense_matrix(kind, dtype):
    X, _, _ = problem()
    net = network(dtype)
    sparse = net.predict(kind(X))
    assert sparse.dtype == dtype and sparse.shape == (len(X), 3)
    close(sparse, net.predict(X), dtype)
    # An empty row's output is the network's output for zeros.
    close(sparse[EMPTY_ROWS], net.predict(np.zeros((len(EMPTY_ROWS), 13))), dtype)


@pytest.mark.parametrize("activation", sorted(densecore.activations.ACTIVATIONS))
def test_every_named_activation_through_the_csr_kernel(activation):
    X, _, _ = problem()
    net = Network.from_sizes([13, 9, 3], activation=activation, seed=2)
    close(net.predict(scipy.sparse.csr_array(X)), net.predict(X), np.float64)


@pytest.mark.parametrize("dtype", DTYPES)
def test_predict_in_blocks_of_rows(dtype, monkeypatch):
    """Prediction runs the rows in blocks of FULL_BATCH_ROWS; the blocks join seamlessly."""
    X, _, _ = problem(n=100)
    net = network(dtype)
    expected = net.predict(X)
    monkeypatch.setattr(training, "FULL_BATCH_ROWS", 7)
    close(net.predict(scipy.sparse.csr_matrix(X)), expected, dtype)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weighted", [False, True])
def test_evaluate_equals_evaluate_on_the_dense_matrix(kind, dtype, weighted):
    X, y, weight = problem()
    net = network(dtype)
    weight = weight if weighted else None
    sparse, dense = (net.evaluate(data, y, sample_weight=weight) for data in (kind(X), X))
    assert sparse.keys() == dense.keys() == {"loss", "accuracy"}
    assert sparse["loss"] == pytest.approx(dense["loss"], rel=TOLERANCE[dtype])
    assert sparse["accuracy"] == pytest.approx(dense["accuracy"], rel=1e-12)


def test_a_matrix_with_no_stored_value_predicts_the_bias_path():
    net = network()
    zeros = scipy.sparse.csr_array((20, 13))
    assert zeros.nnz == 0
    close(net.predict(zeros), net.predict(np.zeros((20, 13))), np.float64)
    assert net.predict(scipy.sparse.csr_array((0, 13))).shape == (0, 3)


def test_unsorted_and_repeated_indices_sum_as_scipy_does():
    rng = np.random.default_rng(5)
    rows = rng.integers(0, 10, 60)
    cols = rng.integers(0, 13, 60)  # repeats: they sum
    values = rng.standard_normal(60)
    coo = scipy.sparse.coo_array((values, (rows, cols)), shape=(10, 13))
    # A CSR of the same entries, its columns unsorted and repeated within a row.
    order = np.argsort(rows, kind="stable")
    messy = scipy.sparse.csr_array((values[order], cols[order], np.searchsorted(
        rows[order], np.arange(11))), shape=(10, 13))
    assert not messy.has_canonical_format
    net = network()
    for X in (coo, messy):
        close(net.predict(X), net.predict(coo.toarray()), np.float64)


@pytest.mark.parametrize("optimizer", ["sgd", "lbfgs"])
def test_int64_indices_work_as_int32_ones(optimizer):
    X, y, _ = problem()
    wide = scipy.sparse.csr_array(X)
    wide.indices, wide.indptr = wide.indices.astype(np.int64), wide.indptr.astype(np.int64)
    sparse, dense = network(), network()
    close(sparse.predict(wide), dense.predict(X), np.float64)
    sparse.fit(wide, y, epochs=2, seed=0, optimizer=optimizer)
    dense.fit(X, y, epochs=2, seed=0, optimizer=optimizer)
    close(sparse.parameters, dense.parameters, np.float64)


# -- training ---------------------------------------------------------------------


def fit_both(kind, dtype, optimizer, weighted, alpha, method="fit"):
    X, y, weight = problem()
    weight = weight if weighted else None
    sparse, dense = network(dtype), network(dtype)
    options = dict(batch_size=8, learning_rate=0.05, optimizer=OPTIMIZERS[optimizer],
                   alpha=alpha, sample_weight=weight, seed=3)
    if method == "fit":
        options["epochs"] = 1
    results = [getattr(net, method)(data, y, **options)
               for net, data in ((sparse, kind(X)), (dense, X))]
    return sparse, dense, results


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
@pytest.mark.parametrize("weighted, alpha", [(False, 0.0), (True, 0.0), (False, 0.01),
                                             (True, 0.01)])
def test_one_epoch_of_fit_equals_the_dense_one(kind, dtype, optimizer, weighted, alpha):
    sparse, dense, (history, expected) = fit_both(kind, dtype, optimizer, weighted, alpha)
    assert not np.array_equal(sparse.parameters, network(dtype).parameters)  # it trained
    close(sparse.parameters, dense.parameters, dtype)
    assert history.keys() == expected.keys()
    for key in history:
        close(history[key], expected[key], dtype)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
@pytest.mark.parametrize("weighted, alpha", [(False, 0.0), (True, 0.01)])
def test_partial_fit_equals_the_dense_one(kind, dtype, optimizer, weighted, alpha):
    sparse, dense, (loss, expected) = fit_both(kind, dtype, optimizer, weighted, alpha,
                                               method="partial_fit")
    close(sparse.parameters, dense.parameters, dtype)
    close(loss, expected, dtype)
    # A second pass goes on from the optimizer's state as the dense one does.
    X, y, _ = problem(seed=1)
    close(sparse.partial_fit(scipy.sparse.csr_matrix(X), y, batch_size=8, seed=4),
          dense.partial_fit(X, y, batch_size=8, seed=4), dtype)
    close(sparse.parameters, dense.parameters, dtype)


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "lbfgs"])
def test_several_epochs_with_validation_and_clipping(optimizer):
    X, y, weight = problem(n=60)
    options = dict(epochs=4, batch_size=5, optimizer=optimizer, sample_weight=weight,
                   validation_split=0.25, seed=7)
    if optimizer != "lbfgs":
        options["clip_norm"] = 0.5
    sparse, dense = network(), network()
    history = sparse.fit(scipy.sparse.csc_array(X), y, **options)
    expected = dense.fit(X, y, **options)
    close(sparse.parameters, dense.parameters, np.float64)
    for key in expected:
        close(history[key], expected[key], np.float64)
    history = sparse.fit(scipy.sparse.csr_matrix(X), y, epochs=2, seed=0,
                         validation_data=(scipy.sparse.csr_matrix(X[:9]), y[:9]))
    expected = dense.fit(X, y, epochs=2, seed=0, validation_data=(X[:9], y[:9]))
    close(history["val_loss"], expected["val_loss"], np.float64)
    close(sparse.parameters, dense.parameters, np.float64)


@pytest.mark.parametrize("dtype", DTYPES)
def test_lbfgs_over_several_blocks_of_the_full_batch(dtype, monkeypatch):
    _, whole, _ = fit_both(scipy.sparse.csr_array, dtype, "lbfgs", True, 0.01)
    monkeypatch.setattr(training, "FULL_BATCH_ROWS", 6)  # 40 rows: 7 blocks, the last short
    sparse, dense, _ = fit_both(scipy.sparse.csr_array, dtype, "lbfgs", True, 0.01)
    close(sparse.parameters, dense.parameters, dtype)
    close(sparse.parameters, whole.parameters, dtype)


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "lbfgs"])
def test_batches_of_empty_rows_and_a_matrix_with_no_values(optimizer):
    X, y, _ = problem()
    X[:12] = 0  # the first three batches of four hold no value at all
    for data in (X, np.zeros_like(X)):
        sparse, dense = network(), network()
        options = dict(epochs=2, batch_size=4, shuffle=False, optimizer=optimizer)
        history = sparse.fit(scipy.sparse.csr_matrix(data), y, **options)
        close(history["loss"], dense.fit(data, y, **options)["loss"], np.float64)
        close(sparse.parameters, dense.parameters, np.float64)


def test_batches_larger_than_a_tile_and_rows_longer_than_one():
    """Batches of more rows than a tile of the CSR kernels (256) and a row of more
    values (8192) than one: the tiles join seamlessly."""
    rng = np.random.default_rng(4)
    X = scipy.sparse.random(300, 9000, density=0.01, format="lil", random_state=rng)
    X[7] = rng.standard_normal(9000)  # one row holds more values than a tile
    X = X.tocsr()
    y = rng.integers(0, 3, 300)
    sparse = Network.from_sizes([9000, 5, 3], seed=0)
    dense = Network.from_sizes([9000, 5, 3], seed=0)
    close(sparse.predict(X), dense.predict(X.toarray()), np.float64)
    options = dict(epochs=2, batch_size=300, optimizer="adam", learning_rate=1e-3)
    sparse.fit(X, y, **options)
    dense.fit(X.toarray(), y, **options)
    close(sparse.parameters, dense.parameters, np.float64)


@pytest.mark.parametrize("first", ["callable", "named"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam", "lbfgs"])
def test_a_python_callable_activation_trains_on_sparse_input(first, optimizer):
    """The numpy path: scipy's products for the first layer."""
    def make():
        rng = np.random.default_rng(0)
        tanh = (np.tanh, lambda z: 1 - np.tanh(z) ** 2)
        head = Layer(7, 13, *tanh, rng=rng) if first == "callable" else Layer(7, 13, "relu",
                                                                              rng=rng)
        return Network([head, Layer(5, 7, *tanh, rng=rng), Layer(3, 5, "softmax", rng=rng)])

    X, y, weight = problem()
    sparse, dense = make(), make()
    options = dict(epochs=2, batch_size=8, optimizer=optimizer, alpha=0.01,
                   sample_weight=weight, seed=0)
    history = sparse.fit(scipy.sparse.csr_array(X), y, **options)
    expected = dense.fit(X, y, **options)
    close(sparse.parameters, dense.parameters, np.float64)
    close(history["loss"], expected["loss"], np.float64)
    close(sparse.predict(scipy.sparse.csc_matrix(X)), dense.predict(X), np.float64)


def test_the_session_takes_sparse_samples():
    X, y, _ = problem()
    net = network(np.float32)
    session = net.training_session(8)
    samples, targets = session.data(scipy.sparse.csc_matrix(X), y)
    assert samples.format == "csr" and samples.dtype == np.float32
    assert targets.shape == (len(X), 3)
    tally = session.epoch(samples, targets, np.arange(len(X)), 0.1)
    assert tally.samples == len(X)


# -- memory -------------------------------------------------------------------------


@pytest.mark.parametrize("optimizer, limit", [("sgd", 16), ("lbfgs", 100)])
def test_no_dense_copy_of_the_matrix_or_of_a_batch(optimizer, limit):
    """100,000 columns: a dense copy of X (or of a block of the full batch) would take
    800 MB and of one batch of 32 rows 26 MB; training and prediction stay below
    (plain SGD: about two copies of the 1.6 MB of parameters; L-BFGS: scipy's ten
    pairs of vectors as long as the parameters, 32 MB)."""
    rng = np.random.default_rng(0)
    X = scipy.sparse.random(1000, 100_000, density=1e-4, format="csr", random_state=rng)
    y = rng.integers(0, 2, 1000)
    net = Network.from_sizes([100_000, 2, 2], seed=0)
    tracemalloc.start()
    try:
        net.fit(X, y, epochs=1, batch_size=32, optimizer=optimizer)
        net.predict(X)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < limit * 2**20


# -- input checks -------------------------------------------------------------------


def bad_inputs():
    X, _, _ = problem()
    nan, inf = X.copy(), X.copy()
    nan[2, 3], nan[9, 0] = np.nan, np.inf
    inf[5, 1] = -np.inf
    huge = X.copy()
    huge[6, 2] = 1e39  # beyond float32
    return {"nan": nan, "inf": inf, "huge": huge, "columns": X[:, :12],
            "complex": X.astype(complex)}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", ["nan", "inf", "huge", "columns", "complex"])
def test_bad_sparse_input_gets_the_dense_error(kind, case):
    X = bad_inputs()[case]
    _, y, _ = problem()
    net = network(np.float32)
    calls = [lambda data: net.predict(data), lambda data: net.fit(data, y, epochs=1),
             lambda data: net.partial_fit(data, y), lambda data: net.evaluate(data, y)]
    for call in calls:
        dense_error = error_of(lambda: call(X))
        assert error_of(lambda: call(kind(X))) == dense_error
    if case == "huge":
        assert "within the range of float32" in dense_error[1]


def malformed():
    X = scipy.sparse.csr_matrix(problem()[0])
    index, offsets, pointer = X.copy(), X.copy(), X.copy()
    index.indices[5] = 13
    offsets.indptr[10:13] = offsets.indptr[10:13][::-1].copy()
    pointer.indptr = pointer.indptr[:-1]
    csc = scipy.sparse.csc_array(problem()[0])
    csc.indices[0] = -1
    return [index, offsets, pointer, csc]


@pytest.mark.parametrize("case", range(4))
def test_a_malformed_sparse_matrix_is_refused_not_read(case):
    X = malformed()[case]
    with pytest.raises(ValueError, match=r"X is a malformed (CSR|CSC) matrix"):
        network().predict(X)


def test_as_csr_keeps_a_fitting_matrix_and_never_changes_the_given_one():
    X, _, _ = problem()
    given = scipy.sparse.csr_matrix(X)
    assert as_csr(given, "X", np.float64, 13) is given
    before = [given.data.copy(), given.indices.copy(), given.indptr.copy()]
    converted = as_csr(given, "X", np.float32, 13)
    assert type(converted) is scipy.sparse.csr_matrix and converted.dtype == np.float32
    assert np.shares_memory(converted.indices, given.indices)  # only the values convert
    wide = scipy.sparse.csr_array(X)
    wide.indices, wide.indptr = wide.indices.astype(np.int64), wide.indptr.astype(np.int64)
    data, indices, indptr = csr_arrays(as_csr(wide, "X", np.float64, 13))
    assert indices.dtype == np.intc and indptr.dtype == np.intp
    for array, original in zip((given.data, given.indices, given.indptr), before):
        np.testing.assert_array_equal(array, original)
    integers = as_csr(scipy.sparse.csr_array(np.eye(13, dtype=np.int64)), "X", np.float64, 13)
    assert integers.dtype == np.float64
