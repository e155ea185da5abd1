"""Interleaved timing: every peer runs once per round, rounds repeated, medians kept."""
import math
import statistics
import time

import numpy as np


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
