"""The benchmark suite runs and reports every workload: behaviour, never speed."""
import importlib.util
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
WORKLOADS = [
    "online SGD 784-128-10 float64 b1",
    "online SGD 64-32-10 float64 b1",
    "small-batch SGD 64-32-10 float64 b32",
    "mini-batch SGD 784-512-256-10 float32 b128",
    "mini-batch SGD 784-512-256-10 float64 b128",
    "inference 784-512-256-10 float32 b1024",
]
DATA_PARALLEL = "data-parallel SGD 784-512-256-10 float32 b128"
TRAINERS = ["densecore.dask.fit", "PyTorch DDP (gloo)", "Network.fit, independent processes",
            "PyTorch loop, independent processes"]
QUICK_SYNC_EVERY = "4"


def installed(name):
    return importlib.util.find_spec(name) is not None


def quick_run(*args, env=None):
    """The report of ``python -m benchmarks --quick ARGS``, run from the repository root."""
    if not (ROOT / "benchmarks" / "__main__.py").exists():
        pytest.skip("the benchmarks folder is not beside the tests")
    done = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def report():
    return quick_run("--samples", "64")


def rows(report, labels=WORKLOADS, width=6):
    """``{(first cell, second cell): other cells}`` of the table rows ``width`` cells wide
    whose first cell is one of ``labels``: by default, the single-process table's."""
    table = {}
    for line in report.splitlines():
        cells = [cell.strip() for cell in line.split("|")]
        if len(cells) == width and cells[0] in labels:
            table[cells[0], cells[1]] = cells[2:]
    return table


def test_densecore_row_for_every_workload(report):
    table = rows(report)
    for workload in WORKLOADS:
        samples, ratio, gflops, share = table[workload, "densecore"]
        assert float(samples.replace(",", "")) > 0
        assert ratio == "1.00x"
        assert share.endswith("%")


@pytest.mark.parametrize("peer", ["numpy", "torch", "sklearn"])
def test_peer_rows_or_skip_note(report, peer):
    table = rows(report)
    if not installed(peer):
        assert f"{peer}: not installed, skipped" in report
        assert not any(name == peer for _, name in table)
    else:
        assert all((workload, peer) in table for workload in WORKLOADS)


def test_reports_gemm_rate_targets_and_memory(report):
    for workload in WORKLOADS:
        assert f"timed with {workload}: " in report
    assert "peak RSS of fit above baseline" in report
    if installed("torch"):
        assert f"{WORKLOADS[0]} vs torch:" in report


def worker_counts():
    """The quick run's worker counts: 1 and 2, where there are 2 cores."""
    return ["1", "2"] if len(os.sched_getaffinity(0)) >= 2 else ["1"]


@pytest.mark.skipif(not installed("distributed"), reason="the dask extra is not installed")
def test_data_parallel_rows(report):
    """A row per trainer and worker count, with its ratios; PyTorch's where it is installed."""
    table = rows(report, TRAINERS, width=7)
    for trainer in TRAINERS:
        if "PyTorch" in trainer and not installed("torch"):
            assert "torch not installed: its rows skipped" in report
            assert not any(name == trainer for name, _ in table)
            continue
        for workers in worker_counts():
            sync_every, samples, speed_up, per_round, vs_ddp = table[trainer, workers]
            assert float(samples.replace(",", "")) > 0
            assert speed_up.endswith("x")
            if trainer == "densecore.dask.fit":
                assert sync_every == QUICK_SYNC_EVERY and float(per_round) > 0
                assert vs_ddp.endswith("x") if installed("torch") else vs_ddp == "-"
        assert table[trainer, "1"][2] == "1.00x"


def must_reach():
    """``{target: must}`` of the quick run's data-parallel lines."""
    two = "2" in worker_counts()
    targets = {"2 workers vs 1": "1.6"} if two else {}
    if installed("torch"):
        targets["1 worker vs PyTorch DDP"] = "1.0"
        if two:
            targets["2 workers vs PyTorch DDP"] = "1.0"
    return targets


@pytest.mark.skipif(not installed("distributed"), reason="the dask extra is not installed")
def test_data_parallel_must_reach_lines(report):
    """A line per target, saying whether it holds: that is the benchmarks' to judge."""
    for target, must in must_reach().items():
        subject = f"{DATA_PARALLEL} sync every {QUICK_SYNC_EVERY}, {target}: "
        pattern = re.escape(subject) + rf"\d+\.\d\dx \(must {must}x\): (holds|MISSED)$"
        assert re.search(pattern, report, re.MULTILINE), pattern


def test_data_parallel_skipped_without_distributed(tmp_path):
    """A peer library that does not import skips the section with a line, not an error."""
    (tmp_path / "distributed").mkdir()
    (tmp_path / "distributed" / "__init__.py").write_text(
        'raise ImportError("distributed hidden by the test")\n')
    path = os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))
    report = quick_run("--only", "data-parallel", env={**os.environ, "PYTHONPATH": path})
    assert f"{DATA_PARALLEL}: skipped, distributed hidden by the test" in report
    assert not rows(report, TRAINERS, width=7)


OVERHEAD_RUNS = ["densecore.dask.fit", "Dask floor, tree of sums", "Dask floor, trivial tasks"]


