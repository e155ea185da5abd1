"""Data-parallel training throughput: densecore.dask.fit beside PyTorch DistributedDataParallel.

The suite's mini-batch row (784-512-256-10, float32, batch 128 per worker)
trained by 1, 2, ... workers, each a process with one BLAS thread.
densecore.dask.fit runs on a Dask LocalCluster of worker processes and
averages the replicas every ``sync_every`` mini-batches, on random data
generated where it is trained.  PyTorch runs the suite's PyTorch peer with its
model in DistributedDataParallel (gloo, worker processes on localhost), which
all-reduces the gradients after every mini-batch.  The reference rows run the
suite's densecore peer (``Network.fit``) and PyTorch peer in as many
independent processes as workers: the most a data-parallel trainer can reach
on this machine.  Every worker of these trains as many mini-batches as a
densecore worker's longest epoch; each time is the median of ``repeats``,
after a warm-up.

The section runs in a child process, ``python -m benchmarks.data_parallel
SETTINGS``, whose environment holds BLAS to one thread for it and for every
process it starts, while the suite's own rows keep their threads.  It has to:
starting a LocalCluster also sets OMP_NUM_THREADS and its kin in the process
that starts it (distributed's ``nanny.pre-spawn-environ``).
"""
import atexit
import dataclasses
import functools
import importlib.metadata
import importlib.util
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import NamedTuple

import numpy as np

from benchmarks import ROOT, peers, timing
from benchmarks.report import columns, verdict
from benchmarks.workloads import LEARNING_RATE, WORKLOADS

ROW = next(w for w in WORKLOADS if w.name == "mini-batch SGD" and w.dtype == "float32")
LABEL = dataclasses.replace(ROW, name="data-parallel SGD").label
ONE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                     "MKL_NUM_THREADS")}
MUST_SCALE = 1.6  # densecore.dask.fit, 2 workers over 1
MUST_VS_DDP = 1.0  # densecore.dask.fit over DDP at the same worker count
# Seconds a worker process waits for the others: one that died must not hang the rest.
BARRIER_TIMEOUT = 300

DASK = "densecore.dask.fit"
DDP = "PyTorch DDP (gloo)"
CEILING = "Network.fit, independent processes"
TORCH = "PyTorch loop, independent processes"
TRAINERS = [DASK, DDP, CEILING, TORCH]  # the table's order


@dataclasses.dataclass(frozen=True)
class Settings:
    """What the section measures.  1 worker is always measured: speed-ups are over it."""
    workers: tuple = (1, 2)
    sync_every: tuple = (16, 64)
    rounds: int = 4  # synchronisation rounds in a timed densecore.dask.fit epoch
    repeats: int = 3  # timed epochs or passes, after a warm-up one; the table shows medians


QUICK = Settings(sync_every=(4,), rounds=1, repeats=1)


class Row(NamedTuple):
    trainer: str
    workers: int
    sync_every: int | None  # mini-batches per synchronisation round, None without any
    rate: float  # samples per second, all workers together
    per_round: float | None  # seconds per synchronisation round


# -- in the suite's process -----------------------------------------------------


def run(settings, out=print):
    """Measure in a child process that holds BLAS to one thread; hand its lines to ``out``."""
    run_section(__name__, settings, out)


def run_section(module, settings, out):
    """Run ``python -m module SETTINGS`` with BLAS on one thread; hand its lines to ``out``."""
    done = subprocess.run([sys.executable, "-m", module,
                           json.dumps(dataclasses.asdict(settings))],
                          env={**os.environ, **ONE_THREAD}, cwd=ROOT,
                          stdout=subprocess.PIPE, text=True, check=True)
    for line in done.stdout.splitlines():
        out(line)


# -- in the child process -------------------------------------------------------


