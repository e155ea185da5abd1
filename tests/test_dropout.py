"""Dropout: the counter-based masks, their place in the compiled step, and the rates
kept by states, files and pickles."""
import pickle

import numpy as np
import pytest

from densecore import Layer, Network, _train
from densecore._serialization import read_arrays, to_bytes

# Philox4x32-10's known answers, from Random123's kat_vectors:
# (counter words, key as (k0, k1)) -> output words.
PHILOX_KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8)),
    ((0xffffffff,) * 4, (0xffffffff, 0xffffffff),
     (0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd)),
    ((0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344), (0xa4093822, 0x299f31d0),
     (0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1)),
]


def philox_numpy(counters, key):
    """Philox4x32-10 of the counters ``(n, 4)`` (uint32) under the 64-bit ``key``, in
    numpy: an independent twin of the compiled generator."""
    mask = np.uint64(0xffffffff)
    c = [counters[:, j].astype(np.uint64) for j in range(4)]
    k0, k1 = np.uint64(key & 0xffffffff), np.uint64(key >> 32)
    for r in range(10):
        if r:
            k0, k1 = (k0 + np.uint64(0x9E3779B9)) & mask, (k1 + np.uint64(0xBB67AE85)) & mask
        p0, p1 = np.uint64(0xD2511F53) * c[0], np.uint64(0xCD9E8D57) * c[2]
        c = [(p1 >> np.uint64(32)) ^ c[1] ^ k0, p1 & mask, (p0 >> np.uint64(32)) ^ c[3] ^ k1,
             p0 & mask]
    return np.stack(c, axis=1)


def mask_numpy(seed, step, layer, size, rate):
    """The factors of a layer's outputs at a step, as documented in training.Session."""
    groups = np.arange((size + 3) // 4, dtype=np.uint64)
    counters = np.stack([groups & np.uint64(0xffffffff), np.full_like(groups, layer),
                         np.full_like(groups, step & 0xffffffff),
                         np.full_like(groups, step >> 32)], axis=1)
    words = philox_numpy(counters, seed).ravel()[:size]
    kept = words < np.uint64(int((1 - rate) * 2 ** 32))
    return np.where(kept, 1 / (1 - rate), 0.0)


@pytest.mark.parametrize("counter, key, expected", PHILOX_KAT)
def test_the_generator_is_philox4x32_10(counter, key, expected):
    key64 = key[0] | key[1] << 32
    assert _train.philox4x32(counter, key64) == list(expected)
    assert philox_numpy(np.array([counter], np.uint64), key64)[0].tolist() == list(expected)


@pytest.mark.parametrize("seed, step, layer, size, rate", [
    (0, 1, 0, 1, 0.5), (2 ** 64 - 1, 2 ** 40 + 3, 7, 1001, 0.3), (12345, 17, 2, 64, 0.9)])
def test_the_compiled_mask_is_the_documented_one(seed, step, layer, size, rate):
    np.testing.assert_array_equal(_train.dropout_mask(seed, step, layer, size, rate),
                                  mask_numpy(seed, step, layer, size, rate))


def test_the_kept_fraction_matches_the_rate():
    n, rate = 100_000, 0.3
    sd = np.sqrt(rate * (1 - rate) / n)  # of the kept fraction: 0.00145
    for seed, step, layer in [(0, 1, 0), (1, 1, 0), (0, 2, 0), (0, 1, 1), (2 ** 63, 99, 3)]:
        mask = _train.dropout_mask(seed, step, layer, n, rate)
        assert set(np.unique(mask)) == {0.0, 1 / (1 - rate)}
        kept = np.count_nonzero(mask) / n
        assert abs(kept - (1 - rate)) < 4 * sd, (seed, step, layer, kept)
    # Seed, step and layer each change the mask.
    masks = [_train.dropout_mask(*key, 1000, rate) for key in [(0, 1, 0), (1, 1, 0),
                                                                 (0, 2, 0), (0, 1, 1)]]
    assert all(not np.array_equal(masks[0], other) for other in masks[1:])
    assert (_train.dropout_mask(0, 1, 0, 1000, 0.0) == 1).all()  # rate 0 keeps all


def numpy_loss(params, X, Y, masks):
    """Cross-entropy of a tanh-tanh-softmax network with its hidden outputs masked."""
    out = X
    for i, (W, b) in enumerate(params):
        z = out @ W.T + b
        if i < len(params) - 1:
            out = np.tanh(z) * masks[i]
    z -= z.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -(Y * log_p).sum() / len(X)


@pytest.mark.parametrize("clip_norm", [None, 1e9], ids=["fused", "kept-gradients"])
def test_a_step_with_dropout_follows_central_differences_of_the_masked_loss(clip_norm):
    rng = np.random.default_rng(0)
    rates, seed = [0.4, 0.25], 2 ** 61 + 12345
    net = Network([Layer(6, 4, "tanh", init="glorot", rng=rng, dropout=rates[0]),
                   Layer(5, 6, "tanh", init="glorot", rng=rng, dropout=rates[1]),
                   Layer(3, 5, "softmax", init="glorot", rng=rng)])
    for layer in net.layers:
        layer.bias = rng.uniform(-0.5, 0.5, layer.bias.shape)
    X, labels = rng.standard_normal((9, 4)), rng.integers(0, 3, 9)
    Y = np.eye(3)[labels]
    # The first step of a session: step 1; plain SGD of rate 1 subtracts the gradient.
    masks = [_train.dropout_mask(seed, 1, i, 9 * n, rate).reshape(9, n)
             for i, (n, rate) in enumerate(zip([6, 5], rates))]
    assert all((mask == 0).any() and mask.any() for mask in masks)
    params = [(layer.weights.copy(), layer.bias.ravel().copy()) for layer in net.layers]
    session = net.training_session(9, clip_norm=clip_norm, dropout_seed=seed)
    assert (session.gradients is None) == (clip_norm is None)
    session.epoch(*session.data(X, labels), np.arange(9), 1.0)
    analytic = [g for (W, b), layer in zip(params, net.layers)
                for g in (W - layer.weights, b - layer.bias.ravel())]
    numeric, h = [], 1e-6
    for p in [array for pair in params for array in pair]:
        gradient = np.empty_like(p)
        for index in np.ndindex(p.shape):
            original = p[index]
            p[index] = original + h
            up = numpy_loss(params, X, Y, masks)
            p[index] = original - h
            down = numpy_loss(params, X, Y, masks)
            p[index] = original
            gradient[index] = (up - down) / (2 * h)
        numeric.append(gradient)
    for a, n in zip(analytic, numeric):
        error = np.linalg.norm(a - n) / max(np.linalg.norm(a) + np.linalg.norm(n), 1e-12)
        assert error < 1e-7
    # Without the masks the loss's gradient is another: the masks were applied.
    unmasked = [np.ones_like(mask) for mask in masks]
    W0 = params[0][0]
    W0[0, 0] += h
    up = numpy_loss(params, X, Y, unmasked)
    W0[0, 0] -= 2 * h
    down = numpy_loss(params, X, Y, unmasked)
    assert abs((up - down) / (2 * h) - analytic[0][0, 0]) > 1e-6


def problem(seed=0, n=120):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 8)), rng.integers(0, 3, n)


