"""fit bounds BLAS threads for small products, and needs no threadpoolctl to train."""
import contextlib
import sys

import numpy as np
import pytest

from densecore import Network, network


class Recorder:
    """A stand-in for threadpoolctl's controller that records each limit asked for."""

    def __init__(self):
        self.limits = []

    def limit(self, **kwargs):
        self.limits.append(kwargs)
        return contextlib.nullcontext()


@pytest.fixture
def recorder(monkeypatch):
    recorder = Recorder()
    monkeypatch.setattr(network, "_blas_controller", lambda: recorder)
    return recorder


def fit(sizes, batch_size):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2 * batch_size, sizes[0]))
    Network.from_sizes(sizes, seed=0).fit(X, rng.integers(0, sizes[-1], len(X)),
                                          epochs=1, batch_size=batch_size)


def test_small_products_run_on_one_blas_thread(recorder):
    fit([784, 128, 10], batch_size=1)
    assert recorder.limits == [{"limits": 1, "user_api": "blas"}]


def test_large_products_keep_blas_threads(recorder):
    fit([784, 512, 10], batch_size=128)
    assert recorder.limits == []


def test_fit_without_threadpoolctl(monkeypatch):
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)  # import fails
    network._blas_controller.cache_clear()
    try:
        assert network._blas_controller() is None
        fit([8, 4, 3], batch_size=1)
    finally:
        network._blas_controller.cache_clear()


def test_fit_restores_the_blas_threads():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    before = [pool["num_threads"] for pool in threadpoolctl.threadpool_info()]
    fit([784, 128, 10], batch_size=1)
    assert [pool["num_threads"] for pool in threadpoolctl.threadpool_info()] == before
