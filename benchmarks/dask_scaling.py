"""Data-parallel training throughput: densecore.dask.fit beside PyTorch DistributedDataParallel.

The mini-batch row of the benchmarks: a 784-512-256-10 network in float32,
mini-batches of 128 samples per worker, one BLAS thread per worker, random
data generated where it is trained.  densecore runs on a Dask LocalCluster of
worker processes and averages the replicas every ``sync_every`` mini-batches;
PyTorch runs DistributedDataParallel on the CPU (gloo, worker processes on
localhost), which all-reduces the gradients after every mini-batch.  Each
worker trains on the same number of mini-batches in both.  The table gives
the samples per second over all workers, the speed-up over one worker and
the time per synchronisation round.  The rows without a cluster are
``Network.fit`` and a plain PyTorch loop in one process, and ``Network.fit``
in as many independent processes as workers: the ceiling this machine allows.

    python benchmarks/dask_scaling.py [--workers 1 2] [--sync-every 16 64] [--rounds 4]

Needs the ``dask`` and ``bench`` extras (``pip install 'densecore[dask,bench]'``).
"""
import argparse
import concurrent.futures
import multiprocessing
import os
import time

# One BLAS thread everywhere; set before numpy, torch or the workers start.
ONE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                     "MKL_NUM_THREADS")}
os.environ.update(ONE_THREAD)

import dask.array as da  # noqa: E402
import numpy as np  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402

import densecore  # noqa: E402
import densecore.dask  # noqa: E402

SIZES = [784, 512, 256, 10]
BATCH = 128
LEARNING_RATE = 0.01
REPEATS = 3  # timed epochs (densecore) or passes (PyTorch); the fastest counts


class EpochClock:
    """Records when each epoch ends."""

    def __init__(self):
        self.times = [time.perf_counter()]

    def on_epoch_end(self, epoch, logs):
        self.times.append(time.perf_counter())


def densecore_dask(n_workers, sync_every, rounds):
    """``(samples/s, seconds per round)`` of the fastest epoch of densecore.dask.fit."""
    rows = BATCH * sync_every * rounds  # per worker, so that an epoch is `rounds` rounds
    with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                      dashboard_address=None, env=ONE_THREAD) as cluster, \
            Client(cluster) as client:
        rng = da.random.default_rng(0)
        X = rng.random((n_workers * rows, SIZES[0]), chunks=(rows, -1), dtype=np.float32)
        y = rng.integers(0, SIZES[-1], n_workers * rows, chunks=rows)
        X, y = client.persist([X, y])
        net = densecore.Network.from_sizes(SIZES, dtype=np.float32, seed=0)
        clock = EpochClock()
        # The first epoch warms the workers up (imports, first transfers).
        densecore.dask.fit(net, X, y, epochs=1 + REPEATS, batch_size=BATCH,
                           learning_rate=LEARNING_RATE, sync_every=sync_every, seed=0,
                           client=client, callbacks=[clock])
    seconds = min(np.diff(clock.times)[1:])
    return n_workers * rows / seconds, seconds / rounds


def densecore_one_process(n_batches):
    """Samples/s of Network.fit in this process, for the same work as one worker."""
    rng = np.random.default_rng(0)
    X = rng.random((n_batches * BATCH, SIZES[0]), dtype=np.float32)
    y = rng.integers(0, SIZES[-1], len(X))
    net = densecore.Network.from_sizes(SIZES, dtype=np.float32, seed=0)
    net.fit(X[:4 * BATCH], y[:4 * BATCH], epochs=1, batch_size=BATCH)
    start = time.perf_counter()
    net.fit(X, y, epochs=1, batch_size=BATCH, learning_rate=LEARNING_RATE, seed=0)
    return len(X) / (time.perf_counter() - start)


