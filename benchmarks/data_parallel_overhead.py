"""The cost of a synchronisation round of densecore.dask.fit, beside Dask's own floor.

Every replica synchronises after every mini-batch (``sync_every=1``, batches of
a few rows), so that what is timed is the averaging and the scheduling, not
the arithmetic.  Two sweeps, each on a LocalCluster of worker processes with
one thread each (as many processes as asked for, even above the cores: the
scheduling is what is measured):

- k replicas (one row chunk each) on k workers, for the networks 16-8-3 and
  784-512-256-10 (float32, 2 MB of parameters);
- the same 32,768 rows of 16-8-3 in more and more chunks on 2 workers, each
  round seeing the same rows (the batch is a chunk's rows over the rounds).

Dask's floor runs the same rounds with no training, on the same cluster: k
trivial tasks that each wait for the round before (a barrier task joins
them), and k tasks that each hand on an array of the network's parameter count
combined by a tree of partial sums of fan-in 4 (fit's default ``split_every``)
whose root the next round waits for.  A time is the median of ``repeats``
epochs (or floor passes) of ``rounds`` rounds after a warm-up one, divided by
``rounds``.  Like the data-parallel section, it runs in a child process whose
BLAS, and its workers', has one thread.
"""
import dataclasses
import json
import os
import statistics
import sys
import time
from typing import NamedTuple

import numpy as np

from benchmarks.data_parallel import EpochClock, run_section
from benchmarks.report import columns, verdict

LABEL = "data-parallel-overhead"
SMALL, BIG = (16, 8, 3), (784, 512, 256, 10)
DTYPE = "float32"
FAN_IN = 4  # the floor's tree, as densecore.dask.fit's default split_every
CHUNKED_ROWS = 32_768  # the chunk sweep's rows, of SMALL
LEARNING_RATE = 0.01
MUST_PER_ROUND = 0.5  # rounds per second: many over few chunks or replicas, fit over floor

DASK = "densecore.dask.fit"
TRIVIAL = "Dask floor, trivial tasks"
TREE = "Dask floor, tree of sums"


@dataclasses.dataclass(frozen=True)
class Settings:
    """What the section measures; the targets compare the pairs ``(few, many)``."""
    replicas: tuple = (1, 2, 4, 8, 16)  # on as many workers
    chunks: tuple = (2, 8, 32, 64, 256)  # on 2 workers
    batch: int = 16  # rows per mini-batch in the replica sweep
    rounds: int = 4  # per timed epoch
    repeats: int = 3  # timed epochs after a warm-up one; the table shows medians
    replica_target: tuple = (8, 16)
    chunk_target: tuple = (2, 64)


QUICK = Settings(replicas=(1, 2), chunks=(2, 8), rounds=2, repeats=1, replica_target=(1, 2),
                 chunk_target=(2, 8))
CHUNK_WORKERS = 2


class Row(NamedTuple):
    run: str
    network: str  # "-" for the trivial tasks
    rows: int  # trained on, all chunks together ("-" for the floor)
    chunks: int
    workers: int
    seconds: float  # per round


def run(settings, out=print):
    """Measure in a child process that holds BLAS to one thread; hand its lines to ``out``."""
    run_section(__name__, settings, out)


def main(settings):
    """Print the section: what ran, the table and the target lines."""
    try:
        import dask
        import densecore.dask  # noqa: F401 (what is measured: fail here, not in a worker)
    except ImportError as error:
        print(f"{LABEL}: skipped, {error} (the dask extra installs it)")
        return
    print(f"{LABEL}: ms per synchronisation round, sync every batch, one thread per worker "
          f"process, {len(os.sched_getaffinity(0))} cores, dask {dask.__version__}")
    rows = []
    for n_workers in sorted({*settings.replicas, CHUNK_WORKERS}):
        rows += cluster_rows(n_workers, settings)
    print("\n".join(["", *table(rows), "", *verdicts(rows, settings)]))


def name(sizes):
    return "-".join(map(str, sizes))


