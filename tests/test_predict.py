"""The serving path: Network.predict and evaluate through the compiled predictor, in
blocks of rows, with ``out=``, against a plain numpy forward pass."""
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from densecore import Network, _train, activations
from densecore.network import BLOCK_BYTES

TOLERANCE = {np.float32: 1e-5, np.float64: 1e-12}


def numpy_predict(net, X):
    out = np.asarray(X, np.float64)
    for i, layer in enumerate(net.layers):
        signal = out @ layer.weights.T.astype(np.float64) + layer.bias.ravel()
        if i < len(net.layers) - 1:
            out = np.maximum(signal, 0)
        else:
            shifted = np.exp(signal - signal.max(axis=1, keepdims=True))
            out = shifted / shifted.sum(axis=1, keepdims=True)
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows", [1, 3, 2100])
def test_predict_matches_numpy(dtype, rows):
    # 2,100 rows of 512-wide float64 signals are more than one block.
    net = Network.from_sizes([20, 512, 7], dtype=dtype, seed=0)
    X = np.random.default_rng(1).standard_normal((rows, 20)).astype(dtype)
    expected = numpy_predict(net, X)
    for _ in range(2):  # built on the first call, reused on the second
        got = net.predict(X)
        assert got.dtype == dtype and got.shape == (rows, 7)
        np.testing.assert_allclose(got, expected, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype])
    assert BLOCK_BYTES // (512 * 8) < 2100


def test_predict_follows_changed_parameters():
    net = Network.from_sizes([4, 6, 3], seed=0)
    X = np.random.default_rng(2).standard_normal((1, 4))
    before = net.predict(X)
    net.parameters[:] *= 0.5
    np.testing.assert_allclose(net.predict(X), numpy_predict(net, X), rtol=1e-12)
    assert not np.allclose(net.predict(X), before)
    other = Network.from_sizes([4, 6, 3], seed=5)
    net.set_state(other.state())
    np.testing.assert_array_equal(net.predict(X), other.predict(X))
    net.fit(np.random.default_rng(3).standard_normal((32, 4)), np.arange(32) % 3, epochs=1)
    np.testing.assert_allclose(net.predict(X), numpy_predict(net, X), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_predict_into_out(dtype):
    net = Network.from_sizes([5, 8, 3], dtype=dtype, seed=0)
    X = np.random.default_rng(4).standard_normal((1, 5)).astype(dtype)
    out = np.full((1, 3), np.nan, dtype)
    for _ in range(2):
        assert net.predict(X, out=out) is out
        np.testing.assert_allclose(out, numpy_predict(net, X), rtol=TOLERANCE[dtype])
    many = np.random.default_rng(5).standard_normal((50, 5))  # converted from float64
    out = np.empty((50, 3), dtype)
    assert net.predict(many, out=out) is out
    np.testing.assert_allclose(out, numpy_predict(net, many.astype(dtype)),
                               rtol=TOLERANCE[dtype] * 10, atol=TOLERANCE[dtype])


def test_out_is_checked():
    net = Network.from_sizes([5, 8, 3], seed=0)
    X = np.zeros((2, 5))
    with pytest.raises(ValueError, match=r"out must have shape \(2, 3\), got shape \(3, 3\)"):
        net.predict(X, out=np.empty((3, 3)))
    with pytest.raises(TypeError, match="out must have dtype float64, got float32"):
        net.predict(X, out=np.empty((2, 3), np.float32))
    with pytest.raises(TypeError, match="out must be a numpy array, got list"):
        net.predict(X, out=[[0.0] * 3] * 2)
    with pytest.raises(ValueError, match="writable C-contiguous"):
        net.predict(X, out=np.empty((3, 2)).T)
    assert_read_only_out_refused(net, X)


def assert_read_only_out_refused(net, X):
    read_only = np.empty((len(X), net.sizes[-1]))
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match="writable C-contiguous"):
        net.predict(X, out=read_only)


