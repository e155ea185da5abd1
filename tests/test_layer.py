"""The spec's Layer: its API, its initialisation and its forward/backward math."""
import numpy as np
import pytest

import densecore
from densecore import Layer
from numpy_reference import ACTIVATIONS, activation_backward

NAMES = list(ACTIVATIONS)


def test_shapes_and_seed_initialisation_follow_the_spec():
    np.random.seed(0)
    layer = Layer(3, 5)
    np.random.seed(0)
    np.testing.assert_array_equal(layer.weights, np.random.rand(3, 5) * 0.1)
    np.testing.assert_array_equal(layer.bias, np.random.rand(3, 1) * 0.1)
    assert (layer.output_size, layer.input_size) == (3, 5)
    assert layer.weights.shape == (3, 5) and layer.bias.shape == (3, 1)
    assert layer.activation is densecore.relu
    assert layer.activation_derivative is densecore.relu_derivative
    assert layer.X is None and layer.signal is None and layer.delta is None


def test_seed_initialisation_lies_in_the_spec_range():
    layer = Layer(200, 300, rng=1)
    for values in (layer.weights, layer.bias):
        assert values.min() >= 0 and values.max() < 0.1
        assert values.max() > 0.09  # uniform over the whole range


def test_rng_int_and_generator_are_reproducible():
    a = Layer(4, 6, rng=7)
    b = Layer(4, 6, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(a.weights, b.weights)
    assert not np.array_equal(a.weights, Layer(4, 6, rng=8).weights)


@pytest.mark.parametrize("init, variance", [("he", 2 / 400), ("glorot", 2 / 500)])
def test_scaled_initialisations(init, variance):
    layer = Layer(100, 400, init=init, rng=0)
    assert layer.weights.var() == pytest.approx(variance, rel=0.05)
    assert abs(layer.weights.mean()) < 0.01
    np.testing.assert_array_equal(layer.bias, 0)


def test_relu_derivative_is_one_at_zero():
    np.testing.assert_array_equal(densecore.relu_derivative(np.array([-1.0, 0.0, 2.0])),
                                  [0, 1, 1])
    np.testing.assert_array_equal(densecore.relu(np.array([-1.0, 0.0, 2.0])), [0, 0, 2])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch", [1, 4])
@pytest.mark.parametrize("name", NAMES)
def test_forward_stores_signal_and_X(dtype, batch, name):
    layer = Layer(3, 5, name, dtype=dtype, rng=0)
    x = np.random.default_rng(1).standard_normal((5, batch))
    X = layer.forward(x)
    signal = layer.weights.astype(float) @ x + layer.bias
    assert X is layer.X and X.shape == layer.signal.shape == (3, batch)
    assert X.dtype == layer.signal.dtype == dtype
    tolerance = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(layer.signal, signal, rtol=tolerance, atol=tolerance)
    np.testing.assert_allclose(X, ACTIVATIONS[name](signal.T).T, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("name", NAMES)
def test_backward_applies_the_spec_formula(name):
    layer, following = Layer(4, 3, name, rng=0), Layer(2, 4, rng=1)
    layer.forward(np.random.default_rng(2).standard_normal((3, 5)))
    following.delta = np.random.default_rng(3).standard_normal((2, 5))
    delta = layer.backward(following)
    expected = activation_backward(name, layer.signal.T, (following.weights.T @ following.delta).T).T
    assert delta is layer.delta and delta.shape == (4, 5)
    np.testing.assert_allclose(delta, expected, rtol=1e-12, atol=1e-12)
    if name == "relu":  # the spec's own expression, literally
        spec = (following.weights.T @ following.delta) * densecore.relu_derivative(layer.signal)
        np.testing.assert_allclose(delta, spec, rtol=1e-12, atol=1e-12)


def test_custom_callables_are_honoured():
    def square(x):
        return x ** 2

    def square_derivative(x):
        return 2 * x

    layer, following = Layer(3, 2, square, square_derivative, rng=0), Layer(1, 3, rng=1)
    assert layer.activation_name is None and layer.activation is square
    x = np.array([[0.5, -1.0], [2.0, 0.25]])
    signal = layer.weights @ x + layer.bias
    np.testing.assert_allclose(layer.forward(x), signal ** 2, rtol=1e-12)
    following.delta = np.array([[1.0, -2.0]])
    np.testing.assert_allclose(layer.backward(following),
                               (following.weights.T @ following.delta) * 2 * signal, rtol=1e-12)


def test_the_spec_functions_count_as_named():
    layer = Layer(2, 2, densecore.relu, densecore.relu_derivative)
    assert layer.activation_name == "relu"


@pytest.mark.parametrize("shape", [(4, 1), (6, 2), (5,), (1, 5, 1)])
def test_forward_rejects_wrong_shapes_naming_both(shape):
    layer = Layer(3, 5)
    with pytest.raises(ValueError, match=r"\(5, B\).*" + repr(shape).replace("(", r"\(")
                       .replace(")", r"\)")):
        layer.forward(np.ones(shape))


@pytest.mark.parametrize("value", [np.ones((5, 1), complex), np.array([["a"]] * 5),
                                   np.array([[None]] * 5, dtype=object)])
def test_forward_rejects_non_real_input(value):
    with pytest.raises(TypeError, match="real numbers"):
        Layer(3, 5).forward(value)


def test_backward_needs_a_matching_next_layer():
    layer = Layer(4, 3)
    with pytest.raises(ValueError, match="forward"):
        layer.backward(Layer(2, 4))
    with pytest.raises(ValueError, match="takes 5 inputs"):
        layer.backward(Layer(2, 5))
    layer.forward(np.ones((3, 2)))
    following = Layer(2, 4)
    following.delta = np.ones((2, 3))
    with pytest.raises(ValueError, match="must hold 2 samples.*got 3"):
        layer.backward(following)


@pytest.mark.parametrize("arguments, error", [
    ((0, 3), ValueError), ((3, -1), ValueError), ((2.5, 3), TypeError),
    ((2, 3, "swish"), ValueError), ((2, 3, lambda x: x), TypeError),
    ((2, 3, "relu", lambda x: x), ValueError),
])
def test_invalid_construction_is_refused(arguments, error):
    with pytest.raises(error):
        Layer(*arguments)


def test_invalid_dtype_and_init_are_refused():
    with pytest.raises(ValueError, match="float32 or float64"):
        Layer(2, 3, dtype=np.int32)
    with pytest.raises(ValueError, match="init"):
        Layer(2, 3, init="zeros")


def test_parameters_can_be_assigned_but_keep_shape_and_dtype():
    layer = Layer(2, 3, dtype=np.float32)
    layer.weights = np.arange(6).reshape(2, 3)
    layer.bias = [[1], [2]]
    assert layer.weights.dtype == np.float32 and layer.weights.flags.c_contiguous
    np.testing.assert_array_equal(layer.forward(np.eye(3)), np.arange(6).reshape(2, 3) + [[1], [2]])
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        layer.weights = np.ones((3, 2))
    with pytest.raises(TypeError):
        layer.bias = np.array([["x"], ["y"]])