def trained(seed, dropout=0.3, dtype=np.float64, **fit):
    net = Network.from_sizes([8, 16, 12, 3], seed=1, dropout=dropout, dtype=dtype)
    net.fit(*problem(), epochs=3, batch_size=16, learning_rate=0.05, seed=seed, **fit)
    return net


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_the_same_seed_gives_the_same_weights_bit_for_bit_and_another_seed_others(
        dtype, optimizer):
    first, second = (trained(7, dtype=dtype, optimizer=optimizer) for _ in range(2))
    np.testing.assert_array_equal(first.parameters, second.parameters)
    assert not np.array_equal(first.parameters,
                              trained(8, dtype=dtype, optimizer=optimizer).parameters)
    # Dropout changed the training: the same seed without it ends elsewhere.
    assert not np.array_equal(first.parameters,
                              trained(7, dropout=0.0, dtype=dtype, optimizer=optimizer).parameters)


def test_sparse_input_draws_the_same_masks_as_dense():
    scipy_sparse = pytest.importorskip("scipy.sparse")
    X, y = problem()
    dense, sparse = (Network.from_sizes([8, 16, 3], seed=1, dropout=0.5) for _ in range(2))
    dense.fit(X, y, epochs=2, batch_size=16, seed=3)
    sparse.fit(scipy_sparse.csr_matrix(X), y, epochs=2, batch_size=16, seed=3)
    np.testing.assert_allclose(sparse.parameters, dense.parameters, rtol=1e-10, atol=1e-12)


def test_a_resumed_run_goes_on_with_the_step_count():
    X, y = problem()
    once = Network.from_sizes([8, 16, 3], seed=1, dropout=0.5)
    once.partial_fit(X, y, seed=1, shuffle=False)
    copy = pickle.loads(pickle.dumps(once))
    for net in (once, copy):
        net.partial_fit(X, y, seed=2, shuffle=False)
    np.testing.assert_array_equal(copy.parameters, once.parameters)
    assert once.state()["optimizer"]["step"] == 2 * 4