def test_fast_path_keeps_the_checks():
    net = Network.from_sizes([4, 6, 3], seed=0)
    net.predict(np.zeros((1, 4)))  # builds the predictor
    bad = np.zeros((1, 4))
    bad[0, 2] = np.nan
    with pytest.raises(ValueError, match="finite"):
        net.predict(bad)
    with pytest.raises(ValueError, match=r"shape \(n_samples, 4\)"):
        net.predict(np.zeros((1, 5)))
    with pytest.raises(ValueError, match="shape"):
        net.predict(np.zeros(4))
    np.testing.assert_allclose(net.predict(np.ones((1, 4), np.int64)),
                               net.predict(np.ones((1, 4))))
    np.testing.assert_allclose(net.predict(np.ones((4, 1)).T), net.predict(np.ones((1, 4))))
    assert net.predict(np.zeros((0, 4))).shape == (0, 3)


def predictor(net, capacity):
    return _train.Predictor([(layer.weights, layer.bias.reshape(-1),
                              activations.resolve(layer.activation_name).code)
                             for layer in net.layers], capacity)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_serve_computes_what_predict_computes(dtype):
    net = Network.from_sizes([9, 6, 3], dtype=dtype, seed=0)
    serving = predictor(net, capacity=4)
    X = np.random.default_rng(7).standard_normal((4, 9)).astype(dtype)
    for rows in (1, 4):
        expected = np.empty((rows, 3), dtype)
        serving.predict(X[:rows], expected)
        got = serving.serve(X[:rows], None)
        assert got.dtype == dtype and got.shape == (rows, 3)
        np.testing.assert_array_equal(got, expected)
        out = np.empty((rows, 3), dtype)
        assert serving.serve(X[:rows], out) is out
        np.testing.assert_array_equal(out, expected)


def test_serve_refuses_what_predict_would_not_take():
    """None, having written nothing, for anything but 1 to capacity finite rows of the
    network's dtype and shape (and an out it can write): the caller's checked path
    then says what is wrong."""
    net = Network.from_sizes([9, 6, 3], seed=0)
    serving = predictor(net, capacity=4)
    X = np.random.default_rng(8).standard_normal((2, 9))
    out = np.full((2, 3), 7.0)
    read_only = out.copy()
    read_only.flags.writeable = False
    refused = [(X.tolist(), None), (X.astype(np.float32), None), (X[:, :8], None),
               (X[0], None), (np.zeros((0, 9)), None), (np.zeros((5, 9)), None),
               (np.asfortranarray(X), None), (X, out[:1]), (X, out.T.copy()),
               (X, np.asfortranarray(out)), (X, read_only), (X, out.astype(np.float32)),
               (X, out.tolist())]
    for bad in (np.nan, np.inf, -np.inf):  # at every position: the vectorised check's lanes
        for i in range(X.size):
            poisoned = X.copy()
            poisoned.flat[i] = bad
            refused.append((poisoned, out))
    for args in refused:
        assert serving.serve(*args) is None
    assert (out == 7).all()


class Subclass(np.ndarray):
    pass


def test_serve_refuses_byte_swapped_and_subclassed_arrays():
    net = Network.from_sizes([9, 6, 3], seed=0)
    serving = predictor(net, capacity=4)
    X = np.random.default_rng(9).standard_normal((2, 9))
    out = np.full((2, 3), 7.0)
    swapped = X.astype(X.dtype.newbyteorder())
    refused = [(swapped, None), (X, out.astype(out.dtype.newbyteorder())),
               (X.view(Subclass), None), (X, out.view(Subclass))]
    for args in refused:
        assert serving.serve(*args) is None
    assert (out == 7).all()
    with pytest.raises(ValueError, match="C-contiguous float64"):
        serving.predict(swapped, out)


def test_predict_after_serve_refuses():
    """The checked path takes what serve refuses: it converts X, and says what is
    wrong with out."""
    net = Network.from_sizes([9, 6, 3], seed=0)
    X = np.random.default_rng(10).standard_normal((1, 9))
    expected = net.predict(X)
    swapped = X.astype(X.dtype.newbyteorder())
    np.testing.assert_array_equal(net.predict(swapped), expected)
    np.testing.assert_array_equal(net.predict(X[:, ::-1][:, ::-1]), expected)
    with pytest.raises(TypeError, match="out must have dtype float64, got >f8"):
        net.predict(X, out=np.empty((1, 3), ">f8"))
    with pytest.raises(ValueError, match="writable C-contiguous"):
        net.predict(X, out=np.empty((1, 6))[:, ::2])
    assert_read_only_out_refused(net, X)


