"""Each compiled kernel against its numpy twin, for both dtypes and awkward shapes."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from densecore import _core, kernels
from numpy_reference import ACTIVATIONS, activation_backward, loss_and_delta, random_targets

DTYPES = [np.float32, np.float64]
TOLERANCE = {np.float32: 1e-5, np.float64: 1e-12}
# (batch, inputs, outputs): batch 1, size 1 and odd sizes, for every BLAS path.
SHAPES = [(1, 1, 1), (1, 7, 3), (5, 1, 4), (3, 8, 1), (1, 1, 9), (17, 13, 11), (64, 33, 7)]
# Products large enough to run in blocks, each through the activation as it is
# done: of the columns, and of the rows (see densecore._core.block_plan).
BLOCKED = [(128, 300, 272), (300, 40, 200)]
NAMES = list(ACTIVATIONS)


def code(name):
    return kernels.Activation[name.upper()]


def assert_close(actual, expected, dtype):
    assert actual.dtype == dtype
    scale = max(1.0, float(np.abs(expected).max(initial=0)))
    np.testing.assert_allclose(actual, expected, rtol=TOLERANCE[dtype],
                               atol=TOLERANCE[dtype] * scale)


def random(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES + BLOCKED)
@pytest.mark.parametrize("name", NAMES)
def test_forward_matches_numpy(dtype, shape, name):
    rng = np.random.default_rng(0)
    batch, n_in, n_out = shape
    x, W, b = (random(rng, s, dtype) for s in [(batch, n_in), (n_out, n_in), n_out])
    signal, out = kernels.forward(x, W, b, code(name))
    expected = x.astype(np.float64) @ W.T.astype(np.float64) + b
    assert_close(signal, expected, dtype)
    # Of the signal as computed: the product's rounding is not the activation's.
    assert_close(out, ACTIVATIONS[name](signal.astype(np.float64)), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES + BLOCKED)
@pytest.mark.parametrize("name", NAMES)
def test_backward_matches_numpy(dtype, shape, name):
    rng = np.random.default_rng(1)
    batch, n_out, n_next = shape
    delta_next, W_next, signal = (random(rng, s, dtype)
                                  for s in [(batch, n_next), (n_next, n_out), (batch, n_out)])
    delta = kernels.backward(delta_next, W_next, signal, code(name))
    expected = activation_backward(name, signal.astype(np.float64),
                                   delta_next.astype(np.float64) @ W_next)
    assert_close(delta, expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_elu_keeps_its_digits_near_zero(dtype):
    # Relative error only: exp(z) - 1 in place of expm1 gives 0 at -1e-10 in
    # float32 and is off by 1e-7 relative in float64.
    z = np.array([[-1e-30, -1e-10, -1e-5, 1e-10]], dtype=dtype)
    _, out = kernels.forward(z.T.copy(), np.ones((1, 1), dtype), np.zeros(1, dtype), code("elu"))
    expected = np.where(z > 0, z, np.expm1(z.astype(np.float64)))
    np.testing.assert_allclose(out.T, expected, rtol=TOLERANCE[dtype], atol=0)
    # With a unit gradient from above, backward returns the derivative itself:
    # 1 at both zeros (PyTorch's autograd agrees; see test_training).
    signal = np.array([[-0.0, 0.0, -1e-10, 1e-10]], dtype=dtype)
    grad = kernels.backward(np.ones((1, 1), dtype), np.ones((1, 4), dtype), signal, code("elu"))
    np.testing.assert_array_equal(grad[0, :2], [1, 1])
    np.testing.assert_allclose(grad, np.exp(np.minimum(signal, 0).astype(np.float64)),
                               rtol=TOLERANCE[dtype], atol=0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES + [(0, 3, 2)])
def test_gradients_match_numpy(dtype, shape):
    rng = np.random.default_rng(2)
    batch, n_in, n_out = shape
    x, delta = random(rng, (batch, n_in), dtype), random(rng, (batch, n_out), dtype)
    grad_W, grad_b = kernels.gradients(x, delta)
    assert_close(grad_W, delta.T.astype(np.float64) @ x, dtype)
    assert_close(grad_b, delta.astype(np.float64).sum(axis=0), dtype)


LOSS_OUTPUTS = [("mse", name) for name in NAMES] + [
    ("cross_entropy", "softmax"), ("binary_cross_entropy", "sigmoid"), ("poisson", "exp")]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (1, 5), (7, 1), (16, 10)])
@pytest.mark.parametrize("loss, output", LOSS_OUTPUTS)
def test_loss_gradient_matches_numpy(dtype, shape, loss, output):
    rng = np.random.default_rng(3)
    signal = random(rng, shape, dtype)
    out = ACTIVATIONS[output](signal.astype(np.float64)).astype(dtype)
    y = random_targets(loss, rng, *shape)
    y = (np.eye(shape[1])[y] if loss == "cross_entropy" else y).astype(dtype)
    total, delta = kernels.loss(kernels.Loss[loss.upper()], code(output), signal, out, y)
    expected_total, expected_delta = loss_and_delta(loss, output, signal.astype(np.float64), y)
    np.testing.assert_allclose(total, expected_total, rtol=TOLERANCE[dtype] * 10)
    assert_close(delta, expected_delta, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (7, 1), (16, 10)])
@pytest.mark.parametrize("loss, output", LOSS_OUTPUTS)
def test_weighted_loss_gradient_matches_numpy(dtype, shape, loss, output):
    rng = np.random.default_rng(4)
    signal = random(rng, shape, dtype)
    out = ACTIVATIONS[output](signal.astype(np.float64)).astype(dtype)
    y = random_targets(loss, rng, *shape)
    y = (np.eye(shape[1])[y] if loss == "cross_entropy" else y).astype(dtype)
    weight = rng.uniform(0, 2, shape[0]).astype(dtype)
    weight[0] = 0 if shape[0] > 1 else weight[0]  # a zero weight drops its sample
    code_of_loss = kernels.Loss[loss.upper()]
    total, delta = kernels.loss(code_of_loss, code(output), signal, out, y, weight)
    expected_total, expected_delta = loss_and_delta(loss, output, signal.astype(np.float64),
                                                    y, weight)
    np.testing.assert_allclose(total, expected_total, rtol=TOLERANCE[dtype] * 10)
    assert_close(delta, expected_delta, dtype)
    ones = kernels.loss(code_of_loss, code(output), signal, out, y, np.ones(shape[0], dtype))
    unweighted = kernels.loss(code_of_loss, code(output), signal, out, y)
    assert ones[0] == unweighted[0]  # weights of 1 are the unweighted kernel, bit for bit
    np.testing.assert_array_equal(ones[1], unweighted[1])


def test_weighted_loss_checks_its_weights():
    signal = np.zeros((3, 2))
    with pytest.raises(ValueError, match="weight.shape"):
        kernels.loss(kernels.Loss.MSE, kernels.Activation.IDENTITY, signal, signal, signal,
                     np.ones(2))
    with pytest.raises(TypeError, match="weight must be float64"):
        kernels.loss(kernels.Loss.MSE, kernels.Activation.IDENTITY, signal, signal, signal,
                     np.ones(3, np.float32))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss, output", [("cross_entropy", "softmax"),
                                          ("binary_cross_entropy", "sigmoid")])
def test_cross_entropies_are_finite_for_huge_logits(dtype, loss, output):
    signal = np.array([[1e4, -1e4], [-1e4, 1e4]], dtype=dtype)
    out = (signal > 0).astype(dtype)  # both activations saturate exactly here
    y = np.array([[0, 1], [0, 1]], dtype=dtype)
    total, delta = kernels.loss(kernels.Loss[loss.upper()], code(output), signal, out, y)
    assert np.isfinite(total) and np.all(np.isfinite(delta))
    # The first sample is confidently wrong: its loss is about 2e4 (or 1e4 per output).
    assert total == pytest.approx(2e4, rel=1e-3)


@pytest.mark.parametrize("arrays, message", [
    (lambda: (np.ones((2, 3)), np.ones((4, 5)), np.ones(4)), "x.shape[1]"),
    (lambda: (np.ones((2, 3)), np.ones((4, 3)), np.ones(5)), "b.shape[0]"),
    (lambda: (np.ones((2, 0)), np.ones((4, 0)), np.ones(4)), "at least one"),
])
def test_forward_rejects_mismatched_shapes(arrays, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        kernels.forward(*arrays(), code("relu"))


def test_backward_and_gradients_reject_mismatched_shapes():
    with pytest.raises(ValueError, match="delta_next"):
        kernels.backward(np.ones((2, 3)), np.ones((4, 5)), np.ones((2, 5)), code("relu"))
    with pytest.raises(ValueError, match="batch"):
        kernels.gradients(np.ones((2, 3)), np.ones((3, 4)))


def test_unknown_codes_are_rejected():
    with pytest.raises(ValueError, match="activation"):
        kernels.forward(np.ones((1, 1)), np.ones((1, 1)), np.ones(1), 99)
    with pytest.raises(ValueError, match="loss"):
        kernels.loss(7, 0, np.ones((1, 1)), np.ones((1, 1)), np.ones((1, 1)))


def test_mixed_dtypes_are_rejected():
    with pytest.raises((TypeError, ValueError)):
        kernels.forward(np.ones((1, 2), np.float32), np.ones((1, 2)), np.ones(1), 0)


def test_enum_values_are_stable():
    assert {a.name: int(a) for a in kernels.Activation} == {
        "IDENTITY": 0, "RELU": 1, "SIGMOID": 2, "TANH": 3, "LEAKY_RELU": 4, "SOFTMAX": 5,
        "ELU": 6, "EXP": 7}
    assert {a.name: int(a) for a in kernels.Loss} == {
        "MSE": 0, "CROSS_ENTROPY": 1, "BINARY_CROSS_ENTROPY": 2, "POISSON": 3}


@settings(max_examples=200, deadline=None)
@given(batch=st.integers(0, 40), n_in=st.integers(1, 40), n_out=st.integers(1, 40),
       name=st.sampled_from(NAMES), dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**32 - 1))
def test_forward_backward_gradients_for_any_shape(batch, n_in, n_out, name, dtype, seed):
    rng = np.random.default_rng(seed)
    x, W, b = (random(rng, s, dtype) for s in [(batch, n_in), (n_out, n_in), n_out])
    signal, out = kernels.forward(x, W, b, code(name))
    expected = x.astype(np.float64) @ W.T + b
    assert_close(signal, expected, dtype)
    assert_close(out, ACTIVATIONS[name](expected), dtype)
    delta_next, W_next = random(rng, (batch, 3), dtype), random(rng, (3, n_out), dtype)
    delta = kernels.backward(delta_next, W_next, signal, code(name))
    assert_close(delta, activation_backward(name, signal.astype(np.float64),
                                            delta_next.astype(np.float64) @ W_next), dtype)
    grad_W, grad_b = kernels.gradients(x, delta)
    assert_close(grad_W, delta.T.astype(np.float64) @ x, dtype)
    assert_close(grad_b, delta.astype(np.float64).sum(axis=0), dtype)


@pytest.mark.parametrize("x, error, message", [
    (np.ones((2, 3), int), TypeError, "x must be float32 or float64, got int64"),
    (np.ones((2, 3), np.float32), TypeError, "W must be float32 like x .*, got float64"),
    (np.ones((2, 6))[:, ::2], ValueError, r"x must be C-contiguous, got strides \(48, 16\)"),
    (np.asfortranarray(np.ones((3, 3))), ValueError, "C-contiguous"),
    (np.ones(3), ValueError, r"x must be 2-D, got shape \(3,\)"),
    ([[1.0, 2.0, 3.0]], TypeError, "x must be a numpy array, got list"),
    (np.ones((2, 3), object), TypeError, "got object"),
])
def test_python_faces_name_what_they_expected(x, error, message):
    with pytest.raises(error, match=message):
        kernels.forward(x, np.ones((4, 3)), np.ones(4), code("relu"))


def test_python_faces_check_codes_and_writability():
    with pytest.raises(TypeError, match="integer code, got 'relu'"):
        kernels.forward(np.ones((1, 1)), np.ones((1, 1)), np.ones(1), "relu")
    with pytest.raises(ValueError, match="got 1099511627776"):
        kernels.forward(np.ones((1, 1)), np.ones((1, 1)), np.ones(1), 2**40)
    frozen = np.ones(3)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="param must be writable .*, got a read-only array"):
        kernels.update(0, frozen, np.ones(3), np.ones(0), np.ones(0), 0.1)
    x = np.ones((2, 3))
    x.flags.writeable = False  # inputs may be read-only
    kernels.forward(x, np.ones((4, 3)), np.ones(4), code("relu"))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bad", [np.nan, -np.nan, np.inf, -np.inf])
def test_finite_finds_any_nan_or_infinity(dtype, bad):
    # The edges of the finite range pass; a bad value anywhere is found, the
    # vectorised loop's body and tail alike.
    info = np.finfo(dtype)
    edges = np.array([0.0, -0.0, info.max, -info.max, info.tiny, info.smallest_subnormal],
                     dtype)
    values = np.resize(edges, 67)
    assert _core.finite(values)
    assert _core.finite(values[:0])
    for where in (0, 1, 31, 65, 66):
        spoiled = values.copy()
        spoiled[where] = bad
        assert not _core.finite(spoiled)
        assert _core.finite(spoiled[where + 1:]) and _core.finite(spoiled[:where])
