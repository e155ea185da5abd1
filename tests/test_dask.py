"""densecore.dask on a real LocalCluster of two worker processes, one thread each."""
import os
import pickle
import pickletools
import signal
import subprocess
import sys

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
from distributed.diagnostics.plugin import SchedulerPlugin  # noqa: E402
pytest.importorskip("sklearn")

import densecore  # noqa: E402
import densecore.dask as dd  # noqa: E402
from densecore.__main__ import digits_split  # noqa: E402
from densecore._serialization import to_arrays  # noqa: E402
from densecore.sklearn import DenseClassifier  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.utils._param_validation import InvalidParameterError  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    return digits_split()


def small_network(seed=0, dtype=np.float64):
    return densecore.Network.from_sizes([64, 24, 10], dtype=dtype, seed=seed)


def parameters(net):
    return [p for layer in net.layers for p in (layer.weights, layer.bias)]


def test_import_densecore_does_not_import_dask():
    code = "import sys, densecore; print('dask' in sys.modules or 'distributed' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, cwd=os.path.dirname(sys.executable))
    assert result.stdout.strip() == "False"


# -- prediction -----------------------------------------------------------------


def test_predict_matches_numpy_with_the_row_chunks_of_x(client, digits):
    X = digits[0]
    net = small_network()
    X_dask = da.from_array(X, chunks=(300, 16))  # the feature axis is rechunked
    predicted = dd.predict(net, X_dask)
    assert predicted.chunks == (X_dask.chunks[0], (10,))
    np.testing.assert_allclose(predicted.compute(), net.predict(X), rtol=1e-10, atol=0)
    np.testing.assert_allclose(dd.predict_proba(net, X_dask).compute(), net.predict(X),
                               rtol=1e-10, atol=0)


def test_the_graph_holds_one_copy_of_the_network(digits):
    predicted = dd.predict(small_network(), da.from_array(digits[0], chunks=200))
    graph = dict(predicted.__dask_graph__())
    copies = [key for key, task in graph.items()
              if isinstance(getattr(task, "value", None), densecore.Network)]
    assert len(copies) == 1
    users = [key for key, task in graph.items() if copies[0] in getattr(task, "dependencies", ())]
    assert len(users) == predicted.numblocks[0]


def test_prediction_refusals(digits):
    net = small_network()
    with pytest.raises(TypeError, match="dask.array.Array, got ndarray"):
        dd.predict(net, digits[0])
    with pytest.raises(ValueError, match=r"shape \(n_samples, 64\), got \(10, 3\)"):
        dd.predict(net, da.zeros((10, 3)))
    regression = densecore.Network.from_sizes([64, 1], output_activation="identity")
    with pytest.raises(ValueError, match="loss='mse'"):
        dd.predict_proba(regression, da.zeros((4, 64)))


# -- training ---------------------------------------------------------------------