def test_serve_refuses_while_the_buffers_are_claimed():
    net = Network.from_sizes([9, 6, 3], seed=0)
    serving = predictor(net, capacity=4)
    X = np.random.default_rng(11).standard_normal((1, 9))
    assert serving.claim()
    assert not serving.claim()
    assert serving.serve(X, None) is None
    serving.release()
    assert serving.serve(X, None) is not None
    assert serving.claim()  # serve let go of them


def test_predict_while_another_thread_holds_the_predictor():
    """A call that finds the network's predictor held computes on a private one,
    leaving the holder's buffers alone."""
    net = Network.from_sizes([9, 6, 3], seed=0)
    X = np.random.default_rng(12).standard_normal((2, 9))
    expected = [net.predict(X[:rows]) for rows in (1, 2)]
    shared = net._predictor
    held = net._blocks(np.ones((2, 9)))
    start, stop, (signal, out) = next(held)  # holds the predictor until closed
    before = out.copy()
    for rows in (1, 2):
        np.testing.assert_array_equal(net.predict(X[:rows]), expected[rows - 1])
    np.testing.assert_array_equal(out, before)
    assert net._predictor is shared and not shared.claim()
    held.close()
    assert shared.claim()
    shared.release()


def test_callable_activation_stays_on_numpy():
    from densecore import Layer
    net = Network([Layer(3, 4, activation=np.tanh, activation_derivative=lambda a: 1 - a * a,
                         rng=np.random.default_rng(0))])
    X = np.random.default_rng(6).standard_normal((2, 4))
    expected = np.tanh(X @ net.layers[0].weights.T + net.layers[0].bias.ravel())
    np.testing.assert_allclose(net.predict(X), expected, rtol=1e-12)
    out = np.empty((2, 3))
    assert net.predict(X, out=out) is out
    np.testing.assert_allclose(out, expected, rtol=1e-12)


def test_evaluate_sums_block_by_block():
    net = Network.from_sizes([6, 512, 4], seed=0)
    rng = np.random.default_rng(7)
    X = rng.standard_normal((3000, 6))  # several blocks
    y = rng.integers(0, 4, 3000)
    weight = rng.uniform(0.5, 2, 3000)
    out = numpy_predict(net, X)
    picked = out[np.arange(3000), y]
    right = out.argmax(axis=1) == y
    logs = net.evaluate(X, y)
    assert logs["loss"] == pytest.approx(-np.log(picked).mean(), rel=1e-10)
    assert logs["accuracy"] == pytest.approx(right.mean(), rel=1e-12)
    logs = net.evaluate(X, y, sample_weight=weight)
    assert logs["loss"] == pytest.approx(-(weight * np.log(picked)).sum() / weight.sum(),
                                         rel=1e-10)
    assert logs["accuracy"] == pytest.approx((weight * right).sum() / weight.sum(), rel=1e-12)


MEMORY_SCRIPT = textwrap.dedent("""
    import json
    import numpy as np
    from densecore import Network

    def status(field):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024

    net = Network.from_sizes([64, 256, 256, 10], seed=0)
    X = np.random.default_rng(0).standard_normal((ROWS, 64))
    net.predict(X[:8])
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # restart VmHWM from the current RSS
    before = status("VmRSS")
    out = net.predict(X)
    print(json.dumps({"growth": status("VmHWM") - before, "output": out.nbytes}))
""")


def test_predict_memory_is_bounded(tmp_path):
    # Whole-array intermediates would be 4 x 400,000 x 256 x 8 bytes = 3.3 GB.  The
    # child runs in tmp_path so that it imports the installed package.
    result = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT.replace("ROWS", "400_000")],
                            capture_output=True, text=True, timeout=120, check=True,
                            cwd=tmp_path)
    measured = json.loads(result.stdout)
    assert measured["growth"] <= measured["output"] + 64 * 2 ** 20, measured