def test_predict_and_evaluate_ignore_dropout():
    X, y = problem()
    net = trained(7)
    plain = Network.from_state({**net.state(), "dropout": [0.0, 0.0, 0.0]})
    np.testing.assert_array_equal(net.predict(X), plain.predict(X))
    assert net.evaluate(X, y) == plain.evaluate(X, y)
    np.testing.assert_array_equal(net.predict(X), net.predict(X))


def test_rates_are_saved_loaded_and_pickled(tmp_path):
    net = Network.from_sizes([8, 16, 12, 3], seed=1, dropout=[0.1, 0.5])
    assert net.dropout == [0.1, 0.5, 0.0] and net.state()["dropout"] == [0.1, 0.5, 0.0]
    arrays = read_arrays(to_bytes(net.state()))
    assert arrays["format_version"] == 2 and arrays["dropout"].tolist() == [0.1, 0.5, 0.0]
    net.save(tmp_path / "net.npz")
    for copy in (Network.load(tmp_path / "net.npz"), pickle.loads(pickle.dumps(net)),
                 Network.from_state(net.state())):
        assert copy.dropout == [0.1, 0.5, 0.0]
    layer = pickle.loads(pickle.dumps(Layer(3, 2, "relu", dropout=0.25)))
    assert layer.dropout == 0.25
    other = Network.from_sizes([8, 16, 12, 3], seed=2)
    other.set_state(net.state())
    assert other.dropout == [0.1, 0.5, 0.0]


def test_a_state_without_rates_has_no_dropout():
    state = Network.from_sizes([4, 5, 3], seed=0, dropout=0.2).state()
    del state["dropout"]
    assert Network.from_state(state).dropout == [0.0, 0.0]


@pytest.mark.parametrize("make, message", [
    (lambda: Layer(3, 2, dropout=1.0), r"dropout must be a rate in \[0, 1\), got 1.0"),
    (lambda: Layer(3, 2, dropout=-0.1), "dropout must be a finite number >= 0"),
    (lambda: Layer(3, 2, dropout=float("nan")), "dropout must be a finite number"),
    (lambda: Network.from_sizes([4, 5, 6, 3], dropout=[0.1]),
     "dropout must be one rate or 2 rates, one per hidden layer, got 1"),
    (lambda: Network.from_sizes([4, 5, 3], dropout=[1.5]),
     r"each dropout rate must be a rate in \[0, 1\), got 1.5"),
    (lambda: Network([Layer(3, 4, "softmax", dropout=0.5)]),
     "the output layer cannot drop its outputs: its dropout must be 0, got 0.5"),
    (lambda: Network.from_state({**Network.from_sizes([4, 5, 3]).state(),
                                 "dropout": [0.5, 0.5]}),
     "the output layer cannot drop its outputs"),
    (lambda: Network.from_state({**Network.from_sizes([4, 5, 3]).state(),
                                 "dropout": [1.0, 0.0]}),
     r"each dropout rate must be a rate in \[0, 1\), got 1.0"),
    (lambda: Network.from_state({**Network.from_sizes([4, 5, 3]).state(), "dropout": [0.1]}),
     "dropout must hold one rate per layer"),
])
def test_rates_are_checked(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_a_layer_dropout_is_keyword_only_and_typed():
    with pytest.raises(TypeError):
        Layer(3, 2, "relu", None, np.float64, "seed", None, 0.5)
    with pytest.raises(TypeError, match="dropout must be a number, got 'a'"):
        Layer(3, 2, dropout="a")


def test_lbfgs_and_python_activations_refuse_dropout():
    X, y = problem()
    with pytest.raises(ValueError, match="takes no dropout, got rates"):
        Network.from_sizes([8, 16, 3], dropout=0.2).fit(X, y, optimizer="lbfgs")
    net = Network([Layer(16, 8, np.tanh, lambda z: 1 - np.tanh(z) ** 2, dropout=0.2),
                   Layer(3, 16, "softmax")])
    with pytest.raises(ValueError, match="dropout runs in the compiled epoch only"):
        net.fit(X, y)


# -- the estimators and Dask --------------------------------------------------------


def test_the_estimators_train_with_dropout_reproducibly_and_pickle_it():
    pytest.importorskip("sklearn")
    from densecore.sklearn import DenseClassifier, DenseRegressor
    X, y = problem()

    def fitted(**params):
        settings = dict(hidden_layer_sizes=(16, 12), max_iter=5, random_state=0)
        return DenseClassifier(**{**settings, **params}).fit(X, y)

    with pytest.warns(Warning):
        first, second = fitted(dropout=0.3), fitted(dropout=0.3)
        other_seed, none = fitted(dropout=0.3, random_state=1), fitted()
        per_layer = fitted(dropout=(0.1, 0.5))
    for a, b in zip(first.coefs_, second.coefs_):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first.coefs_[0], none.coefs_[0])
    assert not np.array_equal(first.coefs_[0], other_seed.coefs_[0])
    assert first._network.dropout == [0.3, 0.3, 0.0]
    assert per_layer._network.dropout == [0.1, 0.5, 0.0]
    assert DenseClassifier().dropout == 0.0 and DenseRegressor().dropout == 0.0
    copy = pickle.loads(pickle.dumps(per_layer))
    assert copy.dropout == (0.1, 0.5) and copy._network.dropout == [0.1, 0.5, 0.0]
    np.testing.assert_array_equal(copy.predict_proba(X), per_layer.predict_proba(X))
    regressor = DenseRegressor(hidden_layer_sizes=(8,), dropout=0.25, max_iter=2,
                               random_state=0)
    with pytest.warns(Warning):
        regressor.fit(X, X[:, 0])
    assert pickle.loads(pickle.dumps(regressor)).dropout == 0.25


