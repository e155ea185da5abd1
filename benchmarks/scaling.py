"""The threads section (``python -m benchmarks --threads 1 2 4 ...``): training
throughput of densecore, numpy by hand and PyTorch at each thread count.

Each (peer, thread count) is timed in a spawned process of its own, started
with ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` and ``MKL_NUM_THREADS`` at the
count (densecore's team and every BLAS and OpenMP pool follow them), and the
GEMM rate likewise in a process of its own at the same count; 1 is always
measured, and counts above the cores the suite may run on are skipped with a line.
"""
import os
import sys

from benchmarks import timing
from benchmarks.report import columns, verdict
from benchmarks.workloads import WORKLOADS

LABEL = "threads"
PEERS = ["densecore", "numpy", "torch"]
NAMES = {"numpy": "numpy by hand", "torch": "PyTorch"}
# The workloads measured: mini-batch training, the one that threads can speed up.
MEASURED = [w for w in WORKLOADS if w.name == "mini-batch SGD"]
# Targets for b128 784-512-256-10 float32, by thread count: densecore's speed-up
# over one thread, and its share of the GEMM rate at that count.
TARGET = next(w for w in MEASURED if w.dtype == "float32")
SPEED_UP = {2: 1.85, 16: 8.0}
GEMM_SHARE = {2: 0.80}
# At 16 threads: samples/s to reach, and the multiple of the best peer at any count.
FLOOR_AT_16, OVER_BEST_PEER = 130_000, 2.0


def cores():
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def at_threads(n):
    """The environment of a process whose libraries run ``n`` threads."""
    return {name: str(n) for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                      "MKL_NUM_THREADS")}


def measure(workload, counts, samples, repeats, min_time):
    """``{count: ({peer: samples/s}, GEMM GFLOP/s)}``, each timed in a process of its own."""
    results = {}
    for n in counts:
        speeds = {}
        for peer in PEERS:
            print(f"measuring {LABEL} {workload.label} {peer} at {n}", file=sys.stderr)
            seconds = timing.alone(timing.pass_seconds, peer, workload, samples, repeats,
                                   min_time, environment=at_threads(n))
            if isinstance(seconds, float):
                speeds[peer] = samples / seconds
        results[n] = speeds, timing.alone(timing.gemm_rate, workload.dtype, repeats,
                                          min_time, environment=at_threads(n))
    return results


def table(workload, results):
    """The rows of one workload: a row per thread count and peer."""
    rows = []
    for n, (speeds, gemm) in results.items():
        for peer, speed in speeds.items():
            one = results[1][0].get(peer)
            share = speed * workload.flops_per_sample / 1e9 / gemm
            rows.append((workload.label, str(n), NAMES.get(peer, peer), f"{speed:,.0f}",
                         f"{speed / one:.2f}x" if one else "-", f"{gemm:.1f}",
                         f"{share:.0%}"))
    return rows


def verdicts(results):
    """The target lines of TARGET, at the counts measured."""
    lines = []
    for n, (speeds, gemm) in results.items():
        ours = speeds.get("densecore")
        if ours is None:
            continue
        if n in SPEED_UP:
            lines.append(verdict(f"{TARGET.label} at {n} threads vs 1",
                                 ours / results[1][0]["densecore"], SPEED_UP[n]))
        if n in GEMM_SHARE:
            lines.append(verdict(f"{TARGET.label} at {n} threads, share of the GEMM rate",
                                 ours * TARGET.flops_per_sample / 1e9 / gemm, GEMM_SHARE[n],
                                 share=True))
        if n == 16:
            best = max((speed for peers, _ in results.values()
                        for peer, speed in peers.items() if peer != "densecore"), default=None)
            lines.append(verdict(f"{TARGET.label} at 16 threads vs {FLOOR_AT_16:,} samples/s",
                                 ours / FLOOR_AT_16, 1.0))
            if best:
                lines.append(verdict(f"{TARGET.label} at 16 threads vs the best peer at any "
                                     "count", ours / best, OVER_BEST_PEER))
    return lines


def run(counts, out, only="", samples=None, quick=False):
    """Measure the workloads whose label contains ``only`` at each of ``counts`` threads
    (1 always; those above the cores skipped with a line) and print the section with ``out``."""
    repeats, min_time = (1, 0) if quick else (5, 0.2)
    available = cores()
    measured = sorted({1} | {n for n in counts if n <= available})
    out(f"{LABEL}: training samples/s at each thread count, median of {repeats}; each "
        "peer, count and GEMM reference in a spawned process of its own, started with "
        "OMP_NUM_THREADS, OPENBLAS_NUM_THREADS and MKL_NUM_THREADS at the count")
    for n in sorted(set(counts) - set(measured)):
        out(f"{n} threads: skipped, this process may run on {available} cores")
    header = ("workload", "threads", "peer", "samples/s", "vs 1 thread", "GEMM GFLOP/s",
              "of GEMM")
    rows, lines = [], []
    for workload in MEASURED:
        if only not in workload.label or not measured:
            continue
        results = measure(workload, measured, min(samples or workload.samples,
                                                  workload.samples), repeats, min_time)
        rows += table(workload, results)
        if workload is TARGET:
            lines += verdicts(results)
    for line in [*columns(header, rows), "", *lines]:
        out(line)