def independent_processes(n_workers, n_batches):
    """Samples/s of ``n_workers`` processes running Network.fit side by side, never
    communicating: the most any data-parallel trainer can reach on this machine."""
    with concurrent.futures.ProcessPoolExecutor(
            n_workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        return sum(pool.map(densecore_one_process, [n_batches] * n_workers))


def torch_worker(rank, n_workers, n_batches, port, results):
    """One DDP process: train ``n_batches`` mini-batches; rank 0 reports the seconds."""
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=n_workers)
    torch.manual_seed(0)
    model = torch.nn.parallel.DistributedDataParallel(torch_model())
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)
    generator = torch.Generator().manual_seed(rank)
    X = torch.rand(n_batches, BATCH, SIZES[0], generator=generator)
    y = torch.randint(0, SIZES[-1], (n_batches, BATCH), generator=generator)
    loss_function = torch.nn.CrossEntropyLoss()

    def train(batches):
        for x_batch, y_batch in zip(X[:batches], y[:batches]):
            optimizer.zero_grad()
            loss_function(model(x_batch), y_batch).backward()
            optimizer.step()

    train(4)
    passes = []
    for _ in range(REPEATS):
        dist.barrier()
        start = time.perf_counter()
        train(n_batches)
        dist.barrier()
        passes.append(time.perf_counter() - start)
    if rank == 0:
        results.put(min(passes))
    dist.destroy_process_group()


def torch_model():
    import torch

    layers = []
    for n_in, n_out in zip(SIZES, SIZES[1:]):
        layers += [torch.nn.Linear(n_in, n_out), torch.nn.ReLU()]
    return torch.nn.Sequential(*layers[:-1])  # softmax is in the loss


def torch_ddp(n_workers, n_batches, port=29517):
    """``(samples/s, seconds per all-reduce step)`` of DistributedDataParallel."""
    import torch.multiprocessing as mp

    results = mp.get_context("spawn").SimpleQueue()
    mp.spawn(torch_worker, args=(n_workers, n_batches, port + n_workers, results),
             nprocs=n_workers)
    seconds = results.get()
    return n_workers * n_batches * BATCH / seconds, seconds / n_batches


def torch_one_process(n_batches):
    """Samples/s of a plain PyTorch training loop in this process."""
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = torch_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)
    X = torch.rand(n_batches, BATCH, SIZES[0])
    y = torch.randint(0, SIZES[-1], (n_batches, BATCH))
    loss_function = torch.nn.CrossEntropyLoss()
    start = time.perf_counter()
    for x_batch, y_batch in zip(X, y):
        optimizer.zero_grad()
        loss_function(model(x_batch), y_batch).backward()
        optimizer.step()
    return n_batches * BATCH / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--sync-every", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--rounds", type=int, default=4, help="rounds per timed epoch")
    args = parser.parse_args()
    print(f"{'-'.join(map(str, SIZES))}, float32, batch {BATCH} per worker, one BLAS thread "
          f"per worker, {os.cpu_count()} cores\n")
    print("| trainer | workers | sync every | samples/s | vs 1 worker | s per sync round |"
          " densecore / PyTorch |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    n_batches = args.rounds * max(args.sync_every)
    torch_rows = {}
    for n_workers in args.workers:
        torch_rows[n_workers] = torch_ddp(n_workers, n_batches)
    first = args.workers[0]
    for sync_every in args.sync_every:
        rows = {n: densecore_dask(n, sync_every, args.rounds) for n in args.workers}
        for n_workers, (rate, per_round) in rows.items():
            print(f"| densecore.dask.fit | {n_workers} | {sync_every} | {rate:,.0f} | "
                  f"{rate / rows[first][0]:.2f}x | {per_round:.3f} | "
                  f"{rate / torch_rows[n_workers][0]:.2f} |")
    for n_workers, (rate, per_step) in torch_rows.items():
        print(f"| PyTorch DDP (gloo) | {n_workers} | 1 | {rate:,.0f} | "
              f"{rate / torch_rows[first][0]:.2f}x | {per_step:.4f} | |")
    for n_workers in args.workers:
        rate = independent_processes(n_workers, n_batches)
        print(f"| Network.fit in independent processes, no Dask | {n_workers} | | "
              f"{rate:,.0f} | | | |")
    print(f"| PyTorch loop, no DDP | 1 process | | {torch_one_process(n_batches):,.0f} | | | |")


if __name__ == "__main__":
    main()
