"""Network: construction, training against the numpy spec, prediction and input checks."""
import numpy as np
import pytest

import densecore
from densecore import Layer, Network
from densecore.__main__ import digits_split
from numpy_reference import random_targets, sgd_step


def test_from_sizes_builds_the_stack():
    net = Network.from_sizes([4, 8, 3], seed=0)
    assert net.sizes == [4, 8, 3]
    assert net.activation_names == ["relu", "softmax"]
    assert net.loss == "cross_entropy" and net.dtype == np.float64
    assert "sizes=[4, 8, 3]" in repr(net)
    again = Network.from_sizes([4, 8, 3], seed=0)
    for a, b in zip(net.layers, again.layers):
        np.testing.assert_array_equal(a.weights, b.weights)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_parameters_start_on_a_cache_line(dtype):
    for seed in range(5):  # wherever the allocator puts them
        net = Network.from_sizes([784, 128, 10], dtype=dtype, seed=seed)
        assert net.parameters.ctypes.data % 64 == 0
        assert net.parameters.dtype == dtype and net.parameters.flags.c_contiguous
        assert np.shares_memory(net.layers[0].weights, net.parameters)


@pytest.mark.parametrize("output, loss", [("softmax", "cross_entropy"),
                                          ("sigmoid", "binary_cross_entropy"),
                                          ("tanh", "mse"), ("identity", "mse")])
def test_default_loss_follows_the_output(output, loss):
    assert Network.from_sizes([2, 3], output_activation=output).loss == loss


def test_construction_errors():
    with pytest.raises(ValueError, match="layer 0 has 4 outputs but layer 1 takes 5"):
        Network([Layer(4, 2), Layer(3, 5)])
    with pytest.raises(ValueError, match="dtype"):
        Network([Layer(4, 2), Layer(3, 4, dtype=np.float32)])
    with pytest.raises(ValueError, match="needs a 'softmax' output"):
        Network([Layer(3, 2, "sigmoid")], loss="cross_entropy")
    with pytest.raises(ValueError, match="loss must be one of"):
        Network([Layer(3, 2)], loss="hinge")
    with pytest.raises(TypeError):
        Network([])
    with pytest.raises(ValueError, match="at least an input and an output"):
        Network.from_sizes([3])


CONFIGURATIONS = [
    ([6, 5, 4], ["relu", "softmax"], "cross_entropy"),
    ([6, 7, 5, 3], ["tanh", "leaky_relu", "identity"], "mse"),
    ([6, 4, 2], ["sigmoid", "sigmoid"], "binary_cross_entropy"),
    ([6, 5, 3], ["softmax", "tanh"], "mse"),
]


@pytest.mark.parametrize("sizes, names, loss", CONFIGURATIONS)
def test_twenty_sgd_steps_match_the_numpy_spec(sizes, names, loss):
    rng = np.random.default_rng(0)
    net = Network([Layer(n_out, n_in, name, init="glorot", rng=rng)
                   for n_in, n_out, name in zip(sizes, sizes[1:], names)], loss=loss)
    X = rng.standard_normal((100, sizes[0]))
    y = random_targets(loss, rng, 100, sizes[-1])
    weights = [layer.weights.copy() for layer in net.layers]
    biases = [layer.bias.ravel().copy() for layer in net.layers]
    history = net.fit(X, y, epochs=1, batch_size=5, learning_rate=0.05, shuffle=False)
    Y = np.eye(sizes[-1])[y] if loss == "cross_entropy" else y
    total = sum(sgd_step(weights, biases, names, loss, X[i:i + 5], Y[i:i + 5], 0.05)
                for i in range(0, 100, 5))
    for layer, W, b in zip(net.layers, weights, biases):
        np.testing.assert_allclose(layer.weights, W, rtol=0, atol=1e-10)
        np.testing.assert_allclose(layer.bias.ravel(), b, rtol=0, atol=1e-10)
    assert history["loss"] == [pytest.approx(total / 100, rel=1e-12)]


