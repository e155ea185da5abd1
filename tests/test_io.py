"""Saving, loading and pickling networks: exact round trips, safe files, clear errors."""
import copy
import io
import os
import pickle
import pickletools
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import densecore
from densecore import Layer, Network

CONFIGURATIONS = [
    ([6, 5, 4], ["relu", "softmax"], "cross_entropy"),
    ([6, 7, 5, 3], ["tanh", "leaky_relu", "identity"], "mse"),
    ([6, 4, 2], ["sigmoid", "sigmoid"], "binary_cross_entropy"),
    ([6, 5, 3], ["softmax", "tanh"], "mse"),
]


def network(sizes=(6, 5, 4), names=("relu", "softmax"), loss=None, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return Network([Layer(n_out, n_in, name, dtype=dtype, init="glorot", rng=rng)
                    for n_in, n_out, name in zip(sizes, sizes[1:], names)], loss=loss)


def inputs(n_features, dtype=np.float64, n=20):
    return np.random.default_rng(1).standard_normal((n, n_features)).astype(dtype)


def arrays_of(path):
    with np.load(path, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def rewrite(path, **changes):
    """Save ``path`` again with members replaced (or removed, for None); "/" is "__"."""
    arrays = arrays_of(path)
    for name, value in changes.items():
        name = name.replace("__", "/")
        if value is None:
            del arrays[name]
        else:
            arrays[name] = value
    np.savez(path, **arrays)


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "model.npz"
    network().save(path)
    return path


# -- round trips ----------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sizes, names, loss", CONFIGURATIONS)
def test_round_trip_predicts_bit_for_bit(tmp_path, sizes, names, loss, dtype):
    net = network(sizes, names, loss, dtype)
    path = tmp_path / "model.npz"
    net.save(path)
    for loaded in (Network.load(path), densecore.load(str(path))):
        assert type(loaded) is Network
        assert (loaded.sizes, loaded.activation_names, loaded.loss, loaded.dtype) == \
               (net.sizes, net.activation_names, net.loss, np.dtype(dtype))
        for a, b in zip(net.layers, loaded.layers):
            assert b.weights.dtype == dtype and b.bias.shape == a.bias.shape
            np.testing.assert_array_equal(a.weights, b.weights)
            np.testing.assert_array_equal(a.bias, b.bias)
        X = inputs(sizes[0], dtype)
        np.testing.assert_array_equal(loaded.predict(X), net.predict(X))


def test_the_file_holds_plain_arrays_only(saved):
    arrays = arrays_of(saved)
    assert not any(array.dtype.hasobject for array in arrays.values())
    assert arrays["format_version"] == 2 and list(arrays["sizes"]) == [6, 5, 4]
    assert arrays["dropout"].dtype == np.float64 and list(arrays["dropout"]) == [0.0, 0.0]
    assert list(arrays["activations"]) == ["relu", "softmax"]
    assert arrays["dtype"] == "float64" and arrays["loss"] == "cross_entropy"
    assert arrays["layers/1/weights"].shape == (4, 5) and arrays["layers/1/bias"].shape == (4,)


def test_optimizer_state_travels_under_its_prefix(tmp_path):
    net = network()
    net.partial_fit(inputs(6), np.arange(20) % 4, optimizer="adam", seed=0)
    net.save(tmp_path / "model.npz")
    arrays = arrays_of(tmp_path / "model.npz")
    assert arrays["optimizer/name"] == "adam" and arrays["optimizer/step"] == 1
    loaded = Network.load(tmp_path / "model.npz")
    assert loaded.optimizer == densecore.Adam()
    restored, original = loaded.state()["optimizer"], net.state()["optimizer"]
    assert restored.keys() == original.keys()
    for key, value in original.items():
        np.testing.assert_array_equal(restored[key], value)
    assert restored["slots"].dtype == original["slots"].dtype


def test_an_untrained_network_loads_without_an_optimizer(saved):
    assert not any(name.startswith("optimizer/") for name in arrays_of(saved))
    assert Network.load(saved).optimizer is None


RESUMED_OPTIMIZERS = [densecore.SGD(), densecore.SGD(momentum=0.9, nesterov=True),
                      densecore.Adam(beta_1=0.8), densecore.AdamW(weight_decay=0.1)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("optimizer", RESUMED_OPTIMIZERS, ids=repr)
@pytest.mark.parametrize("through", ["file", "pickle"])
def test_training_resumes_exactly_after_a_round_trip(tmp_path, optimizer, dtype, through):
    X, y = inputs(6, dtype, n=64), np.arange(64) % 4
    alpha = 0.0 if optimizer.decoupled_decay else 1e-3  # AdamW decays by itself
    uninterrupted, interrupted = network(dtype=dtype), network(dtype=dtype)
    for net in (uninterrupted, interrupted):
        net.partial_fit(X, y, optimizer=optimizer, alpha=alpha, batch_size=8, seed=0)
    if through == "file":
        interrupted.save(tmp_path / "model.npz")
        resumed = Network.load(tmp_path / "model.npz")
    else:
        resumed = pickle.loads(pickle.dumps(interrupted))
    assert resumed.optimizer == optimizer
    for seed in (1, 2, 3):
        losses = [net.partial_fit(X, y, alpha=alpha, batch_size=8, seed=seed)
                  for net in (uninterrupted, resumed)]
        assert losses[0] == losses[1]
    for a, b in zip(uninterrupted.layers, resumed.layers):
        assert b.weights.dtype == dtype
        np.testing.assert_array_equal(a.weights, b.weights)
        np.testing.assert_array_equal(a.bias, b.bias)


def test_saving_over_a_file_replaces_it(saved):
    other = network(seed=5)
    other.save(saved)
    X = inputs(6)
    np.testing.assert_array_equal(Network.load(saved).predict(X), other.predict(X))
    assert os.listdir(saved.parent) == ["model.npz"]  # no temporary file left behind


def test_loading_leaves_the_global_random_state_alone(saved):
    np.random.seed(3)
    expected = np.random.random()
    np.random.seed(3)
    Network.load(saved)
    assert np.random.random() == expected


# -- pickles --------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pickle_round_trip_predicts_bit_for_bit(dtype):
    net = network(dtype=dtype)
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        loaded = pickle.loads(pickle.dumps(net, protocol=protocol))
        assert loaded.dtype == dtype
        np.testing.assert_array_equal(loaded.predict(inputs(6, dtype)),
                                      net.predict(inputs(6, dtype)))


def test_a_pickle_carries_the_saved_file_and_nothing_else(tmp_path):
    net = network()
    net.notes = "not part of the model"
    data = pickle.dumps(net)
    strings = [arg for op, arg, _ in pickletools.genops(data) if isinstance(arg, str)]
    assert strings == ["densecore._serialization", "from_bytes",
                       "densecore.network", "Network"]
    assert not hasattr(pickle.loads(data), "notes")
    payload = [arg for op, arg, _ in pickletools.genops(data) if isinstance(arg, bytes)]
    net.save(tmp_path / "model.npz")
    assert arrays_of(io.BytesIO(payload[0])).keys() == arrays_of(tmp_path / "model.npz").keys()


class Subnetwork(Network):
    pass


def test_subclasses_and_copies_keep_their_type():
    net = Subnetwork(network().layers)
    assert type(pickle.loads(pickle.dumps(net))) is Subnetwork
    twin = copy.deepcopy(net)
    assert type(twin) is Subnetwork
    assert not np.shares_memory(twin.layers[0].weights, net.layers[0].weights)


def test_a_named_layer_pickles_through_the_same_format():
    layer = Layer(3, 4, "tanh", dtype=np.float32, rng=0)
    layer.forward(np.ones((4, 2)))
    loaded = pickle.loads(pickle.dumps(layer))
    assert (loaded.output_size, loaded.input_size, loaded.activation_name, loaded.dtype) == \
           (3, 4, "tanh", np.float32)
    np.testing.assert_array_equal(loaded.weights, layer.weights)
    np.testing.assert_array_equal(loaded.bias, layer.bias)
    assert loaded.X is None  # a forward pass's results are not part of a layer's state


# -- what cannot be saved, and failed saves -------------------------------


def softplus(z):
    return np.logaddexp(0, z)


def softplus_derivative(z):
    return 1 / (1 + np.exp(-z))


def custom_network():
    return Network([Layer(5, 6, softplus, softplus_derivative, rng=0),
                    Layer(4, 5, "softmax", rng=0)])


@pytest.mark.parametrize("dump", [lambda net: net.save("/no/such/folder/model.npz"),
                                  pickle.dumps, copy.deepcopy,
                                  lambda net: pickle.dumps(net.layers[0])])
def test_callable_activations_refuse_to_save_or_pickle(dump):
    with pytest.raises(ValueError, match=r"Python-callable activations \(layers \[0\]\)"):
        dump(custom_network())


def test_a_refused_save_leaves_the_old_file(saved):
    before = saved.read_bytes()
    with pytest.raises(ValueError, match="callable"):
        custom_network().save(saved)
    diverged = network()
    diverged.layers[0].weights[0, 0] = np.nan
    with pytest.raises(ValueError, match="layer 0 holds NaN"):
        diverged.save(saved)
    assert saved.read_bytes() == before and os.listdir(saved.parent) == ["model.npz"]


def test_a_failed_save_leaves_the_old_file_and_no_temporary(saved, tmp_path):
    before = saved.read_bytes()
    with pytest.raises(FileNotFoundError):
        network().save(tmp_path / "missing" / "model.npz")
    (tmp_path / "folder").mkdir()
    with pytest.raises(IsADirectoryError):
        network().save(tmp_path / "folder")
    assert saved.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["folder", "model.npz"]
    assert os.listdir(tmp_path / "folder") == []


KILLED_SAVE = """
import sys
import densecore
net = densecore.Network.from_sizes([2000, 4000, 2000], seed=1)
print("ready", flush=True)
sys.stdin.readline()
net.save(sys.argv[1])
print("saved", flush=True)
"""


def test_a_save_killed_midway_leaves_the_previous_file_loadable(saved):
    before = saved.read_bytes()
    child = subprocess.Popen([sys.executable, "-c", KILLED_SAVE, str(saved)],
                             cwd=saved.parent, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
    try:
        assert child.stdout.readline() == "ready\n"
        child.stdin.write("go\n")
        child.stdin.flush()
        # 16 million float64 parameters (128 MB): kill once writing has begun.
        deadline = time.monotonic() + 60
        while not any(name.endswith(".tmp") and (saved.parent / name).stat().st_size
                      for name in os.listdir(saved.parent)):
            assert child.poll() is None and time.monotonic() < deadline
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
        child.stdout.close()
        child.stdin.close()
    assert child.returncode == -signal.SIGKILL
    leftovers = [name for name in os.listdir(saved.parent) if name.endswith(".tmp")]
    assert len(leftovers) == 1  # the half-written temporary, never renamed
    assert saved.read_bytes() == before
    X = inputs(6)
    np.testing.assert_array_equal(Network.load(saved).predict(X), network().predict(X))


# -- bad files ------------------------------------------------------------


def test_a_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        densecore.load(tmp_path / "nothing.npz")


@pytest.mark.parametrize("contents, message", [
    (b"", "not a readable zip archive"),
    (b"\x93NUMPY random bytes", "not a readable zip archive"),
    (b"PK\x03\x04" + bytes(100), "not a readable zip archive"),
    (b"PK\x05\x06" + bytes(18), "missing member 'format_version'"),  # an empty zip
])
def test_bytes_that_are_no_archive(tmp_path, contents, message):
    path = tmp_path / "model.npz"
    path.write_bytes(contents)
    with pytest.raises(ValueError, match=f"'{path}' is not a valid densecore model: {message}"):
        densecore.load(path)


def test_every_truncation_is_a_value_error(saved):
    data = saved.read_bytes()
    for length in range(0, len(data), 7):
        saved.write_bytes(data[:length])
        with pytest.raises(ValueError, match="is not a valid densecore model"):
            densecore.load(saved)


@pytest.mark.parametrize("changes, message", [
    ({"format_version": np.array(3)}, "format_version is 3, this densecore reads versions 1 "
                                       "and 2"),
    ({"format_version": np.array(1)}, r"unexpected members \['dropout'\] in a file of "
                                      "version 1"),
    ({"dropout": None}, "missing member 'dropout'"),
    ({"dropout": np.zeros(3)}, "2 layers need 2 dropout rates, got 3"),
    ({"dropout": np.array(["a", "b"])}, "'dropout' must be a 1-d array of floats"),
    ({"dropout": np.array([np.nan, 0.0])}, "each dropout rate must be a finite number"),
    ({"dropout": np.array([0.0, 0.5])}, "the output layer cannot drop its outputs"),
    ({"format_version": np.array("1")}, "'format_version' must be a 0-d array of integers"),
    ({"format_version": None}, "missing member 'format_version'"),
    ({"layers__1__bias": None}, "missing member 'layers/1/bias'"),
    ({"layers__2__weights": np.ones((3, 4))}, r"unexpected members \['layers/2/weights'\]"),
    ({"readme": np.array("hello")}, r"unexpected members \['readme'\]"),
    ({"layers__0__weights": np.ones((5, 7))}, r"must be float64 of shape \(5, 6\), got float64 "
                                               r"of shape \(5, 7\)"),
    ({"layers__0__weights": np.ones((5, 6), np.float32)}, "must be float64 of shape"),
    ({"layers__0__weights": np.ones((5, 6), ">f8")}, "must be float64 of shape"),
    ({"layers__0__bias": np.ones((5, 1))}, r"must be float64 of shape \(5,\)"),
    ({"layers__0__bias": np.full(5, np.inf)}, "'layers/0/bias' holds NaN or infinity"),
    ({"sizes": np.array([6, 5, 4, 3])}, "4 sizes need 3 activations, got 2"),
    ({"sizes": np.array([6, 5, 3])}, r"'layers/1/weights' must be float64 of shape \(3, 5\)"),
    ({"sizes": np.array([6, 0, 4])}, "at least two positive sizes"),
    ({"sizes": np.array([6.0, 5.0, 4.0])}, "'sizes' must be a 1-d array of integers"),
    ({"activations": np.array(["relu", "swish"])}, "activation must be one of"),
    ({"activations": np.array("relu")}, "'activations' must be a 1-d array of strings"),
    ({"dtype": np.array("float16")}, "dtype must be 'float32' or 'float64', got 'float16'"),
    ({"loss": np.array("hinge")}, "loss must be one of"),
    ({"loss": np.array("binary_cross_entropy")}, "needs a 'sigmoid' output layer"),
])
def test_tampered_members(saved, changes, message):
    rewrite(saved, **changes)
    with pytest.raises(ValueError, match=message):
        densecore.load(saved)


@pytest.mark.parametrize("changes, message", [
    ({"optimizer__name": np.array("rmsprop")}, "invalid optimizer state"),
    ({"optimizer__beta_1": np.array(2.0)}, "invalid optimizer state"),
    ({"optimizer__slot_0_0": np.ones((6, 5))}, r"slot_0_0 must be a float array of shape"),
    ({"optimizer__slot_9_0": np.ones(3)}, "optimizer state has slots"),
    ({"optimizer__slot_0_1": np.full((5, 6), np.nan)}, "'optimizer/slot_0_1' holds NaN"),
])
def test_tampered_optimizer_state(tmp_path, changes, message):
    net = network()
    net.partial_fit(inputs(6), np.arange(20) % 4, optimizer="adam", seed=0)
    net.save(tmp_path / "model.npz")
    rewrite(tmp_path / "model.npz", **changes)
    with pytest.raises(ValueError, match=message):
        densecore.load(tmp_path / "model.npz")


def test_object_arrays_are_refused_without_running_code(saved, tmp_path):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return exec, (f"open({str(marker)!r}, 'w').close()",)

    rewrite(saved, layers__0__weights=np.array([Payload()], dtype=object))
    with pytest.raises(ValueError, match="must hold numbers or strings, got dtype object"):
        densecore.load(saved)
    assert not marker.exists()


def test_archive_level_tampering(saved, tmp_path):
    arrays = arrays_of(saved)
    np.savez_compressed(saved, **arrays)
    with pytest.raises(ValueError, match="compressed; densecore writes arrays uncompressed"):
        densecore.load(saved)
    with zipfile.ZipFile(saved, "w") as archive:
        archive.writestr("notes.txt", "hello")
    with pytest.raises(ValueError, match="member 'notes.txt': not a .npy array"):
        densecore.load(saved)
    with open(saved, "wb") as file:
        np.save(file, np.ones(3))  # a lone .npy, not an archive
    with pytest.raises(ValueError, match="not a readable zip archive"):
        densecore.load(saved)


def test_a_header_that_overstates_its_data(saved):
    # A shape of 10**12 elements over a few bytes must not allocate them.
    data = saved.read_bytes()
    header = "'shape': (5, 6)"
    assert data.count(header.encode()) == 1
    saved.write_bytes(data.replace(header.encode(), b"'shape': (10**12,)".ljust(len(header))))
    with pytest.raises(ValueError, match="is not a valid densecore model"):
        densecore.load(saved)


@pytest.fixture(scope="module")
def valid_file():
    net = network(sizes=(3, 4, 2))  # with Adam's state, so that fuzzing reaches it
    net.partial_fit(inputs(3), np.arange(20) % 2, optimizer="adam", seed=0)
    return densecore._serialization.to_bytes(net.state())


def load_bytes(folder, data):
    path = folder / "fuzzed.npz"
    path.write_bytes(data)
    try:
        return densecore.load(path)
    except ValueError:
        return None


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=2000))
def test_random_bytes_only_raise_value_error(tmp_path, data):
    assert load_bytes(tmp_path, data) is None


@settings(max_examples=500, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_mutated_files_load_or_raise_value_error(tmp_path, valid_file, data):
    contents = bytearray(valid_file)
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(contents) - 1))
        action = data.draw(st.sampled_from(["set", "insert", "delete", "cut"]))
        if action == "set":
            contents[position] = data.draw(st.integers(0, 255))
        elif action == "insert":
            contents[position:position] = data.draw(st.binary(min_size=1, max_size=8))
        elif action == "delete":
            del contents[position:position + data.draw(st.integers(1, 8))]
        else:
            del contents[position:]
        if not contents:
            break
    net = load_bytes(tmp_path, bytes(contents))
    if net is not None:  # a harmless change (e.g. in padding) still gives a valid network
        assert net.sizes == [3, 4, 2] and net.optimizer == densecore.Adam()
        assert np.isfinite(net.predict(inputs(3))).all()


MEMBER_ARRAYS = hnp.arrays(
    st.sampled_from([np.bool_, np.int8, np.int64, np.uint32, np.float16, np.float32,
                     np.float64, ">f8", "<U7"]),
    hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=6))


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_members_replaced_by_any_array_load_or_raise_value_error(tmp_path, valid_file, data):
    arrays = arrays_of(io.BytesIO(valid_file))
    for _ in range(data.draw(st.integers(1, 3))):
        name = data.draw(st.sampled_from(sorted(arrays) + ["layers/2/weights", "optimizer/x"]))
        arrays[name] = data.draw(MEMBER_ARRAYS)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    net = load_bytes(tmp_path, buffer.getvalue())
    if net is not None:
        assert all(np.isfinite(layer.weights).all() for layer in net.layers)
        assert np.isfinite(net.predict(inputs(net.sizes[0]))).all()
