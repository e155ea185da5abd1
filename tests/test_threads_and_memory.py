"""Concurrency and memory: the GIL is released, nothing races, nothing leaks."""
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from densecore import Network


def test_eight_threads_predict_what_one_does():
    net = Network.from_sizes([64, 128, 64, 10], seed=0)
    X = np.random.default_rng(0).standard_normal((512, 64))
    chunks = np.array_split(X, 32)
    expected = [net.predict(chunk) for chunk in chunks]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(net.predict, chunks * 4))
    for i, result in enumerate(results):
        np.testing.assert_array_equal(result, expected[i % 32])


def test_threads_serving_one_sample_and_blocks_predict_what_one_does():
    """One-sample calls (serve) race calls on more rows (a claimed predictor, rebuilt
    larger as they grow) on one network's shared buffers."""
    net = Network.from_sizes([64, 128, 64, 10], dtype=np.float32, seed=0)
    X = np.random.default_rng(1).standard_normal((600, 64)).astype(np.float32)
    inputs = [X[i:i + 1] for i in range(200)] + [X[:rows] for rows in (2, 50, 300, 600)] * 5
    expected = [Network.from_sizes([64, 128, 64, 10], dtype=np.float32, seed=0).predict(x)
                for x in inputs]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(net.predict, inputs))
    for result, want in zip(results, expected):
        np.testing.assert_array_equal(result, want)
    assert net._predictor.claim()  # every call let go of it


def test_a_second_concurrent_fit_on_one_network_is_refused():
    net = Network.from_sizes([8, 16, 3], seed=0)
    X = np.random.default_rng(0).standard_normal((100, 8))
    y = np.arange(100) % 3
    training, tried, outcomes = threading.Event(), threading.Event(), []

    class HoldAfterFirstEpoch:
        def on_epoch_end(self, epoch, logs):
            training.set()
            tried.wait(60)

    def first():
        outcomes.append(net.fit(X, y, epochs=3, callbacks=[HoldAfterFirstEpoch()]))

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert training.wait(60)
        with pytest.raises(RuntimeError, match="already training"):
            net.fit(X, y, epochs=1)
        with pytest.raises(RuntimeError, match="already training"):
            net.partial_fit(X, y)
    finally:
        tried.set()
        thread.join()
    assert len(outcomes[0]["loss"]) == 3  # the first run was not disturbed
    net.fit(X, y, epochs=1)  # and the network trains again afterwards


def test_two_networks_train_in_two_threads_as_they_do_alone():
    X = np.random.default_rng(1).standard_normal((300, 20))
    y = np.arange(300) % 3

    def train(seed):
        net = Network.from_sizes([20, 32, 3], seed=seed)
        net.fit(X, y, epochs=3, seed=seed, optimizer="adam")
        return net.layers[0].weights

    alone = [train(seed) for seed in (1, 2)]
    with ThreadPoolExecutor(2) as pool:
        together = list(pool.map(train, (1, 2)))
    for a, b in zip(alone, together):
        np.testing.assert_array_equal(a, b)


def resident_kib():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS in /proc/self/status")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_training_steps_and_predict_calls_do_not_grow_memory():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((1000, 16)), rng.integers(0, 4, 1000)
    net = Network.from_sizes([16, 32, 4], seed=0)
    one = X[:1]

    def train_and_predict(rounds):
        for _ in range(rounds):
            net.fit(X, y, epochs=10, batch_size=1, learning_rate=1e-3)  # 10,000 steps
            for _ in range(10_000):
                net.predict(one)

    train_and_predict(2)  # warm-up: caches, allocator pools
    before = resident_kib()
    train_and_predict(20)  # 200,000 steps and 200,000 predict calls
    growth = resident_kib() - before
    assert growth < 2048, f"RSS grew by {growth} KiB"
