"""The benchmark suite runs and reports every workload: behaviour, never speed."""
import importlib.util
import pathlib
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


@pytest.fixture(scope="module")
def report():
    if not (ROOT / "benchmarks" / "__main__.py").exists():
        pytest.skip("the benchmarks folder is not beside the tests")
    done = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--samples", "64"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return done.stdout


def rows(report):
    """``{(workload, peer): cells}`` from the table's rows."""
    table = {}
    for line in report.splitlines():
        cells = [cell.strip() for cell in line.split("|")]
        if len(cells) == 6 and cells[0] in WORKLOADS:
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
    if importlib.util.find_spec(peer) is None:
        assert f"{peer}: not installed, skipped" in report
        assert not any(name == peer for _, name in table)
    else:
        assert all((workload, peer) in table for workload in WORKLOADS)


def test_reports_gemm_rate_targets_and_memory(report):
    for workload in WORKLOADS:
        assert f"timed alongside {workload}: " in report
    assert "peak RSS of fit above baseline" in report
    if importlib.util.find_spec("torch") is not None:
        assert f"{WORKLOADS[0]} vs torch:" in report