def test_callable_activations_train_like_named_ones():
    """The numpy path for callables and the compiled path reach the same weights."""
    def make(activation, derivative=None):
        rng = np.random.default_rng(0)
        return Network([Layer(5, 4, activation, derivative, rng=rng),
                        Layer(2, 5, "identity", rng=rng)])

    named = make("tanh")
    custom = make(np.tanh, lambda z: 1 - np.tanh(z) ** 2)
    assert custom.activation_names == [None, "identity"]
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((30, 4)), rng.standard_normal((30, 2))
    histories = [net.fit(X, y, epochs=3, batch_size=7, seed=0) for net in (named, custom)]
    np.testing.assert_allclose(histories[0]["loss"], histories[1]["loss"], rtol=1e-12)
    for a, b in zip(named.layers, custom.layers):
        np.testing.assert_allclose(a.weights, b.weights, rtol=0, atol=1e-12)
    np.testing.assert_allclose(named.predict(X), custom.predict(X), rtol=0, atol=1e-12)


def test_a_callable_output_activation_trains_with_mse():
    net = Network([Layer(4, 2, "tanh", rng=0),
                   Layer(1, 4, np.tanh, lambda z: 1 - np.tanh(z) ** 2, rng=1)])
    assert net.loss == "mse"
    X = np.random.default_rng(2).uniform(-1, 1, (64, 2))
    y = 0.5 * np.sin(X[:, 0])
    history = net.fit(X, y, epochs=200, learning_rate=0.5, seed=0)
    assert history["loss"][-1] < 0.1 * history["loss"][0]


def test_xor_is_learned():
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
    y = np.array([0, 1, 1, 0])
    net = Network.from_sizes([2, 8, 1], activation="tanh", output_activation="sigmoid",
                             seed=0)
    net.fit(X, y, epochs=2000, batch_size=4, learning_rate=0.5, seed=0)
    np.testing.assert_array_equal(net.predict(X).ravel() > 0.5, y.astype(bool))
    assert net.evaluate(X, y)["accuracy"] == 1.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_digits_are_learned(dtype):
    X_train, y_train, X_test, y_test = digits_split()
    net = Network.from_sizes([64, 128, 64, 10], dtype=dtype, seed=1)
    history = net.fit(X_train, y_train, epochs=30, learning_rate=0.1, seed=1)
    assert history["loss"][-1] < history["loss"][0] / 10
    result = net.evaluate(X_test, y_test)
    assert result["accuracy"] >= 0.96
    assert net.predict(X_test).dtype == dtype
    assert all(layer.weights.dtype == dtype for layer in net.layers)


def test_same_seed_same_training_bit_for_bit():
    X, y = densecore.datasets.load_digits()
    runs = []
    for _ in range(2):
        net = Network.from_sizes([64, 16, 10], seed=3)
        runs.append((net.fit(X[:300], y[:300], epochs=2, seed=4)["loss"],
                     net.layers[0].weights.copy()))
    assert runs[0][0] == runs[1][0]
    np.testing.assert_array_equal(runs[0][1], runs[1][1])


def test_predict_and_evaluate():
    net = Network.from_sizes([3, 4, 2], seed=0)
    X = np.random.default_rng(0).standard_normal((6, 3))
    probabilities = net.predict(X)
    assert probabilities.shape == (6, 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-12)
    labels = probabilities.argmax(axis=1)
    result = net.evaluate(X, labels)
    assert result["accuracy"] == 1.0 and result["loss"] > 0
    assert net.predict(np.empty((0, 3))).shape == (0, 2)
    regression = Network.from_sizes([3, 2], output_activation="identity", seed=0)
    assert set(regression.evaluate(X, np.zeros((6, 2)))) == {"loss"}


def test_one_hot_and_integer_labels_agree():
    net = Network.from_sizes([3, 4], seed=0)
    X = np.random.default_rng(0).standard_normal((8, 3))
    y = np.arange(8) % 4
    assert net.evaluate(X, y) == net.evaluate(X, np.eye(4)[y])
    assert net.evaluate(X, y.astype(float)) == net.evaluate(X, y)


def test_integer_and_bool_inputs_are_converted():
    net = Network.from_sizes([2, 3], seed=0)
    np.testing.assert_array_equal(net.predict(np.array([[1, 0]])),
                                  net.predict(np.array([[True, False]])))
    assert net.predict([[1, 0]]).dtype == np.float64


def test_verbose_fit_reports_progress(capsys):
    net = Network.from_sizes([2, 2], seed=0)
    net.fit(np.eye(2), [0, 1], epochs=2, verbose=True)
    assert "2/2" in capsys.readouterr().err