def main(settings):
    """Print the section: what ran, the table and the must-reach lines."""
    try:
        import dask
        import densecore.dask  # noqa: F401 (what is measured: fail here, not in a worker)
    except ImportError as error:
        print(f"{LABEL}: skipped, {error} (the dask extra installs it)")
        return
    # Found, not imported: only the worker processes need it.
    with_torch = importlib.util.find_spec("torch") is not None
    cores = len(os.sched_getaffinity(0))
    print(f"{LABEL}: one BLAS thread per worker, {cores} cores, dask {dask.__version__}, "
          + (f"torch {importlib.metadata.version('torch')}" if with_torch
             else "torch not installed: its rows skipped"))
    workers = sorted({1, *settings.workers})
    if too_many := [n for n in workers if n > cores]:
        print(f"{LABEL}: {', '.join(map(str, too_many))} workers skipped, more than the "
              f"{cores} cores")
    rows = measure(settings, [n for n in workers if n <= cores], with_torch)
    print("\n".join(["", *table(rows), "", *verdicts(rows)]))


def measure(settings, workers, with_torch):
    """The rows, for every worker count: densecore.dask.fit at every sync_every, then DDP
    and the references, whose workers each train a densecore worker's longest epoch."""
    rows = [row for n_workers in workers for row in dask_rows(n_workers, settings)]
    n_batches = settings.rounds * max(settings.sync_every)
    with tempfile.TemporaryDirectory() as folder:
        builds = {CEILING: functools.partial(peer_pass, peers.densecore)}
        if with_torch:
            builds |= {DDP: functools.partial(ddp_pass, folder),
                       TORCH: functools.partial(peer_pass, peers.torch)}
        for n_workers in workers:
            rows += process_rows(builds, n_workers, n_batches, settings.repeats)
    return sorted(rows, key=lambda row: (TRAINERS.index(row.trainer), row.sync_every or 0,
                                         row.workers))


def progress(text):
    """Say on stderr what is being measured, as the suite does."""
    print(f"measuring {LABEL}: {text}", file=sys.stderr)


def plural(count, noun):
    """``1 worker``, ``2 workers``."""
    return f"{count} {noun}" + "s" * (count != 1)


class EpochClock:
    """A callback of densecore.dask.fit that records when each epoch ends."""

    def __init__(self):
        self.times = [time.perf_counter()]

    def on_epoch_end(self, epoch, logs):
        self.times.append(time.perf_counter())


def dask_rows(n_workers, settings):
    """densecore.dask.fit on one LocalCluster of ``n_workers`` processes: a row per sync_every."""
    from distributed import Client, LocalCluster

    # Any free port: the scheduler serves HTTP even without a dashboard, by default
    # on 8787, which another cluster may hold.
    with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        return [dask_row(client, n_workers, sync_every, settings)
                for sync_every in settings.sync_every]


def dask_row(client, n_workers, sync_every, settings):
    """The median of ``settings.repeats`` epochs of densecore.dask.fit, after a warm-up one
    (imports, first transfers)."""
    import dask.array as da

    import densecore
    import densecore.dask

    progress(f"{DASK}, {plural(n_workers, 'worker')}, sync every {sync_every}")
    rows = ROW.batch * sync_every * settings.rounds  # per worker: an epoch of `rounds` rounds
    rng = da.random.default_rng(0)
    X = rng.random((n_workers * rows, ROW.sizes[0]), chunks=(rows, -1), dtype=ROW.dtype)
    y = rng.integers(0, ROW.sizes[-1], n_workers * rows, chunks=rows)
    X, y = client.persist([X, y])
    net = densecore.Network.from_sizes(ROW.sizes, dtype=ROW.dtype, seed=0)
    clock = EpochClock()
    densecore.dask.fit(net, X, y, epochs=1 + settings.repeats, batch_size=ROW.batch,
                       learning_rate=LEARNING_RATE, sync_every=sync_every, seed=0,
                       client=client, callbacks=[clock])
    seconds = statistics.median(np.diff(clock.times)[1:])
    return Row(DASK, n_workers, sync_every, n_workers * rows / seconds, seconds / settings.rounds)


def process_rows(builds, n_workers, n_batches, repeats):
    """A row per trainer in ``builds``: ``n_workers`` processes running its pass side by side."""
    progress(f"{'; '.join(builds)}; {plural(n_workers, 'worker')}")
    seconds = side_by_side(builds, n_workers, n_batches, repeats)
    rows = []
    for trainer, pass_seconds in seconds.items():
        # DDP synchronises every mini-batch; the others never do.
        sync_every, per_round = (1, pass_seconds / n_batches) if trainer == DDP else (None, None)
        rows.append(Row(trainer, n_workers, sync_every,
                        n_workers * n_batches * ROW.batch / pass_seconds, per_round))
    return rows


