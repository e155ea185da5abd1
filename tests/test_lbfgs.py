"""L-BFGS: the full-batch loss and gradient, and Network.fit(optimizer="lbfgs")."""
import numpy as np
import pytest

from densecore import LBFGS, Layer, Network


def problem(seed=0, n=120):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 5))
    return X, (X[:, 0] + X[:, 1] ** 2 > 1).astype(int) + (X[:, 2] > 0.5)


def networks():
    compiled = Network.from_sizes([5, 7, 3], activation="tanh", seed=1)
    rng = np.random.default_rng(1)
    callable_hidden = Network([
        Layer(7, 5, np.tanh, lambda z: 1 - np.tanh(z) ** 2, init="glorot", rng=rng),
        Layer(3, 7, "softmax", init="glorot", rng=rng)])
    return {"compiled": compiled, "numpy": callable_hidden}


@pytest.mark.parametrize("kind", ["compiled", "numpy"])
@pytest.mark.parametrize("l2_per_sample", [False, True])
def test_the_full_batch_gradient_passes_central_differences(kind, l2_per_sample):
    net = networks()[kind]
    net.reset_optimizer("lbfgs")
    # Blocks of 16 rows: the gradient adds up blocks of unequal size (100 = 6 x 16 + 4).
    session = net.training_session(16, alpha=0.05, l2_per_sample=l2_per_sample)
    X, Y = session.data(*problem(n=100))
    loss, gradient = session.loss_gradient(X, Y)
    gradient = gradient.copy()
    numeric = np.empty_like(gradient)
    for i in range(gradient.size):
        saved = net.parameters[i]
        net.parameters[i] = saved + 1e-6
        above = session.loss_gradient(X, Y)[0]
        net.parameters[i] = saved - 1e-6
        below = session.loss_gradient(X, Y)[0]
        net.parameters[i] = saved
        numeric[i] = (above - below) / 2e-6
    assert session.loss_gradient(X, Y)[0] == loss  # evaluating changes nothing
    np.testing.assert_allclose(gradient, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lbfgs_fit_descends_every_iteration_and_converges(dtype):
    X, y = problem()
    net = Network.from_sizes([5, 16, 3], activation="tanh", dtype=dtype, seed=0)
    history = net.fit(X, y, epochs=300, optimizer="lbfgs", validation_split=0.2, seed=0)
    losses = history["loss"]
    assert sorted(history) == ["loss", "val_accuracy", "val_loss"]
    assert all(b <= a for a, b in zip(losses, losses[1:]))  # a line search never climbs
    assert losses[-1] < 0.01 * losses[0] and net.evaluate(X, y)["accuracy"] > 0.9
    assert net.optimizer == LBFGS() and net.state()["optimizer"]["step"] == len(losses)
    assert net.parameters.dtype == dtype


def test_lbfgs_stops_at_max_fun_max_iter_or_a_callback():
    X, y = problem()

    def fit(**options):
        return Network.from_sizes([5, 16, 3], seed=0).fit(X, y, **options)["loss"]

    assert len(fit(epochs=4, optimizer="lbfgs")) == 4
    assert len(fit(epochs=300, optimizer=LBFGS(max_fun=6))) <= 6  # evaluations bound it

    class StopAtThree:
        def on_epoch_end(self, iteration, logs):
            return iteration < 2

    assert len(fit(epochs=300, optimizer="lbfgs", callbacks=[StopAtThree()])) == 3


def test_an_lbfgs_network_saves_and_loads(tmp_path):
    X, y = problem()
    net = Network.from_sizes([5, 4, 3], seed=0)
    net.fit(X, y, epochs=5, optimizer=LBFGS(max_fun=100, tol=1e-6))
    net.save(tmp_path / "model.npz")
    loaded = Network.load(tmp_path / "model.npz")
    assert loaded.optimizer == LBFGS(max_fun=100, tol=1e-6)
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))


@pytest.mark.parametrize("options", [{"early_stopping": True}, {"clip_norm": 1.0},
                                     {"schedule": "adaptive"}])
def test_lbfgs_refuses_what_only_minibatch_training_has(options):
    with pytest.raises(ValueError, match="runs on the full batch"):
        Network.from_sizes([5, 3], seed=0).fit(*problem(), optimizer="lbfgs", **options)


def test_lbfgs_takes_no_partial_fit_step():
    with pytest.raises(ValueError, match="takes no mini-batch steps"):
        Network.from_sizes([5, 3], seed=0).partial_fit(*problem(), optimizer="lbfgs")


@pytest.mark.parametrize("settings, error", [({"max_fun": 0}, ValueError),
                                             ({"tol": -1.0}, ValueError),
                                             ({"max_fun": 1.5}, TypeError)])
def test_lbfgs_settings_are_checked(settings, error):
    with pytest.raises(error):
        LBFGS(**settings)


def test_an_exp_output_with_the_poisson_loss_is_the_poisson_glm():
    linear_model = pytest.importorskip("sklearn.linear_model")
    rng = np.random.default_rng(0)
    X = np.linspace(0, 1, 100).reshape(-1, 1)
    y = rng.poisson(np.exp(X.ravel() + 1)).astype(float)
    glm = linear_model.PoissonRegressor(alpha=0, tol=1e-7).fit(X, y)
    net = Network([Layer(1, 1, "exp", init="glorot", rng=0)])
    assert net.loss == "poisson"  # the default after an exp output
    net.fit(X, y, epochs=500, optimizer=LBFGS(tol=1e-7))
    np.testing.assert_allclose(net.predict(X).ravel(), glm.predict(X), rtol=1e-4)


@pytest.mark.parametrize("kind", ["compiled", "numpy"])
def test_the_loss_is_evaluated_where_the_parameters_lie_without_a_copy(kind):
    net = networks()[kind]
    net.reset_optimizer("lbfgs")
    session = net.training_session(16, alpha=0.05)
    X, Y = session.data(*problem(n=50))
    elsewhere = np.random.default_rng(5).standard_normal(net.parameters.size)
    own = net.parameters.copy()
    loss, gradient = session.loss_gradient(X, Y, parameters=elsewhere)
    gradient = gradient.copy()
    np.testing.assert_array_equal(net.parameters, own)  # the network's are left alone
    net.parameters[...] = elsewhere
    expected_loss, expected_gradient = session.loss_gradient(X, Y)
    assert loss == expected_loss
    np.testing.assert_array_equal(gradient, expected_gradient)
    with pytest.raises(ValueError, match="C-contiguous 1-D float64 array"):
        session.loss_gradient(X, Y, parameters=elsewhere[:-1])