def cluster_rows(n_workers, settings):
    """The rows measured on one LocalCluster of ``n_workers`` processes."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        rows = []
        if n_workers in settings.replicas:
            for sizes in (SMALL, BIG):
                rows.append(fit_row(client, sizes, n_workers, n_workers,
                                    settings.batch * settings.rounds, settings))
                rows.append(floor_row(client, TREE, sizes, n_workers, settings))
            rows.append(floor_row(client, TRIVIAL, None, n_workers, settings))
        if n_workers == CHUNK_WORKERS:
            rows += [fit_row(client, SMALL, n_chunks, n_workers, CHUNKED_ROWS // n_chunks,
                             settings) for n_chunks in settings.chunks]
        return rows


def progress(text):
    print(f"measuring {LABEL}: {text}", file=sys.stderr)


def fit_row(client, sizes, n_chunks, n_workers, chunk_rows, settings):
    """densecore.dask.fit of ``n_chunks`` chunks of ``chunk_rows`` rows, ``rounds`` rounds
    an epoch: the median epoch over ``rounds``."""
    import dask.array as da

    import densecore
    import densecore.dask

    progress(f"{DASK}, {name(sizes)}, {n_chunks} chunks on {n_workers} workers")
    rng = da.random.default_rng(0)
    X = rng.random((n_chunks * chunk_rows, sizes[0]), chunks=(chunk_rows, -1), dtype=DTYPE)
    y = rng.integers(0, sizes[-1], n_chunks * chunk_rows, chunks=chunk_rows)
    X, y = client.persist([X, y])
    net = densecore.Network.from_sizes(sizes, dtype=DTYPE, seed=0)
    clock = EpochClock()
    densecore.dask.fit(net, X, y, epochs=1 + settings.repeats,
                       batch_size=chunk_rows // settings.rounds, learning_rate=LEARNING_RATE,
                       sync_every=1, seed=0, client=client, callbacks=[clock], scaling=None)
    seconds = statistics.median(np.diff(clock.times)[1:]) / settings.rounds
    return Row(DASK, name(sizes), n_chunks * chunk_rows, n_chunks, n_workers, seconds)


def floor_row(client, run_name, sizes, n_workers, settings):
    """Dask's floor on ``n_workers``: ``rounds`` rounds of as many tasks, the median of
    ``repeats`` passes after a warm-up one."""
    progress(f"{run_name}, {name(sizes) if sizes else '-'}, {n_workers} workers")
    threads = sorted(client.nthreads())
    if sizes is None:
        one_pass = trivial_rounds
        start = client.submit(int, 0, pure=False)
    else:
        one_pass = tree_rounds
        n_parameters = sum(n_in * n_out + n_out for n_in, n_out in zip(sizes, sizes[1:]))
        start = client.submit(np.zeros, n_parameters, DTYPE, pure=False)
    times = []
    for _ in range(1 + settings.repeats):
        began = time.perf_counter()
        one_pass(client, start, threads, settings.rounds).result()
        times.append(time.perf_counter() - began)
    return Row(run_name, name(sizes) if sizes else "-", 0, n_workers, n_workers,
               statistics.median(times[1:]) / settings.rounds)


def trivial_rounds(client, start, threads, rounds):
    """A task per worker waiting for the round before, joined by a barrier task."""
    barrier = start
    for _ in range(rounds):
        tasks = [client.submit(nothing, barrier, workers=[worker], allow_other_workers=True,
                               pure=False) for worker in threads]
        barrier = client.submit(len, tasks, pure=False)
    return barrier


def tree_rounds(client, start, threads, rounds):
    """A task per worker handing on a copy of the root, added up by a tree of fan-in
    ``FAN_IN`` whose root the next round waits for."""
    root = start
    for _ in range(rounds):
        nodes = [client.submit(np.copy, root, workers=[worker], allow_other_workers=True,
                               pure=False) for worker in threads]
        while len(nodes) > FAN_IN:
            nodes = [client.submit(add, nodes[i:i + FAN_IN], pure=False)
                     for i in range(0, len(nodes), FAN_IN)]
        root = client.submit(add, nodes, pure=False)
    return root


def nothing(value):
    """A trivial task: nothing done."""
    return None


def add(arrays):
    """A node of the floor's tree: the arrays' sum."""
    total = arrays[0].copy()
    for array in arrays[1:]:
        total += array
    return total


def table(rows):
    """The rows as aligned lines, with each fit's time over the tree floor of its
    network on as many workers, where it has a chunk per worker."""
    floors = {(row.network, row.workers): row.seconds for row in rows if row.run == TREE}
    header = ("run", "network", "rows", "chunks on workers", "ms per round", "vs tree floor")
    cells = []
    for row in rows:
        floor = (floors.get((row.network, row.workers))
                 if row.run == DASK and row.chunks == row.workers else None)
        cells.append((row.run, row.network, f"{row.rows:,}" if row.rows else "-",
                      f"{row.chunks} on {row.workers}", f"{row.seconds * 1e3:.1f}",
                      f"{row.seconds / floor:.2f}x" if floor else "-"))
    return columns(header, cells)


def verdicts(rows, settings):
    """Rounds per second of many chunks over few on 2 workers, of many replicas over few
    (both networks), and of fit over the tree floor at the most replicas (2 MB model)."""
    chunked = {row.chunks: row.seconds for row in rows
               if row.run == DASK and row.rows == CHUNKED_ROWS}
    replicas = {(row.network, row.chunks): row.seconds for row in rows
                if row.run == DASK and row.rows != CHUNKED_ROWS}
    floors = {(row.network, row.workers): row.seconds for row in rows if row.run == TREE}
    few, many = settings.chunk_target
    lines = [verdict(f"{LABEL} {name(SMALL)}, {many} chunks vs {few} on {CHUNK_WORKERS} "
                     "workers, rounds per second", chunked[few] / chunked[many],
                     MUST_PER_ROUND)]
    few, many = settings.replica_target
    for sizes in (SMALL, BIG):
        lines.append(verdict(f"{LABEL} {name(sizes)}, {many} replicas vs {few}, rounds per "
                             "second", replicas[name(sizes), few] / replicas[name(sizes), many],
                             MUST_PER_ROUND))
    lines.append(verdict(f"{LABEL} {name(BIG)}, {many} replicas vs the tree floor, rounds "
                         "per second", floors[name(BIG), many] / replicas[name(BIG), many],
                         MUST_PER_ROUND))
    return lines


if __name__ == "__main__":
    main(Settings(**{key: tuple(value) if isinstance(value, list) else value
                     for key, value in json.loads(sys.argv[1]).items()}))
