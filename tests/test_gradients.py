"""Central differences against the compiled backward pass, every activation x loss."""
import numpy as np
import pytest

from densecore import Layer, Network
from densecore.activations import ACTIVATIONS
from densecore.testing import check_gradients
from numpy_reference import random_targets

HIDDEN = list(ACTIVATIONS)  # every row of the table
OUTPUT_LOSS = [(name, "mse") for name in HIDDEN] + [
    ("softmax", "cross_entropy"), ("sigmoid", "binary_cross_entropy"), ("exp", "poisson")]


def compiled_gradients(net, X, y):
    """The gradient the compiled epoch applies: one full-batch step of rate 1."""
    before = [(layer.weights.copy(), layer.bias.copy()) for layer in net.layers]
    net.fit(X, y, epochs=1, batch_size=len(X), learning_rate=1.0, shuffle=False)
    gradients = []
    for layer, (W, b) in zip(net.layers, before):
        gradients += [W - layer.weights, b - layer.bias]
        layer.weights, layer.bias = W, b
    return gradients


def numerical_gradients(net, X, y, step=1e-6):
    gradients = []
    for layer in net.layers:
        for parameter in (layer.weights, layer.bias):
            gradient = np.empty_like(parameter)
            for index in np.ndindex(parameter.shape):
                original = parameter[index]
                parameter[index] = original + step
                up = net.evaluate(X, y)["loss"]
                parameter[index] = original - step
                down = net.evaluate(X, y)["loss"]
                parameter[index] = original
                gradient[index] = (up - down) / (2 * step)
            gradients.append(gradient)
    return gradients


@pytest.mark.parametrize("output, loss", OUTPUT_LOSS)
@pytest.mark.parametrize("hidden", HIDDEN)
def test_backward_pass_matches_central_differences(hidden, output, loss):
    rng = np.random.default_rng(0)
    net = Network([Layer(5, 4, hidden, init="glorot", rng=rng),
                   Layer(3, 5, output, init="glorot", rng=rng)], loss=loss)
    for layer in net.layers:  # nonzero biases, so that every term is exercised
        layer.bias = rng.uniform(-0.5, 0.5, layer.bias.shape)
    X = rng.standard_normal((7, 4))
    y = random_targets(loss, rng, 7, 3)
    # The full-batch gradient, as densecore.testing.check_gradients gives users.
    assert check_gradients(net, X, y).max() < 1e-6
    # The gradient the compiled epoch steps with.
    analytic = compiled_gradients(net, X, y)
    numeric = numerical_gradients(net, X, y)
    for a, n in zip(analytic, numeric):
        error = np.linalg.norm(a - n) / max(np.linalg.norm(a) + np.linalg.norm(n), 1e-12)
        assert error < 1e-6


def test_check_gradients_finds_a_wrong_derivative_and_leaves_the_network_alone():
    rng = np.random.default_rng(0)
    wrong = Network([Layer(5, 4, np.tanh, lambda z: 1 - np.tanh(z), init="glorot", rng=rng),
                     Layer(3, 5, "softmax", init="glorot", rng=rng)])
    wrong.partial_fit(rng.standard_normal((6, 4)), np.arange(6) % 3, optimizer="adam")
    before = wrong.state()
    X, y = rng.standard_normal((7, 4)), np.arange(7) % 3
    errors = check_gradients(wrong, X, y, sample_weight=np.arange(1.0, 8.0))
    assert errors.shape == (4,) and errors[0] > 0.01 and errors[2] < 1e-6
    after = wrong.state()
    np.testing.assert_array_equal(after["parameters"], before["parameters"])
    assert after["optimizer"]["name"] == "adam" and after["optimizer"]["step"] == 1
