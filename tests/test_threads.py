"""densecore's thread team: its count, its bounds, and results that do not depend on it."""
import os
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse
import threadpoolctl

import densecore
from densecore import Network, _core, _threads

needs_openmp = pytest.mark.skipif(not _core.OPENMP, reason="densecore was built without OpenMP")

# 300-256-256-10 at batch 128: the products of the first two layers (forward,
# weight gradient, delta) are over the team's threshold, so the team splits them;
# with sparse input the first layer's run in the CSR kernels, the second's split.
SIZES, BATCH = [300, 256, 256, 10], 128


@pytest.fixture(autouse=True)
def restored():
    """Every test leaves the team's settings as it found them."""
    requested = _threads._requested
    yield
    _threads._requested = requested
    _threads._publish()


@pytest.fixture
def threads(monkeypatch):
    """A function running the team on ``n`` threads, whatever the machine's cores (a
    team larger than the cores is slower, never different)."""
    monkeypatch.setattr(_threads, "_cores", lambda: 8)
    limits = []

    def use(n):
        limits.append(threadpoolctl.threadpool_limits(n, user_api="openmp"))
        densecore.set_num_threads(n)
        assert densecore.get_num_threads() == n
    yield use
    for limit in reversed(limits):
        limit.restore_original_limits()


def test_set_num_threads_checks_its_argument():
    with pytest.raises(ValueError, match="at least 1, got 0"):
        densecore.set_num_threads(0)
    with pytest.raises(TypeError, match="must be an int, got float"):
        densecore.set_num_threads(2.0)


def test_the_team_never_exceeds_the_cores():
    cores = _threads._cores()
    densecore.set_num_threads(cores + 5)
    assert 1 <= densecore.get_num_threads() <= cores
    densecore.set_num_threads(1)
    assert densecore.get_num_threads() == 1


@needs_openmp
def test_threadpoolctl_lowers_the_team(threads):
    threads(2)
    libraries = [pool for pool in threadpoolctl.threadpool_info()
                 if pool["user_api"] == "openmp"]
    assert libraries, "threadpoolctl sees no OpenMP library"
    with threadpoolctl.threadpool_limits(1, user_api="openmp"):
        assert densecore.get_num_threads() == 1
    assert densecore.get_num_threads() == 2


def test_block_plan_is_a_function_of_the_shape():
    edges = _core.block_plan(BATCH, SIZES[1], SIZES[0])
    assert edges == (0, 128, 256)  # the columns, in two blocks of 128
    # A power of two of blocks, of whole grains of 16, as even as they go.
    assert _core.block_plan(512, 784, 128) == (0, 192, 384, 576, 784)
    assert _core.block_plan(1024, 256, 512) == tuple(range(0, 1025, 128))  # the rows
    # Each block packs the 512 x 784 operand afresh, from past L2: wider blocks.
    assert _core.block_plan(1024, 512, 784) == (0, 512, 1024)
    assert _core.block_plan(1, 512, 784) == (0, 512)  # one sample: a gemv, whole
    assert _core.block_plan(32, 64, 32) == (0, 64)  # under the threshold: whole
    densecore.set_num_threads(1)
    assert _core.block_plan(BATCH, SIZES[1], SIZES[0]) == edges


def _trained(dtype, optimizer, n_threads, threads, sparse=False):
    threads(n_threads)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((4 * BATCH, SIZES[0])).astype(dtype)
    y = rng.integers(0, SIZES[-1], len(X))
    if sparse:
        X = scipy.sparse.csr_matrix(np.where(X > 1, X, 0))
    net = Network.from_sizes(SIZES, dtype=dtype, seed=0)
    net.fit(X, y, epochs=2, batch_size=BATCH, optimizer=optimizer, seed=0)
    return net.state(), net.predict(X)


@needs_openmp
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam", "lbfgs"])
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
def test_results_do_not_depend_on_the_thread_count(dtype, optimizer, sparse, threads):
    assert len(_core.block_plan(BATCH, SIZES[2], SIZES[1])) > 2  # the team splits
    runs = [_trained(dtype, optimizer, n, threads, sparse) for n in (1, 2, 3)]
    (state, predicted), others = runs[0], runs[1:]
    assert optimizer != "adam" or state["optimizer"]["slots"].any()
    for other_state, other_predicted in others:
        assert other_state["parameters"].tobytes() == state["parameters"].tobytes()
        assert (other_state["optimizer"]["slots"].tobytes()
                == state["optimizer"]["slots"].tobytes())
        assert other_predicted.tobytes() == predicted.tobytes()


@needs_openmp
def test_dask_workers_run_one_thread_each(client):
    """Dask's nanny starts each worker with OMP_NUM_THREADS=1: the team follows it."""
    assert set(client.run(densecore.get_num_threads).values()) == {1}


def test_joblib_workers_do_not_oversubscribe():
    """loky gives each of n_jobs workers its share of the cores through
    OMP_NUM_THREADS."""
    joblib = pytest.importorskip("joblib")
    cores = _threads._cores()
    counts = joblib.Parallel(n_jobs=2)(joblib.delayed(densecore.get_num_threads)() for _ in range(2))
    assert all(1 <= count <= max(1, cores // 2) for count in counts)


@needs_openmp
def test_idle_threads_spin_briefly_unless_the_user_chose():
    """libgomp loads with GOMP_SPINCOUNT=SPINS; the environment is left as it was."""
    code = "import os, densecore; print(os.environ.get('OMP_WAIT_POLICY'))"
    environment = {name: value for name, value in os.environ.items()
                   if name not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    # libgomp's verbose display shows the spins before an idle thread sleeps.
    for chosen, spins in [(None, _threads.SPINS), ("ACTIVE", "30000000000")]:
        extra = {} if chosen is None else {"OMP_WAIT_POLICY": chosen}
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              env={**environment, **extra, "OMP_DISPLAY_ENV": "VERBOSE"},
                              cwd=os.path.dirname(sys.executable), check=True)
        assert done.stdout.strip() == str(chosen)
        assert f"GOMP_SPINCOUNT = '{spins}'" in done.stderr
