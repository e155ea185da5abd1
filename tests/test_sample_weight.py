"""Sample weights in Network.fit, partial_fit and evaluate, with scikit-learn's meaning:
each sample's loss and gradient count its weight, and every mean is the weighted mean."""
import numpy as np
import pytest

from densecore import Layer, Network


def problem(seed=0, n=60):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)
    weight = rng.integers(0, 4, n).astype(float)  # zeros and repeats
    return X, y, weight, np.repeat(np.arange(n), weight.astype(int))


def network(kind="compiled", dtype=np.float64):
    if kind == "compiled":
        return Network.from_sizes([4, 6, 3], activation="tanh", dtype=dtype, seed=0)
    rng = np.random.default_rng(0)
    return Network([Layer(6, 4, np.tanh, lambda z: 1 - np.tanh(z) ** 2, init="he", rng=rng),
                    Layer(3, 6, "softmax", init="he", rng=rng)])


@pytest.mark.parametrize("kind", ["compiled", "numpy"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam", "lbfgs"])
def test_integer_weights_train_as_repeated_samples(kind, optimizer):
    X, y, weight, repeats = problem()
    weighted, repeated = network(kind), network(kind)
    # One batch per epoch holds every sample, so the two see the same means.
    options = dict(epochs=5, batch_size=1000, shuffle=False, optimizer=optimizer, alpha=0.01)
    history = weighted.fit(X, y, sample_weight=weight, **options)
    expected = repeated.fit(X[repeats], y[repeats], **options)
    np.testing.assert_allclose(weighted.parameters, repeated.parameters, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(history["loss"], expected["loss"], rtol=1e-10)
    if optimizer != "lbfgs":
        np.testing.assert_allclose(history["accuracy"], expected["accuracy"], rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_evaluate_gives_the_weighted_means(dtype):
    X, y, weight, repeats = problem()
    net = network(dtype=dtype)
    weighted = net.evaluate(X, y, sample_weight=weight)
    repeated = net.evaluate(X[repeats], y[repeats])
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    assert weighted["loss"] == pytest.approx(repeated["loss"], rel=tolerance)
    assert weighted["accuracy"] == pytest.approx(repeated["accuracy"], rel=1e-12)


def test_a_zero_weight_removes_its_sample_from_a_step():
    X, y, weight, _ = problem()
    weight[::2] = 0
    kept, dropped = network(), network()
    kept.partial_fit(X, y, batch_size=1000, sample_weight=weight, optimizer="adam")
    dropped.partial_fit(X[1::2], y[1::2], batch_size=1000, sample_weight=weight[1::2],
                        optimizer="adam")
    np.testing.assert_allclose(kept.parameters, dropped.parameters, rtol=1e-12, atol=1e-14)


def test_the_validation_split_carries_its_weights():
    X, y, weight, _ = problem()
    net = network()
    history = net.fit(X, y, epochs=2, sample_weight=weight, validation_split=0.25, seed=3)
    held_out = np.random.default_rng(3).permutation(len(X))[:15]
    assert history["val_loss"][-1] == pytest.approx(
        net.evaluate(X[held_out], y[held_out], sample_weight=weight[held_out])["loss"],
        rel=1e-12)
    given = net.fit(X, y, epochs=1, validation_data=(X[:10], y[:10], weight[:10]))
    assert given["val_loss"][-1] == pytest.approx(
        net.evaluate(X[:10], y[:10], sample_weight=weight[:10])["loss"], rel=1e-12)


@pytest.mark.parametrize("weight, error, message", [
    (np.ones(3), ValueError, r"one weight per sample, shape \(60,\)"),
    (-np.ones(60), ValueError, "non-negative, got -1.0"),
    (np.zeros(60), ValueError, "at least one non-zero weight"),
    (np.full(60, np.nan), ValueError, "finite numbers"),
    (np.array(["a"] * 60), TypeError, "real numbers"),
])
def test_bad_weights_are_refused(weight, error, message):
    X, y, _, _ = problem()
    for call in (lambda: network().fit(X, y, sample_weight=weight),
                 lambda: network().evaluate(X, y, sample_weight=weight)):
        with pytest.raises(error, match=message):
            call()


def test_class_weight_is_a_weight_per_class_composed_with_sample_weight():
    X, y, weight, _ = problem()
    by_class, by_sample = network(), network()
    options = dict(epochs=3, batch_size=16, seed=2, optimizer="adam")
    by_class.fit(X, y, class_weight={1: 3.0, 2: 0.5}, sample_weight=weight, **options)
    by_sample.fit(X, y, sample_weight=weight * np.array([1.0, 3.0, 0.5])[y], **options)
    np.testing.assert_array_equal(by_class.parameters, by_sample.parameters)


def test_balanced_class_weight_is_scikit_learns():
    class_weight = pytest.importorskip("sklearn.utils.class_weight")
    X, y, _, _ = problem()
    balanced, expected = network(), network()
    balanced.fit(X, y, epochs=2, seed=1, class_weight="balanced")
    table = class_weight.compute_class_weight("balanced", classes=np.unique(y), y=y)
    expected.fit(X, y, epochs=2, seed=1, sample_weight=table[y])
    np.testing.assert_allclose(balanced.parameters, expected.parameters, rtol=1e-12)


@pytest.mark.parametrize("net, class_weight, error, message", [
    (Network.from_sizes([4, 1], output_activation="identity", seed=0), "balanced",
     ValueError, "class_weight needs one class per sample"),
    (None, {7: 1.0}, ValueError, r"class indices in \[0, 3\)"),
    (None, {0: -1.0}, ValueError, "finite and non-negative"),
    (None, "uniform", TypeError, "None, a dict or 'balanced'"),
])
def test_bad_class_weights_are_refused(net, class_weight, error, message):
    X, y, _, _ = problem()
    with pytest.raises(error, match=message):
        (net or network()).fit(X, y, class_weight=class_weight)
