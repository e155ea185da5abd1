"""A network's memory and its public state: the flat buffer, state(), from_state(),
set_state() and reset_optimizer()."""
import gc

import numpy as np
import pytest

from densecore import Adam, Layer, Network, SGD


def problem(seed=0, n=60):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 5))
    return X, (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)


def trained(optimizer="adam", dtype=np.float64):
    net = Network.from_sizes([5, 7, 3], activation="tanh", dtype=dtype, seed=0)
    X, y = problem()
    net.partial_fit(X, y, batch_size=16, optimizer=optimizer, seed=1)
    return net


# -- one flat buffer ------------------------------------------------------------

def test_the_parameters_are_one_buffer_that_the_layers_view():
    net = trained()
    assert net.parameters.shape == (5 * 7 + 7 + 7 * 3 + 3,)
    assert net.parameters.flags.c_contiguous and net.parameters.dtype == np.float64
    first, second = net.layers
    np.testing.assert_array_equal(net.parameters[:35], first.weights.ravel())
    np.testing.assert_array_equal(net.parameters[35:42], first.bias.ravel())
    net.parameters[0] = 42.0  # the network's buffer is the layers' storage
    assert first.weights[0, 0] == 42.0
    second.bias = [[-1.0], [-1.0], [2.0]]  # and the spec's setter writes into it
    np.testing.assert_array_equal(net.parameters[-3:], [-1, -1, 2])
    second.weights[...] = 0  # the outputs are now the softmax of the bias
    expected = np.exp([-1, -1, 2]) / np.exp([-1, -1, 2]).sum()
    np.testing.assert_allclose(net.predict(problem()[0][:2]), [expected] * 2, rtol=1e-12)


def test_arrays_held_before_the_network_are_left_behind():
    layer = Layer(3, 2, init="glorot", rng=0)
    held = layer.weights
    net = Network([layer])
    assert layer.weights is not held and np.shares_memory(layer.weights, net.parameters)
    np.testing.assert_array_equal(layer.weights, held)  # the values moved over
    held[...] = 7.0
    assert not np.any(layer.weights == 7.0)


def test_a_layer_belongs_to_one_network_at_a_time():
    layer = Layer(3, 2, rng=0)
    first = Network([layer])
    with pytest.raises(ValueError, match="already belongs to another Network"):
        Network([layer])
    del first
    gc.collect()
    assert np.shares_memory(Network([layer]).parameters, layer.weights)


# -- state() and from_state() ----------------------------------------------------

@pytest.mark.parametrize("optimizer", [SGD(), SGD(0.9, nesterov=True), Adam()], ids=repr)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_network_rebuilt_from_its_state_predicts_and_trains_on_bit_for_bit(optimizer, dtype):
    net = trained(optimizer, dtype)
    state = net.state()
    assert list(state) == ["sizes", "activations", "loss", "dtype", "parameters", "optimizer",
                           "dropout"]
    assert state["sizes"] == [5, 7, 3] and state["dtype"] == np.dtype(dtype).name
    assert state["optimizer"]["slots"].shape == (optimizer.n_slots, net.parameters.size)
    copy = Network.from_state(state)
    assert copy.optimizer == optimizer and copy.state()["optimizer"]["step"] == 4
    X, y = problem(seed=2)
    np.testing.assert_array_equal(copy.predict(X), net.predict(X))
    for model in (net, copy):
        model.partial_fit(X, y, batch_size=16, seed=3)
    np.testing.assert_array_equal(copy.parameters, net.parameters)


def test_a_state_is_a_copy():
    net = trained()
    state = net.state()
    before = state["parameters"].copy(), state["optimizer"]["slots"].copy()
    net.partial_fit(*problem(), seed=4)
    np.testing.assert_array_equal(state["parameters"], before[0])
    np.testing.assert_array_equal(state["optimizer"]["slots"], before[1])


def test_an_untrained_state_has_no_optimizer():
    state = Network.from_sizes([2, 3], seed=0).state()
    assert state["optimizer"] is None
    assert Network.from_state(state).optimizer is None


@pytest.mark.parametrize("change, error, message", [
    ({"sizes": [5, 3]}, ValueError, "one activation per layer"),
    ({"activations": ["tanh", "swish"]}, ValueError, "activation must be one of"),
    ({"activations": [None, "softmax"]}, ValueError, "activations must be names"),
    ({"loss": "binary_cross_entropy"}, ValueError, "needs a 'sigmoid' output"),
    ({"dtype": "int8"}, ValueError, "float32 or float64"),
    ({"parameters": np.zeros(3)}, ValueError, "parameters must have shape"),
    ({"parameters": np.full(66, np.nan)}, ValueError, "NaN or infinity"),
    ({"parameters": np.array(["a"] * 66)}, TypeError, "real numbers"),
])
def test_from_state_refuses_what_is_not_a_network(change, error, message):
    with pytest.raises(error, match=message):
        Network.from_state({**trained().state(), **change})


def test_from_state_wants_exactly_the_keys_of_a_state():
    state = trained().state()
    with pytest.raises(ValueError, match="a network's state has the keys"):
        Network.from_state({**state, "extra": 1})
    del state["optimizer"]
    with pytest.raises(ValueError, match="a network's state has the keys"):
        Network.from_state(state)


def test_set_state_keeps_the_layers_arrays_and_refuses_another_architecture():
    net, other = trained(), Network.from_sizes([5, 7, 3], activation="tanh", seed=9)
    weights = other.layers[0].weights
    other.set_state(net.state())
    assert other.layers[0].weights is weights
    np.testing.assert_array_equal(weights, net.layers[0].weights)
    assert other.optimizer == Adam()
    with pytest.raises(ValueError, match="does not fit"):
        Network.from_sizes([5, 7, 3], activation="relu").set_state(net.state())


def test_reset_optimizer_forgets_or_starts_afresh():
    net = trained()
    net.reset_optimizer()
    assert net.optimizer is None and net.state()["optimizer"] is None
    net.reset_optimizer(SGD(0.5))
    state = net.state()["optimizer"]
    assert state["name"] == "sgd" and state["step"] == 0 and not state["slots"].any()