@pytest.mark.skipif(not installed("distributed"), reason="the dask extra is not installed")
def test_data_parallel_overhead_rows_and_targets(report):
    """The quick run's rounds: 1 and 2 replicas of both networks beside Dask's floor, 2 and
    8 chunks of 16-8-3 on 2 workers, and a target line each."""
    table = {}
    for line in report.splitlines():
        cells = [cell.strip() for cell in line.split("|")]
        if len(cells) == 6 and cells[0] in OVERHEAD_RUNS:
            table[tuple(cells[:4])] = cells[4:]
    for workers in ("1", "2"):
        for network in ("16-8-3", "784-512-256-10"):
            rows = f"{int(workers) * 32}"  # batch 16, 2 rounds a chunk
            milliseconds, vs_floor = table["densecore.dask.fit", network, rows,
                                           f"{workers} on {workers}"]
            assert float(milliseconds) > 0 and vs_floor.endswith("x")
            assert float(table["Dask floor, tree of sums", network, "-",
                               f"{workers} on {workers}"][0]) > 0
        trivial = table["Dask floor, trivial tasks", "-", "-", f"{workers} on {workers}"]
        assert float(trivial[0]) > 0
    for chunks in ("2", "8"):
        assert float(table["densecore.dask.fit", "16-8-3", "32,768", f"{chunks} on 2"][0]) > 0
    for target in ["16-8-3, 8 chunks vs 2 on 2 workers", "16-8-3, 2 replicas vs 1",
                   "784-512-256-10, 2 replicas vs 1",
                   "784-512-256-10, 2 replicas vs the tree floor"]:
        pattern = (re.escape(f"data-parallel-overhead {target}, rounds per second: ")
                   + r"\d+\.\d\dx \(must 0\.5x\): (holds|MISSED)$")
        assert re.search(pattern, report, re.MULTILINE), pattern


def test_only_selects_the_overhead_section_alone():
    """``--only data-parallel-overhead`` runs that section and no other (``--only
    data-parallel`` runs both data-parallel sections: each label contains it)."""
    report = quick_run("--only", "data-parallel-overhead")
    assert "data-parallel-overhead: " in report
    assert DATA_PARALLEL not in report and "timed alongside" not in report
    assert "estimator fit" not in report and "latency" not in report


ESTIMATOR_CASES = ["digits 1797x64 classifier", "synthetic 2000x50 classifier",
                   "synthetic 2000x50 regressor"]


@pytest.mark.skipif(not installed("sklearn"), reason="the sklearn extra is not installed")
def test_estimators_section_rows_and_targets(report):
    """A row per case and solver, timed and scored on both sides, and a target line each."""
    table = rows(report, ESTIMATOR_CASES, width=7)
    assert sorted(table) == sorted((case, solver) for case in ESTIMATOR_CASES
                                   for solver in ("adam", "sgd", "lbfgs"))
    for (case, solver), (ours, theirs, ratio, our_score, their_score) in table.items():
        assert float(ours) > 0 and float(theirs) > 0 and ratio.endswith("x")
        assert float(our_score) <= 1 and float(their_score) <= 1  # accuracy or R^2
        must = {"lbfgs": "1.3"}.get(solver, "2.0")
        pattern = (re.escape(f"estimator fit {case} {solver}: ") + r"\d+\.\d\dx "
                   + re.escape(f"(must {must}x): ") + r"(holds|MISSED)")
        assert re.search(pattern, report), pattern


LATENCY_CASES = [f"latency {sizes} {dtype} b1" for sizes in ("64-32-10", "784-128-10",
                                                              "784-512-256-10")
                 for dtype in ("float32", "float64")]


def test_latency_section_rows_and_targets(report):
    """densecore's one-sample time for every network and dtype, and a target line each
    where onnxruntime is installed."""
    table = rows(report, LATENCY_CASES, width=4)
    for case in LATENCY_CASES:
        for peer in ("densecore", "densecore out=", "numpy by hand"):
            micros, ratio = table[case, peer]
            assert float(micros) > 0 and ratio.endswith("x")
        if installed("onnxruntime") and installed("skl2onnx") and installed("sklearn"):
            float(table[case, "onnxruntime"][0])
            must = "1.2" if case.startswith("latency 784-512-256-10") else "3.0"
            pattern = (re.escape(f"{case} vs onnxruntime: ") + r"\d+\.\d\dx "
                       + re.escape(f"(must {must}x): ") + r"(holds|MISSED)")
            assert re.search(pattern, report), pattern
        else:
            assert "not installed" in report


THREADS_TARGET = "mini-batch SGD 784-512-256-10 float32 b128"


def test_threads_section_rows_skips_and_targets():
    """--threads: a row per count and peer (1 always), a line per count above the
    cores, and the 2-thread target lines where 2 cores are there."""
    cores = len(os.sched_getaffinity(0))
    report = quick_run("--threads", "2", "100000", "--samples", "256", "--only", "float32")
    assert "each peer, count and GEMM reference in a spawned process of its own" in report
    assert f"100000 threads: skipped, this process may run on {cores} cores" in report
    table = {}
    for line in report.splitlines():
        cells = [cell.strip() for cell in line.split("|")]
        if len(cells) == 7 and cells[0] == THREADS_TARGET:
            table[cells[1], cells[2]] = cells[3:]
    counts = ["1", "2"] if cores >= 2 else ["1"]
    peers = ["densecore"] + ["numpy by hand"] + (["PyTorch"] if installed("torch") else [])
    assert set(table) == {(n, peer) for n in counts for peer in peers}
    for (n, _), (samples, speed_up, gemm, share) in table.items():
        assert float(samples.replace(",", "")) > 0 and float(gemm) > 0
        assert share.endswith("%") and (n != "1" or speed_up == "1.00x")
    if cores >= 2:
        assert re.search(re.escape(f"{THREADS_TARGET} at 2 threads vs 1: ")
                         + r"\d+\.\d\dx \(must 1\.85x\): (holds|MISSED)$", report, re.MULTILINE)
        assert re.search(re.escape(f"{THREADS_TARGET} at 2 threads, share of the GEMM rate: ")
                         + r"\d+% \(must 80%\): (holds|MISSED)$", report, re.MULTILINE)
