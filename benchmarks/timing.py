"""Timing: repeated rounds with medians kept, and a process of its own per measurement."""
import contextlib
import math
import multiprocessing
import os
import statistics
import time

import numpy as np

from benchmarks.peers import PEERS


def _seconds(run, number):
    start = time.perf_counter()
    for _ in range(number):
        run()
    return (time.perf_counter() - start) / number


def interleaved(runs, repeats, min_time):
    """Median seconds per call of each function in ``runs`` (a dict).

    A first, untimed call warms each up and sets how many calls make one
    timing of at least ``min_time`` seconds.  Each round times every function
    once, starting from a different one each round, so that a slow spell of a
    noisy machine falls on all of them alike.
    """
    names = list(runs)
    numbers = {name: max(1, math.ceil(min_time / _seconds(runs[name], 1)))
               for name in names}
    times = {name: [] for name in names}
    for round_ in range(repeats):
        for name in names[round_ % len(names):] + names[:round_ % len(names)]:
            times[name].append(_seconds(runs[name], numbers[name]))
    return {name: statistics.median(values) for name, values in times.items()}


def gemm(dtype, size=2048):
    """``(product, flops)``: numpy's ``matmul`` of two ``size`` x ``size`` matrices."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((size, size)).astype(dtype) for _ in range(2))
    return (lambda: a @ b), 2 * size**3


def gemm_rate(dtype, repeats, min_time):
    """GFLOP/s of numpy's ``matmul`` of two 2048 x 2048 matrices of ``dtype``."""
    run, flops = gemm(dtype)
    return flops / interleaved({"GEMM": run}, repeats, min_time)["GEMM"] / 1e9


def pass_seconds(peer, workload, samples, repeats, min_time):
    """Median seconds of one pass of ``peer`` over ``samples`` samples of ``workload``,
    or a text saying why there is none (its library is not installed)."""
    X, labels = workload.data(samples)
    try:
        run = PEERS[peer](workload, X, labels)
    except ImportError as error:
        return f"not installed ({error.name})"
    return interleaved({peer: run}, repeats, min_time)[peer]


@contextlib.contextmanager
def _environment(values):
    """``os.environ`` updated with ``values`` inside the context."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                del os.environ[name]
            else:
                os.environ[name] = value


def alone(function, *args, environment=None):
    """``function(*args)`` run in a spawned process of its own, started with the
    variables ``environment`` (a dict) set: no other library's threads are alive
    there, and none of its threads outlive the call."""
    with _environment(environment or {}), \
            multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(function, args)