def test_a_version_1_estimator_pickle_loads_without_dropout():
    pytest.importorskip("sklearn")
    from pathlib import Path
    path = Path(__file__).parent / "data" / "format-1" / "classifier-v1.pickle"
    model = pickle.loads(path.read_bytes())
    assert model.dropout == 0.0 and not any(model._network.dropout)


def test_the_estimators_check_dropout():
    pytest.importorskip("sklearn")
    from densecore.sklearn import DenseClassifier
    from sklearn.utils._param_validation import InvalidParameterError
    X, y = problem()
    with pytest.raises(InvalidParameterError, match="dropout"):
        DenseClassifier(dropout=1.0).fit(X, y)
    with pytest.raises(ValueError, match="dropout must be one rate or 2 rates, one per hidden "
                                         "layer, got 3"):
        DenseClassifier((4, 4), dropout=[0.1, 0.1, 0.1]).fit(X, y)
    with pytest.raises(ValueError, match="solver 'lbfgs' .* takes no dropout"):
        DenseClassifier(solver="lbfgs", dropout=0.1).fit(X, y)


def test_dask_replicas_draw_reproducible_masks(client):
    da = pytest.importorskip("dask.array")
    import densecore.dask as dd
    X, y = problem(n=240)
    settings = dict(epochs=2, batch_size=16, learning_rate=0.05, seed=3)
    # One chunk: Network.fit's masks and steps, so its weights.
    expected = Network.from_sizes([8, 16, 3], seed=1, dropout=0.4)
    expected.fit(X, y, **settings)
    one = Network.from_sizes([8, 16, 3], seed=1, dropout=0.4)
    dd.fit(one, da.from_array(X, chunks=len(X)), da.from_array(y, chunks=len(y)),
           sync_every=3, **settings)
    np.testing.assert_allclose(one.parameters, expected.parameters, rtol=1e-12, atol=1e-14)
    # Two chunks, twice: the same weights bit for bit; another seed others.
    runs = []
    for seed in (3, 3, 4):
        net = Network.from_sizes([8, 16, 3], seed=1, dropout=0.4)
        dd.fit(net, da.from_array(X, chunks=120), da.from_array(y, chunks=120),
               **{**settings, "seed": seed})
        runs.append(net.parameters)
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])
    model = dd.DaskDenseClassifier((16,), dropout=0.2, max_iter=2, random_state=0)
    with pytest.warns(Warning):
        model.fit(da.from_array(X, chunks=120), da.from_array(y, chunks=120))
    assert model._network.dropout == [0.2, 0.0]
    assert dd.DaskDenseRegressor(dropout=0.1).get_params()["dropout"] == 0.1


def test_a_rate_set_on_a_layer_later_is_checked():
    net = Network.from_sizes([8, 16, 3], seed=1)
    with pytest.raises(ValueError, match=r"dropout must be a rate in \[0, 1\), got 1"):
        net.layers[0].dropout = 1
    net.layers[0].dropout = 0.5
    assert net.dropout == [0.5, 0.0]
    net.layers[-1].dropout = 0.5
    with pytest.raises(ValueError, match="the output layer cannot drop its outputs"):
        net.fit(*problem(), epochs=1)