@pytest.mark.parametrize("optimizer, shuffle", [("sgd", True), ("adam", True), ("sgd", False)])
def test_one_chunk_gives_what_network_fit_gives(client, digits, optimizer, shuffle):
    X, y = digits[:2]
    expected, trained = small_network(), small_network()
    settings = dict(epochs=2, batch_size=32, learning_rate=0.01, optimizer=optimizer, seed=3,
                    shuffle=shuffle)
    history = expected.fit(X, y, **settings)
    dask_history = dd.fit(trained, da.from_array(X, chunks=len(X)),
                          da.from_array(y, chunks=len(y)), sync_every=7, **settings)
    for got, want in zip(parameters(trained), parameters(expected)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    assert dask_history.keys() == history.keys() == {"loss", "accuracy", "learning_rate"}
    np.testing.assert_allclose(dask_history["loss"], history["loss"], rtol=1e-12)
    assert dask_history["accuracy"] == history["accuracy"]
    assert dask_history["learning_rate"] == history["learning_rate"]


def fit_two_chunks(digits, net=None, callbacks=(), seed=4, epochs=3):
    X, y = digits[:2]
    net = small_network(dtype=np.float32) if net is None else net
    history = dd.fit(net, da.from_array(X.astype(np.float32), chunks=len(X) // 2 + 1),
                     da.from_array(y, chunks=500), epochs=epochs, batch_size=16,
                     learning_rate=0.05, optimizer="adam", sync_every=5, seed=seed,
                     callbacks=callbacks)
    return net, history


def test_same_seed_same_chunks_same_model_bit_for_bit(client, digits):
    first, first_history = fit_two_chunks(digits)
    second, second_history = fit_two_chunks(digits)
    assert first_history == second_history
    for a, b in zip(parameters(first), parameters(second)):
        np.testing.assert_array_equal(a, b)
    other, _ = fit_two_chunks(digits, seed=5)
    assert not np.array_equal(parameters(other)[0], parameters(first)[0])


class KillAWorker:
    """Kill a worker process holding a training chunk after the first epoch."""

    def __init__(self, client):
        self.client, self.killed = client, None

    def on_epoch_end(self, epoch, logs):
        if epoch == 0:
            address, pid = sorted(self.client.run(os.getpid).items())[0]
            os.kill(pid, signal.SIGKILL)
            self.killed = address


class KillAWorkerWhileTraining(SchedulerPlugin):
    """Kill the worker that starts the ``nth`` replica training task, in the middle of
    an epoch, whose rounds live only on the workers (the scheduler runs in this process)."""

    def __init__(self, nth):
        self.nth, self.started, self.killed = nth, 0, None

    async def start(self, scheduler):
        self.scheduler = scheduler

    def transition(self, key, start, finish, *args, **kwargs):
        if finish == "processing" and str(key).startswith("_train_replica"):
            self.started += 1
            if self.started == self.nth:
                worker = self.scheduler.tasks[key].processing_on
                os.kill(worker.pid, signal.SIGKILL)
                self.killed = worker.address


def assert_recovered_or_named_the_round(run, killed, expected, expected_history):
    """``run(net)`` trains while a worker is killed (``killed()`` says which): the result
    must be the model trained without the fault, or a RuntimeError naming the round,
    with finite parameters."""
    net = small_network(dtype=np.float32)
    try:
        _, history = run(net)
    except RuntimeError as error:  # the other way the issue allows: a clear error
        assert killed() is not None and "round" in str(error)
        assert all(np.isfinite(p).all() for p in parameters(net))
    else:
        # Dask recomputed the lost chunks and rounds: the same model as without the fault.
        print(f"killed {killed()}; training recovered")
        assert killed() is not None
        assert history == expected_history
        for a, b in zip(parameters(net), parameters(expected)):
            np.testing.assert_array_equal(a, b)


def test_a_worker_killed_between_epochs_changes_nothing(client, digits):
    expected, expected_history = fit_two_chunks(digits)
    killer = KillAWorker(client)
    try:
        assert_recovered_or_named_the_round(
            lambda net: fit_two_chunks(digits, net, callbacks=[killer]), lambda: killer.killed,
            expected, expected_history)
    finally:
        client.wait_for_workers(2, timeout=60)


def test_a_worker_killed_in_the_middle_of_an_epoch_changes_nothing(client, digits):
    expected, expected_history = fit_two_chunks(digits)
    # fit_two_chunks runs 2 chunks x 9 rounds an epoch: kill in the 2nd epoch's 3rd round.
    client.register_plugin(KillAWorkerWhileTraining(nth=2 * 9 + 5), name="kill-a-worker")

    def killed():
        return client.run_on_scheduler(
            lambda dask_scheduler: dask_scheduler.plugins["kill-a-worker"].killed)

    try:
        assert_recovered_or_named_the_round(
            lambda net: fit_two_chunks(digits, net), killed, expected, expected_history)
    finally:
        client.unregister_scheduler_plugin("kill-a-worker")
        client.wait_for_workers(2, timeout=60)


def test_a_failed_round_is_named_and_leaves_finite_parameters(client, digits):
    X, y = digits[:2]
    # A learning rate far too large: the regression diverges after a few epochs.
    net = densecore.Network.from_sizes([64, 24, 1], output_activation="identity", seed=0)
    with pytest.raises(RuntimeError, match=r"round \d+ of 6 in epoch [2-9].*FloatingPoint"):
        dd.fit(net, da.from_array(X, chunks=720), da.from_array(y * 1.0, chunks=720),
               epochs=10, batch_size=32, learning_rate=50.0, sync_every=4, seed=0)
    assert all(np.isfinite(p).all() for p in parameters(net))


def test_training_refusals(client, digits):
    X, y = digits[:2]
    net = small_network()
    with pytest.raises(TypeError, match="y must be a dask.array.Array, got ndarray"):
        dd.fit(net, da.from_array(X), y)
    with pytest.raises(ValueError, match="sync_every must be at least 1, got 0"):
        dd.fit(net, da.from_array(X), da.from_array(y), sync_every=0)
    with pytest.raises(ValueError, match=rf"y must have shape \({len(X)},\)"):
        dd.fit(net, da.from_array(X), da.from_array(y[:10]))
    with pytest.raises(ValueError, match="full-batch quasi-Newton method"):
        dd.fit(net, da.from_array(X), da.from_array(y), optimizer="lbfgs")


def test_two_workers_reach_the_accuracy_of_one_process(client, digits):
    X, y, X_test, y_test = digits
    settings = dict(epochs=25, batch_size=32, learning_rate=0.1, seed=0)
    single = densecore.Network.from_sizes([64, 64, 10], seed=0)
    single.fit(X, y, **settings)
    parallel = densecore.Network.from_sizes([64, 64, 10], seed=0)
    dd.fit(parallel, da.from_array(X, chunks=len(X) // 2 + 1),
           da.from_array(y, chunks=len(X) // 2 + 1), sync_every=8, **settings)
    single_accuracy = single.evaluate(X_test, y_test)["accuracy"]
    parallel_accuracy = parallel.evaluate(X_test, y_test)["accuracy"]
    print(f"digits test accuracy: one process {single_accuracy:.4f}, "
          f"2 workers {parallel_accuracy:.4f}")
    assert parallel_accuracy >= single_accuracy - 0.01


# -- estimators -----------------------------------------------------------------


def test_dask_classifier_fits_and_predicts_lazily(client, digits):
    X, y, X_test, y_test = digits
    clf = dd.DaskDenseClassifier((32,), max_iter=15, batch_size=32, learning_rate_init=0.01,
                                 sync_every=8, random_state=0)
    clf.fit(da.from_array(X, chunks=720), da.from_array(y, chunks=720))
    assert clf.n_iter_ == len(clf.loss_curve_) > 0
    predicted = clf.predict(da.from_array(X_test, chunks=100))
    assert isinstance(predicted, da.Array)
    np.testing.assert_array_equal(predicted.compute(), clf.predict(X_test))
    assert np.mean(clf.predict(X_test) == y_test) > 0.9
    assert clf.predict_proba(da.from_array(X_test, chunks=100)).compute().shape == (
        len(X_test), 10)
    log_proba = clf.predict_log_proba(da.from_array(X_test, chunks=100))
    assert isinstance(log_proba, da.Array)
    # Chunks of rows may round the last bit otherwise than the whole.
    np.testing.assert_allclose(log_proba.compute(), clf.predict_log_proba(X_test), rtol=1e-12)
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict_proba(X_test), clf.predict_proba(X_test))


def test_dask_regressor_takes_the_poisson_loss(client, digits):
    X, y = digits[:2]
    reg = dd.DaskDenseRegressor(loss="poisson", hidden_layer_sizes=(8,), max_iter=3,
                                random_state=0, learning_rate_init=0.01)
    with pytest.warns(ConvergenceWarning):
        reg.fit(da.from_array(X, chunks=720), da.from_array(y.astype(float), chunks=720))
    predictions = reg.predict(X)
    assert reg.out_activation_ == "exp" and (predictions > 0).all()
    assert reg.loss_curve_[-1] < reg.loss_curve_[0]


def test_dask_regressor_fits(client, digits, capsys):
    X, y = digits[:2]
    # verbose prints the MLP's lines on the client; n_iter_no_change=inf never stops.
    reg = dd.DaskDenseRegressor(hidden_layer_sizes=(16,), max_iter=5, random_state=0,
                                verbose=True, tol=1e9, n_iter_no_change=np.inf)
    with pytest.warns(ConvergenceWarning):
        reg.fit(da.from_array(X, chunks=720), da.from_array(y.astype(float), chunks=720))
    assert reg.predict(da.from_array(X, chunks=720)).compute().shape == (len(X),)
    lines = capsys.readouterr().out.splitlines()
    assert reg.n_iter_ == 5 and lines == [f"Iteration {i + 1}, loss = {loss:.8f}"
                                          for i, loss in enumerate(reg.loss_curve_)]
    assert reg.loss_ == reg.loss_curve_[-1]
    with pytest.raises(ValueError, match="do not support early_stopping=True"):
        dd.DaskDenseRegressor(early_stopping=True).fit(da.from_array(X), da.from_array(y))
    with pytest.raises(ValueError, match=r"train with a solver in \('sgd', 'adam'\), got "
                                         r"solver='lbfgs'"):
        dd.DaskDenseRegressor(solver="lbfgs").fit(da.from_array(X), da.from_array(y))
    with pytest.raises(ValueError, match="do not take sample_weight or class_weight yet"):
        dd.DaskDenseRegressor().fit(da.from_array(X), da.from_array(y),
                                    sample_weight=da.ones(len(y)))
    with pytest.raises(InvalidParameterError, match="'sync_every' parameter of "
                                                    "DaskDenseRegressor must be an int"):
        dd.DaskDenseRegressor(sync_every=0).fit(da.from_array(X), da.from_array(y))


@pytest.mark.parametrize("schedule, patience, expected", [
    ("invscaling", 10, lambda t: 0.1 / (t + 1) ** 0.5),
    # No epoch after the first improves by tol=1e9: "adaptive" divides the rate by 5
    # after epochs 3 and 5.
    ("adaptive", 1, lambda t: 0.1 / 5 ** 2),
])
def test_dask_classifier_follows_the_learning_rate_schedules(client, digits, schedule,
                                                            patience, expected):
    X, y = (da.from_array(a, chunks=720) for a in digits[:2])
    clf = dd.DaskDenseClassifier((16,), solver="sgd", learning_rate=schedule,
                                 learning_rate_init=0.1, power_t=0.5, max_iter=6, tol=1e9,
                                 n_iter_no_change=patience, sync_every=4, random_state=0)
    with pytest.warns(ConvergenceWarning):
        clf.fit(X, y)
    assert clf.n_iter_ == 6 and clf.t_ == 6 * len(digits[0])
    assert clf._learning_rate == pytest.approx(expected(clf.t_))


def test_dask_classifier_partial_fit_takes_numpy_blocks(client, digits):
    X, y = digits[:2]
    clf = dd.DaskDenseClassifier((16,), random_state=0)
    numpy_clf = DenseClassifier((16,), random_state=0)
    for estimator in (clf, numpy_clf):
        estimator.partial_fit(X, y, classes=np.arange(10)).partial_fit(X, y)
    np.testing.assert_array_equal(clf.predict_proba(X), numpy_clf.predict_proba(X))


def test_dask_classifier_warm_start_goes_on_from_the_fitted_network(client, digits):
    X, y = (da.from_array(a, chunks=720) for a in digits[:2])
    clf = dd.DaskDenseClassifier((16,), max_iter=2, warm_start=True, random_state=0)
    first_network = clf.fit(X, y)._network
    first_loss = clf.loss_curve_[-1]
    clf.fit(X, y)
    assert clf._network is first_network and len(clf.loss_curve_) == 4
    assert clf.loss_curve_[2] < first_loss  # went on from where it stopped
    # As MLPClassifier: a warm start must see the classes it saw before.
    with pytest.raises(ValueError, match=r"warm_start can only be used where `y` has the same "
                                         r"classes .* `y` has \[ 1  2 .* 10\]"):
        clf.fit(X, da.where(y == 0, 10, y))
    with pytest.raises(ValueError, match=r"same classes .* `y` has \[1 2 3 4 5 6 7 8 9\]"):
        clf.fit(X, da.where(y == 0, 1, y))  # no class 0


def test_a_dask_fitted_estimator_pickles_its_whole_state(client, digits):
    X, y, X_test, _ = digits
    clf = dd.DaskDenseClassifier((8,), max_iter=2, batch_size=64, sync_every=4,
                                 random_state=0)
    clf.fit(da.from_array(X, chunks=720), da.from_array(y, chunks=720))
    restored = pickle.loads(pickle.dumps(clf))
    assert type(restored) is dd.DaskDenseClassifier
    assert restored.get_params() == clf.get_params() and restored.sync_every == 4
    assert (restored.n_iter_, restored.t_, restored.loss_curve_) == (2, 2 * len(X),
                                                                     clf.loss_curve_)
    np.testing.assert_array_equal(restored.classes_, clf.classes_)
    np.testing.assert_array_equal(restored.predict_proba(X_test), clf.predict_proba(X_test))
    # Its predictions on a Dask array pickle it again, to the workers.
    np.testing.assert_array_equal(
        restored.predict(da.from_array(X_test, chunks=100)).compute(), clf.predict(X_test))
    # The class and one blob of arrays, nothing else; the blob holds the network
    # and the optimizer state averaged on the cluster.
    strings = [arg for _, arg, _ in pickletools.genops(pickle.dumps(clf)) if isinstance(arg, str)]
    assert strings == ["densecore.sklearn", "_from_bytes", "densecore.dask", "DaskDenseClassifier"]
    np.testing.assert_equal(to_arrays(restored._network.state()), to_arrays(clf._network.state()))
    # And the bookkeeping of scikit-learn's stopping rule: a warm start goes on alike.
    for model in (clf, restored):
        model.set_params(warm_start=True, max_iter=1).fit(da.from_array(X, chunks=720),
                                                          da.from_array(y, chunks=720))
    assert restored.loss_curve_ == clf.loss_curve_ and restored.t_ == clf.t_ == 3 * len(X)
    for a, b in zip(clf.coefs_, restored.coefs_):
        np.testing.assert_array_equal(a, b)


def test_estimators_pickle_to_identical_predictions(digits):
    X, y = digits[:2]
    clf = DenseClassifier((8,), max_iter=3, random_state=0).fit(X, y)
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))


def test_grid_search_runs_on_the_cluster(client, digits):
    from joblib import parallel_backend
    from sklearn.model_selection import GridSearchCV

    X, y = digits[:2]
    search = GridSearchCV(DenseClassifier(max_iter=5, random_state=0),
                          {"hidden_layer_sizes": [(8,), (16,)]}, cv=2)
    with parallel_backend("dask"), distributed.get_task_stream(client) as tasks:
        search.fit(X, y)
    assert set(search.cv_results_["param_hidden_layer_sizes"]) == {(8,), (16,)}
    assert len({task["worker"] for task in tasks.data}) == 2


def test_dask_ml_wrappers(client, digits):
    wrappers = pytest.importorskip("dask_ml.wrappers")
    X, y, X_test, y_test = digits
    post = wrappers.ParallelPostFit(DenseClassifier((16,), max_iter=20, random_state=0))
    post.fit(X, y)
    predicted = post.predict(da.from_array(X_test, chunks=100))
    np.testing.assert_array_equal(predicted.compute(), post.estimator.predict(X_test))
    incremental = wrappers.Incremental(
        DenseClassifier((16,), learning_rate_init=0.05, random_state=0), scoring="accuracy")
    incremental.fit(da.from_array(X, chunks=360), da.from_array(y, chunks=360),
                    classes=np.arange(10))
    assert incremental.score(da.from_array(X_test, chunks=100),
                             da.from_array(y_test, chunks=100)) > 0.7


# -- the command line -------------------------------------------------------------


def run_cli(*arguments, cwd):
    return subprocess.run([sys.executable, "-m", "densecore", "train", "--epochs", "2",
                           *arguments], capture_output=True, text=True, cwd=cwd, timeout=120)


def test_cli_trains_on_a_running_scheduler(client):
    result = run_cli("--dask", client.scheduler.address, cwd=os.getcwd())
    assert result.returncode == 0, result.stderr
    assert "2 Dask workers" in result.stdout and "test accuracy" in result.stdout


def test_cli_starts_a_local_cluster(tmp_path):
    result = run_cli("--dask", "local:1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "1 Dask workers" in result.stdout and "test accuracy" in result.stdout


def test_cli_refuses_a_bad_address(tmp_path):
    result = run_cli("--dask", "local:0", cwd=tmp_path)
    assert result.returncode == 2
    assert "--dask" in result.stderr


def test_linear_scaling_reaches_the_accuracy_of_network_fit(client):
    # The run of issue 15: a 20-32-3 classifier, 3,000 samples in 4 row chunks,
    # 40 epochs of batch 32 at rate 0.05 (every 4 mini-batches averaged).
    from sklearn.datasets import make_classification

    X, y = make_classification(4000, 20, n_informative=10, n_classes=3, random_state=0)
    X_test, y_test, X, y = X[3000:], y[3000:], X[:3000], y[:3000]
    settings = dict(epochs=40, batch_size=32, learning_rate=0.05, seed=0)

    def accuracy(scaling):
        net = densecore.Network.from_sizes([20, 32, 3], seed=1)
        if scaling == "fit":
            net.fit(X, y, **settings)
        else:
            history = dd.fit(net, da.from_array(X, chunks=750), da.from_array(y, chunks=750),
                             sync_every=4, scaling=scaling, client=client, **settings)
            assert history["learning_rate"][0] == 0.05 * (4 if scaling else 1)
        return net.evaluate(X_test, y_test)["accuracy"]

    reference, scaled, unscaled = accuracy("fit"), accuracy("linear"), accuracy(None)
    assert abs(scaled - reference) <= 0.01 < reference - unscaled, (reference, scaled, unscaled)


def test_warmup_ramps_the_rate_to_the_replicas_multiple(client, digits):
    X, y = digits[:2]
    history = dd.fit(small_network(), da.from_array(X, chunks=360), da.from_array(y, chunks=360),
                     epochs=4, learning_rate=0.01, warmup=2, client=client)
    np.testing.assert_allclose(history["learning_rate"], [0.01, 0.025, 0.04, 0.04])
    with pytest.raises(ValueError, match="scaling must be 'linear' or None"):
        dd.fit(small_network(), da.from_array(X), da.from_array(y), scaling="sqrt")


def test_dask_estimators_scale_the_replicas_rate(client, digits):
    X, y = digits[:2]
    X, y = da.from_array(X, chunks=720), da.from_array(y, chunks=720)
    fitted = {scaling: dd.DaskDenseClassifier((16,), solver="sgd", max_iter=2, random_state=0,
                                              learning_rate_init=0.01, scaling=scaling).fit(X, y)
              for scaling in ("linear", None)}
    # The estimator's own rate is the same; the replicas stepped with twice it.
    assert fitted["linear"]._learning_rate == fitted[None]._learning_rate == 0.01
    assert not np.allclose(fitted["linear"].coefs_[0], fitted[None].coefs_[0])
    restored = pickle.loads(pickle.dumps(fitted["linear"]))
    assert restored.get_params()["scaling"] == "linear" and restored.warmup == 0


# -- the tree of partial sums -------------------------------------------------------


@pytest.mark.parametrize("n_chunks, n_threads, split_every, expected", [
    (1, 2, 4, (1, 1)), (2, 2, 4, (1, 1)), (2, 1, 4, (1, 2)), (8, 2, 4, (4, 1)),
    (64, 2, 4, (16, 2)), (256, 2, 4, (64, 2)), (64, 16, 4, (4, 1)), (16, 16, 4, (1, 1)),
    (5, 2, 4, (4, 1)), (3, 1, 4, (4, 1)), (64, 2, 8, (8, 4))])
def test_a_task_trains_whole_subtrees_of_chunks(n_chunks, n_threads, split_every, expected):
    # Subtrees of a power of split_every chunks, a divisor of split_every of them a
    # task: as many chunks as leave at least as many tasks as threads.
    assert dd.group_size(n_chunks, n_threads, split_every) == expected


class RecordDependencies(SchedulerPlugin):
    """Each task that starts, in order, with the keys it depends on."""

    def __init__(self):
        self.tasks = []

    async def start(self, scheduler):
        self.scheduler = scheduler

    def transition(self, key, start, finish, *args, **kwargs):
        if finish == "processing":
            dependencies = [dep.key for dep in self.scheduler.tasks[key].dependencies]
            self.tasks.append((key, dependencies))


def kind(key):
    return str(key).split("-")[0]


@pytest.fixture(scope="module")
def threads_client(tmp_path_factory):
    """A cluster of 16 threads in this process: a task per 4 chunks of 64."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=8, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster, set_as_default=False) as client:
        yield client


def chunks_of(n_rows, uneven):
    """64 row chunks: even, or 63 of 22 rows and the rest, which trains on alone for
    the last rounds of an epoch."""
    if uneven:
        return (22,) * 63 + (n_rows - 63 * 22,)
    return tuple(len(part) for part in np.array_split(np.arange(n_rows), 64))


def fit_64_chunks(digits, client, X=None, uneven=False):
    X_train, y = digits[:2]
    rows = chunks_of(len(X_train), uneven)
    X = da.from_array(X_train, chunks=(rows, -1)) if X is None else X
    net = small_network()
    history = dd.fit(net, X, da.from_array(y, chunks=(rows,)), epochs=2, batch_size=16,
                     learning_rate=0.01, optimizer="adam", seed=0, client=client)
    assert X.numblocks[0] == 64
    return net, history


def test_a_round_is_a_tree_of_o_k_dependencies_and_log_k_depth(threads_client, digits):
    threads_client.register_plugin(RecordDependencies(), name="record")
    try:
        fit_64_chunks(digits, threads_client)
        tasks = threads_client.run_on_scheduler(
            lambda dask_scheduler: dask_scheduler.plugins["record"].tasks)
    finally:
        threads_client.unregister_scheduler_plugin("record")
    dependencies = dict(tasks)
    kinds = {key: kind(key) for key in dependencies}
    roots = [key for key in dependencies if kinds[key] == "_average_round"]
    # 2 epochs of 2 rounds; 16 threads: 16 tasks of 4 chunks a round, summed by 4, then 1.
    trainers = [key for key in dependencies if kinds[key] == "_train_replicas"]
    assert len(roots) == 4 and len(trainers) == 4 * 16
    for key, keys in dependencies.items():
        below = sorted(kinds[dep] for dep in keys)
        if kinds[key] == "_train_replicas":  # the round before's root and its rows
            assert len(keys) == 2 and "_gather_rows" in below
            assert {"_average_round", "_start_of_epoch"} & set(below)
        elif kinds[key] == "_add_task":
            assert below == ["_train_replicas"] * 4
        elif kinds[key] == "_average_round":
            assert below.count("_add_task") == 4 and len(keys) == 5  # and the round before

    def depth(key):
        """The levels of the round's tree under and including ``key``."""
        tree = [dep for dep in dependencies[key] if kinds[dep] in ("_train_replicas",
                                                                  "_add_task")]
        return 1 + max(map(depth, tree), default=0)

    # log_4 of 64 chunks: the tasks of 4 chunks (the first level, inside them), the
    # tasks adding 4 of those, the root.
    assert {depth(root) for root in roots} == {3}
    per_round = sum(len(dependencies[key]) for key in dependencies
                    if kinds[key] != "_gather_rows") / len(roots)
    assert per_round <= 3 * 64  # O(k), where all-to-all was k**2 = 4096


def test_many_chunks_give_the_same_model_on_any_cluster_and_placement(client, threads_client,
                                                                      digits):
    # 16 threads: 16 tasks of 4 chunks; 2 processes: 2 tasks of twice 16 chunks.
    on_threads, threads_history = fit_64_chunks(digits, threads_client, uneven=True)
    on_processes, history = fit_64_chunks(digits, client, uneven=True)
    # Every chunk persisted on one worker, where Dask spread them before.
    first = sorted(client.nthreads())[0]
    X = da.from_array(digits[0], chunks=(chunks_of(len(digits[0]), uneven=True), -1))
    placed, placed_history = fit_64_chunks(digits, client, client.persist(X, workers=[first]),
                                           uneven=True)
    assert history == threads_history == placed_history
    for a, b, c in zip(parameters(on_processes), parameters(on_threads), parameters(placed)):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    with pytest.raises(ValueError, match="split_every must be at least 2, got 1"):
        dd.fit(small_network(), X, da.from_array(digits[1]), split_every=1, client=client)