def side_by_side(builds, n_workers, n_batches, repeats):
    """``{trainer: seconds}`` of a pass of ``n_workers`` processes, each running the pass
    that ``builds[trainer](rank, n_workers, n_batches)`` returns."""
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(n_workers, timeout=BARRIER_TIMEOUT), context.SimpleQueue()
    processes = [context.Process(target=timed_passes,
                                 args=(builds, rank, n_workers, n_batches, repeats, barrier,
                                       results))
                 for rank in range(n_workers)]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    if any(process.exitcode for process in processes):
        raise RuntimeError(f"a worker process of {', '.join(builds)} failed: its traceback "
                           "is above")
    return results.get()


def timed_passes(builds, rank, n_workers, n_batches, repeats, barrier, results):
    """In one worker process: the suite's interleaved timing of every pass, between
    barriers; rank 0 puts the medians on ``results``."""
    runs = {trainer: between_barriers(build(rank, n_workers, n_batches), barrier)
            for trainer, build in builds.items()}
    # No minimum time: every process must make the same number of calls.
    seconds = timing.interleaved(runs, repeats, min_time=0)
    if rank == 0:
        results.put(seconds)


def between_barriers(one_pass, barrier):
    """``one_pass``, started in every process at once and ended when the slowest is done."""
    def run():
        barrier.wait()
        one_pass()
        barrier.wait()
    return run


@functools.cache  # one copy per process, shared by its passes
def row_data(samples):
    """``(X, labels)`` of the row, ``samples`` of them."""
    return ROW.data(samples)


def peer_pass(peer, rank, n_workers, n_batches):
    """The pass of the suite's ``peer``: one epoch of ``n_batches`` mini-batches of the row.

    Every process has the same data (seed 0): only the throughput counts.
    """
    X, labels = row_data(n_batches * ROW.batch)
    return peer(ROW, X, labels)


def ddp_pass(folder, rank, n_workers, n_batches):
    """The suite's PyTorch peer with its model in DistributedDataParallel, in a gloo group
    of ``n_workers`` processes that meet through a file in ``folder``."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    dist.init_process_group("gloo", init_method=f"file://{folder}/group-of-{n_workers}",
                            rank=rank, world_size=n_workers)
    atexit.register(dist.destroy_process_group)
    ddp = functools.partial(peers.torch, wrap=DistributedDataParallel)
    return peer_pass(ddp, rank, n_workers, n_batches)


def ratios(rows):
    """``{row: (speed-up over 1 worker, densecore/DDP or None)}``."""
    one_worker = {(row.trainer, row.sync_every): row.rate for row in rows if row.workers == 1}
    ddp = {row.workers: row.rate for row in rows if row.trainer == DDP}
    return {row: (row.rate / one_worker[row.trainer, row.sync_every],
                  row.rate / ddp[row.workers] if row.trainer == DASK and ddp else None)
            for row in rows}


def table(rows):
    """The rows as aligned lines."""
    header = ("trainer", "workers", "sync every", "samples/s", "vs 1 worker",
              "s per sync round", "densecore/DDP")
    cells = [(row.trainer, str(row.workers), str(row.sync_every or "-"), f"{row.rate:,.0f}",
              f"{speed_up:.2f}x", f"{row.per_round:.3g}" if row.per_round else "-",
              f"{vs_ddp:.2f}x" if vs_ddp else "-")
             for row, (speed_up, vs_ddp) in ratios(rows).items()]
    return columns(header, cells)


def verdicts(rows):
    """The must-reach lines of densecore.dask.fit: 2 workers over 1, and over DDP at
    every worker count."""
    lines = []
    for row, (speed_up, vs_ddp) in ratios(rows).items():
        if row.trainer != DASK:
            continue
        subject = f"{LABEL} sync every {row.sync_every}, {plural(row.workers, 'worker')}"
        if row.workers == 2:
            lines.append(verdict(f"{subject} vs 1", speed_up, MUST_SCALE))
        if vs_ddp:
            lines.append(verdict(f"{subject} vs PyTorch DDP", vs_ddp, MUST_VS_DDP))
    return lines


if __name__ == "__main__":
    main(Settings(**json.loads(sys.argv[1])))
