"""Fuzzing the public API with arbitrary inputs (run by test_fuzz.py in a child process).

Every call must either give the right answer (checked against numpy) or raise
ValueError or TypeError with a message saying what was expected and what was
given.  DENSECORE_FUZZ_EXAMPLES sets the total number of examples, shared out
among the properties (default 2,400):

    DENSECORE_FUZZ_EXAMPLES=50000 pytest tests/fuzz_api.py -p no:randomly
"""
import math
import os
import re
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from densecore import Layer, Network, kernels
from numpy_reference import ACTIVATIONS

PROPERTIES = 11
EXAMPLES = math.ceil(int(os.environ.get("DENSECORE_FUZZ_EXAMPLES", 2400)) / PROPERTIES)
fuzz = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                suppress_health_check=list(HealthCheck))

DTYPES = [np.bool_, np.int8, np.int64, np.uint16, np.float16, np.float32, np.float64,
          np.complex128, np.dtype("U2"), np.dtype("S2"), object]
LAYOUTS = ["plain", "fortran", "reversed", "strided", "read-only"]


@st.composite
def arrays(draw, shape=None, dtypes=DTYPES):
    """Any dtype, shape and memory layout, with NaN, infinities and extremes."""
    dtype = np.dtype(draw(st.sampled_from(dtypes)))
    if shape is None:
        shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5))
    if dtype == object:
        elements = st.one_of(st.none(), st.floats(), st.text(max_size=2))
        values = draw(hnp.arrays(object, shape, elements=elements))
    else:
        values = draw(hnp.arrays(dtype, shape))
    return arrange(values, draw(st.sampled_from(LAYOUTS)))


def arrange(values, layout):
    if layout == "fortran":
        return np.asfortranarray(values)
    if layout == "reversed" and values.ndim:
        return values[::-1]
    if layout == "strided" and values.ndim:
        wide = np.repeat(values, 2, axis=-1)
        return wide[..., ::2]
    if layout == "read-only":
        values = values.copy()
        values.flags.writeable = False
    return values


def real_and_finite(array, dtype=np.float64):
    """Real numbers that stay finite in ``dtype``."""
    array = np.asarray(array)
    if array.dtype.kind not in "biuf":
        return False
    with np.errstate(over="ignore"):
        return bool(np.isfinite(array.astype(dtype)).all())


def refused(error):
    """The error a bad input must give: ValueError or TypeError, saying what was wrong."""
    assert isinstance(error, (ValueError, TypeError)), repr(error)
    assert re.search(r"got|expected|must|needs", str(error)), str(error)


def call(function, *args, **kwargs):
    """``(result, None)``, or ``(None, error)`` for an accepted kind of error."""
    try:
        return function(*args, **kwargs), None
    except (ValueError, TypeError) as error:
        refused(error)
        return None, error


def numpy_predict(net, X):
    out = np.asarray(X, dtype=np.float64)
    for layer in net.layers:
        out = ACTIVATIONS[layer.activation_name](out @ layer.weights.T + layer.bias.T)
    return out


NETWORK = Network.from_sizes([3, 4, 2], seed=0)


@fuzz
@given(X=st.one_of(arrays(), arrays(shape=st.tuples(st.integers(0, 4), st.just(3)))))
def test_predict(X):
    result, error = call(NETWORK.predict, X)
    valid = real_and_finite(X) and np.ndim(X) == 2 and np.shape(X)[1] == 3
    assert (error is None) == valid, (X, error)
    if valid:
        assert result.shape == (len(X), 2) and result.dtype == np.float64
        np.testing.assert_allclose(result, numpy_predict(NETWORK, X), rtol=1e-9, atol=1e-12)


@fuzz
@given(X=st.one_of(arrays(), arrays(shape=st.tuples(st.integers(0, 6), st.just(3)))),
       y=st.one_of(arrays(), arrays(shape=st.tuples(st.integers(0, 6)),
                                    dtypes=[np.int64, np.float64, np.bool_])))
