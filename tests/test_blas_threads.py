"""fit holds BLAS to one thread (densecore's own team splits large products) and
restores it afterwards."""
import contextlib

import numpy as np
import pytest

import threadpoolctl

from densecore import Network, _threads


class Recorder:
    """A stand-in for threadpoolctl's controller that records each limit asked for."""

    def __init__(self):
        self.limits = []

    def limit(self, **kwargs):
        self.limits.append(kwargs)
        return self

    def restore_original_limits(self):
        self.limits.append("restored")


@pytest.fixture
def recorder(monkeypatch):
    recorder = Recorder()
    monkeypatch.setattr(_threads, "_controller", lambda: recorder)
    return recorder


def fit(sizes, batch_size, epochs=1):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2 * batch_size, sizes[0]))
    Network.from_sizes(sizes, seed=0).fit(X, rng.integers(0, sizes[-1], len(X)),
                                          epochs=epochs, batch_size=batch_size)


def test_small_products_run_on_one_blas_thread(recorder):
    fit([784, 128, 10], batch_size=1, epochs=2)
    assert recorder.limits == [{"limits": 1, "user_api": "blas"}, "restored"] * 2


def test_large_products_run_on_one_blas_thread_per_block(recorder):
    fit([784, 512, 10], batch_size=128)
    assert recorder.limits == [{"limits": 1, "user_api": "blas"}, "restored"]


def test_large_predictions_run_on_one_blas_thread_per_block(recorder):
    net = Network.from_sizes([784, 512, 10], seed=0)
    net.predict(np.zeros((2, 784)))  # builds the serving path
    recorder.limits.clear()
    net.predict(np.zeros((2, 784)))  # the serving path: products run whole
    assert recorder.limits == []
    net.predict(np.zeros((256, 784)))
    assert recorder.limits == [{"limits": 1, "user_api": "blas"}, "restored"]


def test_overlapping_bounds_restore_once_the_last_leaves(recorder):
    with contextlib.ExitStack() as stack:
        first = stack.enter_context(contextlib.ExitStack())
        first.enter_context(_threads.compiled_products())
        stack.enter_context(_threads.compiled_products())
        first.close()
        assert recorder.limits == [{"limits": 1, "user_api": "blas"}]
    assert recorder.limits[-1] == "restored"


def test_fit_restores_the_blas_threads():
    before = [pool["num_threads"] for pool in threadpoolctl.threadpool_info()]
    fit([784, 128, 10], batch_size=1)
    assert [pool["num_threads"] for pool in threadpoolctl.threadpool_info()] == before


def test_lbfgs_holds_blas_to_one_thread_between_its_evaluations(recorder):
    # L-BFGS-B's own BLAS calls run between the evaluations: one bound for them all,
    # that no OpenBLAS thread left spinning by them takes a core from the team.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 8))
    Network.from_sizes([8, 16, 3], seed=0).fit(X, rng.integers(0, 3, len(X)), epochs=5,
                                               optimizer="lbfgs")
    assert recorder.limits == [{"limits": 1, "user_api": "blas"}, "restored"]
