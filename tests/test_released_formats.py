"""Files and pickles written by released versions still load and train on.

tests/data/format-1/ holds what densecore 0.1.0 wrote (file format 1, estimator
pickle format 1) before the one-engine redesign, made by its make.py, with
expected-v1.npz: the predictions of each model then, and its parameters after
one more pass of partial_fit.  A later version must reproduce them.
"""
import pickle
from pathlib import Path

import numpy as np
import pytest

from densecore import Adam, Network, SGD

V1 = Path(__file__).parent / "data" / "format-1"
EXPECTED = np.load(V1 / "expected-v1.npz")
X = EXPECTED["X"]
TARGETS = {"adam": EXPECTED["labels"], "sgd": EXPECTED["targets"]}


def resumed(name, net):
    net.partial_fit(X, TARGETS[name], batch_size=8, learning_rate=0.01, seed=5)
    return [p for layer in net.layers for p in (layer.weights, layer.bias.ravel())]


def expected_resumed(name, n_layers):
    return [EXPECTED[f"{name}/resumed/{i}/{part}"]
            for i in range(n_layers) for part in ("weights", "bias")]


@pytest.mark.parametrize("name, optimizer, dtype", [
    ("adam", Adam(), np.float64), ("sgd", SGD(0.9, nesterov=True), np.float32)])
def test_a_version_1_file_loads_predicts_and_resumes_bit_for_bit(name, optimizer, dtype):
    net = Network.load(V1 / f"network-v1-{name}-{np.dtype(dtype).name}.npz")
    assert net.optimizer == optimizer and net.dtype == dtype
    np.testing.assert_array_equal(net.predict(X), EXPECTED[f"{name}/predict"])
    for got, expected in zip(resumed(name, net), expected_resumed(name, len(net.layers))):
        np.testing.assert_array_equal(got, expected)


def test_a_version_1_file_of_an_untrained_network_has_no_optimizer():
    net = Network.load(V1 / "network-v1-untrained.npz")
    assert net.optimizer is None and net.activation_names == ["leaky_relu", "sigmoid"]
    np.testing.assert_array_equal(net.predict(X), EXPECTED["untrained/predict"])


def test_a_version_1_pickle_of_a_network_loads_and_resumes():
    net = pickle.loads((V1 / "network-v1.pickle").read_bytes())
    np.testing.assert_array_equal(net.predict(X), EXPECTED["adam/predict"])
    for got, expected in zip(resumed("adam", net), expected_resumed("adam", 2)):
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("name, method", [("classifier", "predict_proba"),
                                          ("regressor", "predict")])
def test_a_version_1_estimator_pickle_loads_and_trains_on(name, method):
    pytest.importorskip("sklearn")
    model = pickle.loads((V1 / f"{name}-v1.pickle").read_bytes())
    np.testing.assert_array_equal(getattr(model, method)(X), EXPECTED[f"{name}/{method}"])
    # Parameters and attributes added since: the defaults, and loss_ after training.
    assert model.verbose is False and model.max_fun == 15000 and not hasattr(model, "loss_")
    y = EXPECTED["labels"] if name == "classifier" else EXPECTED["targets"].ravel()
    model.partial_fit(X, y)
    assert model.loss_ == model.loss_curve_[-1]
    # The optimizer state went on with the estimator's schedule: bit for bit.
    np.testing.assert_array_equal(getattr(model, method)(X),
                                  EXPECTED[f"{name}/resumed/{method}"])