def test_fit_and_evaluate(X, y):
    net = Network.from_sizes([3, 4, 2], seed=0)
    before = [layer.weights.copy() for layer in net.layers]
    history, error = None, None
    try:
        history, error = call(net.fit, X, y, epochs=2, batch_size=2)
    except FloatingPointError:
        pass  # extreme inputs may diverge; that is reported, not hidden
    weights = [layer.weights for layer in net.layers]
    assert all(np.isfinite(w).all() for w in weights)
    if error is not None:
        for old, new in zip(before, weights):
            np.testing.assert_array_equal(old, new)
    if history is not None:
        assert len(history["loss"]) == 2 and np.isfinite(history["loss"]).all()
        result, error = call(net.evaluate, X, y)
        assert error is None and 0 <= result["accuracy"] <= 1


@fuzz
@given(weight=st.one_of(arrays(), arrays(shape=st.just((6,)),
                                         dtypes=[np.int64, np.float64, np.bool_])))
def test_fit_and_evaluate_with_sample_weight(weight):
    X = np.linspace(-1, 1, 18).reshape(6, 3)
    y = np.array([0, 1, 0, 1, 1, 0])
    net = Network.from_sizes([3, 4, 2], seed=0)
    before = net.parameters.copy()
    history = error = None
    try:
        history, error = call(net.fit, X, y, epochs=2, batch_size=2, sample_weight=weight,
                              class_weight={1: 2.0}, optimizer="adamw")
    except FloatingPointError:  # weights near the float's largest: reported, not hidden
        assert np.isfinite(net.parameters).all()
        return
    # The class weights multiply the sample weights: the products must be finite too.
    valid = (real_and_finite(weight) and np.shape(weight) == (6,)
             and real_and_finite(np.asarray(weight, float) * np.array([1.0, 2.0])[y])
             and (np.asarray(weight, float) >= 0).all() and np.asarray(weight, float).any())
    assert (error is None) == valid, (weight, error)
    if error is not None:
        np.testing.assert_array_equal(net.parameters, before)  # refused before any step
    else:
        assert np.isfinite(history["loss"]).all() and np.isfinite(net.parameters).all()
        result, error = call(net.evaluate, X, y, sample_weight=weight)
        assert error is None and 0 <= result["accuracy"] <= 1


@fuzz
@given(X=st.one_of(arrays(), arrays(shape=st.tuples(st.integers(0, 4), st.just(3)))),
       layout=st.sampled_from(["csr_matrix", "csc_array"]))
def test_predict_sparse(X, layout):
    import scipy.sparse

    try:
        sparse = getattr(scipy.sparse, layout)(X)
    except (ValueError, TypeError):
        return  # not a matrix scipy takes
    result, error = call(NETWORK.predict, sparse)
    dense = sparse.toarray()  # scipy reads a 1-d X as one row
    valid = real_and_finite(dense) and dense.shape[1] == 3
    assert (error is None) == valid, (X, error)
    if valid:
        np.testing.assert_allclose(result, numpy_predict(NETWORK, dense), rtol=1e-9,
                                   atol=1e-12)


