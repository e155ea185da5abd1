"""Peak resident memory of ``Network.fit``, measured in a fresh process.

``python -m benchmarks.memory SIZES DTYPE BATCH SAMPLES`` prints one JSON
object: the peak RSS during ``fit`` above the RSS just before it (data and
network already built), and the budget it must stay within.
"""
import json
import subprocess
import sys

import numpy as np

from benchmarks import ROOT
from benchmarks.workloads import LEARNING_RATE, Workload

MB = 2**20


def _rss(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not found in /proc/self/status")


def _reset_peak():
    """Restart the kernel's peak-RSS count (VmHWM) from the current RSS."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


def budget(workload):
    """Parameters x 3 + activation buffers (signal, out, delta) + 30 MB, in bytes."""
    sizes, batch = workload.sizes, workload.batch
    itemsize = np.dtype(workload.dtype).itemsize
    parameters = sum((n_in + 1) * n_out for n_in, n_out in zip(sizes, sizes[1:]))
    buffers = batch * (sizes[0] + sizes[-1] + 3 * sum(sizes[1:]))
    return (3 * parameters + buffers) * itemsize + 30 * MB


def _child(workload):
    from densecore import Network

    X, labels = workload.data()
    net = Network.from_sizes(workload.sizes, dtype=workload.dtype, seed=0)
    _reset_peak()
    before = _rss("VmRSS")
    net.fit(X, labels, epochs=1, batch_size=workload.batch, learning_rate=LEARNING_RATE)
    print(json.dumps({"peak": _rss("VmHWM") - before, "budget": budget(workload),
                      "samples": len(X)}))


def fit_peak(workload, samples):
    """``{"peak": bytes, "budget": bytes, "samples": samples}`` of one ``fit``, in a child."""
    args = [",".join(map(str, workload.sizes)), workload.dtype, str(workload.batch),
            str(samples)]
    done = subprocess.run([sys.executable, "-m", "benchmarks.memory", *args],
                          capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(done.stdout)


if __name__ == "__main__":
    sizes, dtype, batch, samples = sys.argv[1:]
    _child(Workload("memory", tuple(map(int, sizes.split(","))), dtype, int(batch),
                    int(samples)))
