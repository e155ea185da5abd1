"""Run the workloads against every installed peer and format the table; then the
data-parallel section."""
import os
import platform
import sys

from benchmarks import data_parallel, data_parallel_overhead, estimators, latency, memory, timing
from benchmarks.peers import PEERS
from benchmarks.report import columns, verdict
from benchmarks.workloads import GEMM_GOALS, WORKLOADS


def environment():
    """Lines saying what ran: CPU, peers' versions, BLAS and OpenMP libraries and threads."""
    import densecore.kernels  # noqa: F401 (loads scipy's BLAS before threadpoolctl looks)

    lines = [f"python {platform.python_version()}, {os.cpu_count()} CPUs, "
             f"{platform.processor() or platform.machine()}"]
    for name in PEERS:
        try:
            module = __import__(name)
        except ImportError:
            lines.append(f"{name}: not installed, skipped")
            continue
        extra = f" threads={module.get_num_threads()}" if name == "torch" else ""
        lines.append(f"{name} {module.__version__}{extra}")
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return lines + ["threadpoolctl not installed: BLAS threads not reported"]
    for pool in threadpool_info():
        lines.append(f"{pool['internal_api']} {pool.get('version') or ''} "
                     f"{pool.get('architecture') or ''} threads={pool['num_threads']} "
                     f"{os.path.basename(pool['filepath'])}")
    return lines


def measure(workload, samples, repeats, min_time):
    """``({peer: samples/s}, GEMM GFLOP/s)`` for the peers that are installed.

    Each peer, and the GEMM reference, is timed in a spawned process of its own,
    one after the other: no other library's threads are alive, and spinning,
    while one is timed (inside one process, a peer timed after another lost a
    core to the other's idle BLAS threads: 49% of the GEMM rate against 85%).
    """
    speeds = {}
    for peer in PEERS:
        seconds = timing.alone(timing.pass_seconds, peer, workload, samples, repeats, min_time)
        if isinstance(seconds, float):
            speeds[peer] = samples / seconds
    return speeds, timing.alone(timing.gemm_rate, workload.dtype, repeats, min_time)


def table(results):
    """The table as lines: one row per workload and peer."""
    header = ("workload", "peer", "samples/s", "densecore/peer", "GFLOP/s", "of GEMM")
    rows = []
    for workload, speeds, gemm in results:
        for peer, speed in speeds.items():
            gflops = speed * workload.flops_per_sample / 1e9
            rows.append((workload.label, peer, f"{speed:,.0f}",
                         f"{speeds['densecore'] / speed:.2f}x", f"{gflops:.1f}",
                         f"{gflops / gemm:.0%}"))
    return columns(header, rows)


def verdicts(results):
    """One line per target: the ratio reached, and whether it holds."""
    lines = []
    for workload, speeds, gemm in results:
        for peer, (must, goal) in workload.targets.items():
            if peer not in speeds:
                continue
            lines.append(verdict(f"{workload.label} vs {peer}",
                                 speeds["densecore"] / speeds[peer], must, goal))
        if workload.name in GEMM_GOALS:
            share = speeds["densecore"] * workload.flops_per_sample / 1e9 / gemm
            lines.append(f"{workload.label} share of GEMM: {share:.0%} "
                         f"(goal {GEMM_GOALS[workload.name]:.0%})")
    return lines


HOW = ("each peer and the GEMM reference timed in a spawned process of its own, one "
       "after another (no other library's threads alive); medians of the rounds")


def report(results):
    """The lines of the measured workloads: GEMM rates, the table, the targets."""
    gemm_rates = [f"GEMM rate (numpy matmul 2048x2048 {workload.dtype}) timed with "
                  f"{workload.label}: {gemm:.1f} GFLOP/s" for workload, _, gemm in results]
    return [HOW, *gemm_rates, "", *table(results), "", *verdicts(results)]


def run(samples=None, only="", repeats=5, min_time=0.2, parallel=data_parallel.Settings(),
        out=print, quick=False, overhead=data_parallel_overhead.Settings()):
    """Measure the workloads, then the estimators', the latency, the data-parallel
    (with ``parallel``) and its overhead (with ``overhead``) sections, whose label
    contains ``only``; print the report with ``out``.

    ``samples`` caps every workload's sample count; ``quick`` makes the
    estimators' and the latency sections smoke runs.  Progress goes to stderr.
    """
    for line in environment():
        out(line)

    def count(workload):
        return min(samples or workload.samples, workload.samples)

    results = []
    for workload in WORKLOADS:
        if only in workload.label:
            print(f"measuring {workload.label}", file=sys.stderr)
            results.append((workload, *measure(workload, count(workload), repeats, min_time)))
    if results:
        for line in report(results):
            out(line)
    big = next(w for w in WORKLOADS if w.name == "mini-batch SGD" and w.dtype == "float64")
    if only in big.label:
        peak = memory.fit_peak(big, count(big))
        out(f"peak RSS of fit above baseline, {big.label}, {peak['samples']} samples: "
            f"{peak['peak'] / memory.MB:.1f} MB (budget {peak['budget'] / memory.MB:.1f} MB)")
    if only in estimators.LABEL:
        out("")
        estimators.run(out, quick=quick)
    if only in latency.LABEL:
        out("")
        latency.run(out, quick=quick)
    if only in data_parallel.LABEL:
        out("")
        data_parallel.run(parallel, out)
    if only in data_parallel_overhead.LABEL:
        out("")
        data_parallel_overhead.run(overhead, out)