@fuzz
@given(x=st.one_of(arrays(), arrays(shape=st.tuples(st.just(3), st.integers(0, 4)))),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_layer_forward(x, dtype):
    layer = Layer(2, 3, "tanh", dtype=dtype, rng=0)
    result, error = call(layer.forward, x)
    valid = real_and_finite(x, dtype) and np.ndim(x) == 2 and np.shape(x)[0] == 3
    assert (error is None) == valid, (x, error)
    if valid:
        expected = np.tanh(layer.weights.astype(float) @ np.asarray(x, float) + layer.bias)
        assert result.dtype == dtype and result.shape == expected.shape
        np.testing.assert_allclose(result, expected, rtol=1e-4, atol=1e-5)


@fuzz
@given(delta=arrays(), signal_columns=st.integers(1, 3))
def test_layer_backward(delta, signal_columns):
    layer, following = Layer(3, 2, rng=0), Layer(2, 3, rng=1)
    layer.forward(np.ones((2, signal_columns)))
    following.delta = delta
    result, error = call(layer.backward, following)
    valid = real_and_finite(delta) and np.shape(delta) == (2, signal_columns)
    assert (error is None) == valid, (delta, error)


@fuzz
@given(output_size=st.one_of(st.integers(-2, 4), st.floats(), st.text(max_size=2)),
       activation=st.one_of(st.none(), st.sampled_from(list(ACTIVATIONS) + ["swish", ""]),
                            st.integers()),
       dtype=st.one_of(st.sampled_from([np.float16, np.float32, np.float64, np.int32, "f8", "x"]),
                       st.none()),
       init=st.sampled_from(["seed", "he", "glorot", "zeros", None]),
       sizes=st.lists(st.one_of(st.integers(-1, 5), st.floats(0, 5)), max_size=4),
       dropout=st.one_of(st.floats(), st.integers(-1, 2), st.text(max_size=2), st.none(),
                         st.lists(st.one_of(st.floats(-1, 2), st.text(max_size=1)),
                                  max_size=3)))
def test_construction(output_size, activation, dtype, init, sizes, dropout):
    rate = dropout if isinstance(dropout, (int, float)) else 0.0
    layer, _ = call(Layer, output_size, 3, activation, dtype=dtype, init=init, dropout=rate)
    if layer is not None:
        assert layer.weights.shape == (layer.output_size, 3) and 0 <= layer.dropout < 1
    net, _ = call(Network.from_sizes, sizes, dropout=dropout)
    if net is not None:
        assert net.sizes == sizes and net.dropout[-1] == 0
        assert all(0 <= r < 1 for r in net.dropout)
    # One activation per hidden layer: a sequence of any names, of any length.
    names = [activation] * max(len(sizes) - 2, 0) if len(sizes) % 2 else [activation]
    net, _ = call(Network.from_sizes, sizes, activation=tuple(names))
    if net is not None:
        assert net.activation_names[:-1] == [name or "relu" for name in names]


@fuzz
@given(x=arrays(), W=arrays(), b=arrays(), activation=st.integers(-1, 8))
def test_kernel_forward(x, W, b, activation):
    result, error = call(kernels.forward, x, W, b, activation)
    if error is None:
        signal, _ = result
        expected = np.asarray(x, float) @ np.asarray(W, float).T + np.asarray(b, float)
        if real_and_finite(expected):
            np.testing.assert_allclose(signal, expected, rtol=1e-4, atol=1e-4)


@fuzz
@given(delta_next=arrays(), W_next=arrays(), signal=arrays(), x=arrays(),
       activation=st.integers(-1, 8))
def test_kernel_backward_and_gradients(delta_next, W_next, signal, x, activation):
    call(kernels.backward, delta_next, W_next, signal, activation)
    result, error = call(kernels.gradients, x, delta_next)
    if error is None and real_and_finite(x) and real_and_finite(delta_next):
        with np.errstate(all="ignore"):
            expected = np.asarray(delta_next, float).T @ np.asarray(x, float)
        if real_and_finite(expected):
            np.testing.assert_allclose(result[0], expected, rtol=1e-4, atol=1e-4)


@fuzz
@given(signal=arrays(), out=arrays(), target=arrays(), loss=st.integers(-1, 4),
       activation=st.integers(-1, 8), param=arrays(), grad=arrays(),
       optimizer=st.integers(-1, 2), step=st.integers(-1, 3), weight=arrays())
def test_kernel_loss_and_update(signal, out, target, loss, activation, param, grad,
                                optimizer, step, weight):
    call(kernels.loss, loss, activation, signal, out, target)
    call(kernels.loss, loss, activation, signal, out, target, weight)
    call(kernels.update, optimizer, param, grad, param.copy(), param.copy(), 0.1,
         beta_1=0.9, beta_2=0.99, epsilon=1e-8, step=step)


@fuzz
@given(X=st.one_of(arrays(), arrays(shape=st.tuples(st.integers(0, 6), st.just(3)))),
       y=st.one_of(arrays(), arrays(shape=st.tuples(st.integers(0, 6)),
                                    dtypes=[np.int64, np.float64, np.bool_, np.dtype("U2")])),
       regression=st.booleans())
def test_sklearn_estimators(X, y, regression):
    estimators = pytest.importorskip("densecore.sklearn")
    Estimator = estimators.DenseRegressor if regression else estimators.DenseClassifier
    extra = {} if regression else {"class_weight": "balanced"}
    model = Estimator(hidden_layer_sizes=(4, 3), activation=("tanh", "relu"), dropout=0.2,
                      max_iter=2, random_state=0, **extra)
    # The estimators check their input with scikit-learn's own validation, whose
    # messages are scikit-learn's: only the kind of error is checked here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning, by design of max_iter=2
        try:
            model.fit(X, y)
        except (ValueError, TypeError, FloatingPointError):
            return
    assert len(model.predict(X)) == len(X)