@pytest.mark.parametrize("X, y, error, message", [
    (np.ones((4, 3), complex), [0, 1, 0, 1], TypeError, "complex"),
    (np.array([["a"] * 3] * 4), [0, 1, 0, 1], TypeError, "real numbers"),
    (np.ones((4, 3), object), [0, 1, 0, 1], TypeError, "object"),
    (np.ones((4, 2)), [0, 1, 0, 1], ValueError, r"\(n_samples, 3\)"),
    (np.ones(3), [0], ValueError, r"shape \(3,\)"),
    (np.full((4, 3), np.nan), [0, 1, 0, 1], ValueError, r"X must hold finite numbers, got nan at \(0, 0\)"),
    (np.ones((4, 3)), [0, 1, 0], ValueError, "one target per sample"),
    (np.ones((4, 3)), [0, 1, 0, 2], ValueError, r"\[0, 2\).*0 to 2"),
    (np.ones((4, 3)), [0, 1, 0, -1], ValueError, r"\[0, 2\)"),
    (np.ones((4, 3)), [0, 1, 0.5, 1], ValueError, "integer class labels"),
    (np.ones((4, 3)), ["a", "b", "a", "b"], TypeError, "y must hold real numbers"),
    (np.ones((4, 3)), np.ones((4, 3)), ValueError, r"\(n_samples, 2\)"),
    (np.ones((0, 3)), np.ones(0), ValueError, "at least one sample"),
])
def test_fit_rejects_bad_input(X, y, error, message):
    net = Network.from_sizes([3, 2], seed=0)
    before = net.layers[0].weights.copy()
    with pytest.raises(error, match=message):
        net.fit(X, y, epochs=1)
    np.testing.assert_array_equal(net.layers[0].weights, before)


@pytest.mark.parametrize("options, message", [
    ({"epochs": -1}, "epochs"), ({"batch_size": 0}, "batch_size"),
    ({"learning_rate": 0}, "learning_rate"), ({"learning_rate": np.inf}, "learning_rate"),
])
def test_fit_rejects_bad_options(options, message):
    with pytest.raises(ValueError, match=message):
        Network.from_sizes([3, 2], seed=0).fit(np.ones((2, 3)), [0, 1], **options)


def test_regression_targets_may_be_one_dimensional_for_one_output():
    net = Network.from_sizes([2, 1], output_activation="identity", seed=0)
    X = np.random.default_rng(0).standard_normal((50, 2))
    history = net.fit(X, X @ [1.0, -2.0], epochs=50, learning_rate=0.1)
    assert history["loss"][-1] < 1e-3
    with pytest.raises(ValueError, match=r"\(n_samples, 3\)"):
        Network.from_sizes([2, 3], output_activation="identity").fit(X, X[:, 0])


def test_from_sizes_takes_one_activation_per_hidden_layer():
    net = Network.from_sizes([4, 6, 5, 3], activation=("tanh", "elu"), seed=0)
    assert net.activation_names == ["tanh", "elu", "softmax"]
    assert Network.from_sizes([4, 3], activation=(), seed=0).activation_names == ["softmax"]
    assert Network.from_sizes([4, 5, 3], activation=None, seed=0).activation_names[0] == "relu"
    with pytest.raises(ValueError, match=r"one per hidden layer \(2\)"):
        Network.from_sizes([4, 6, 5, 3], activation=("tanh",))


def test_a_custom_loss_trains_through_numpy_and_passes_the_gradient_check():
    from densecore.testing import check_gradients

    def huber_value(out, Y):
        d = np.abs(out - Y)
        return np.where(d < 1, 0.5 * d ** 2, d - 0.5).sum(axis=1)

    def huber_derivative(out, Y):
        return np.clip(out - Y, -1, 1)

    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    Y = np.column_stack([X[:, 0] * 3, X[:, 1] - X[:, 2]])
    for output in ("identity", "tanh"):
        net = Network([Layer(5, 3, "tanh", init="glorot", rng=1),
                       Layer(2, 5, output, init="glorot", rng=2)],
                      loss=(huber_value, huber_derivative))
        assert net.loss is None
        assert check_gradients(net, X[:8], Y[:8]).max() < 1e-6
        before = net.evaluate(X, Y)["loss"]
        history = net.fit(X, Y, epochs=20, learning_rate=0.05, seed=0)
        assert history["loss"][-1] < history["loss"][0] and net.evaluate(X, Y)["loss"] < before
    with pytest.raises(ValueError, match="custom loss"):
        net.save("unused.npz")
    bad = Network([Layer(2, 3, "identity", rng=0)],
                  loss=(lambda out, Y: out.sum(), huber_derivative))
    with pytest.raises(ValueError, match=r"value must give shape \(32,\)"):  # a batch
        bad.fit(X, Y, epochs=1)
