"""Sparse input: one epoch of mini-batch SGD on a CSR matrix, three ways.

``python -m benchmarks.sparse [--rows 10000] [--features 2000] [--density 0.01]
[--hidden 64] [--batch 32] [--dtype float64] [--repeats 5] [--blas-threads N]``

- sparse kernel: ``Session.epoch`` on the CSR matrix (the first layer's products
  run on its rows, read in place);
- densified per batch: each batch's CSR rows made a dense block (scipy) and
  trained on as dense rows, a ``Session.epoch`` per batch;
- per-batch loop, dense rows: the same loop on rows gathered from the dense
  matrix, the control for what the per-batch Python loop itself costs;
- whole dense: ``Session.epoch`` on ``X.toarray()`` (made once, untimed).

Also prediction of every row, sparse against dense.  Median seconds of
``--repeats`` interleaved rounds, one epoch (or prediction) per timing; every
variant trains its own copy of the same network.  BLAS threads: as densecore
sets them (one for small products), or at most ``--blas-threads``.
"""
import argparse
import contextlib

import numpy as np
import scipy.sparse

import densecore
from benchmarks.timing import interleaved


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sparse", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--features", type=int, default=2_000)
    parser.add_argument("--density", type=float, default=0.01)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--outputs", type=int, default=10)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--blas-threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.blas_threads is None:
        limit = contextlib.nullcontext()
    else:
        from threadpoolctl import threadpool_limits
        limit = threadpool_limits(args.blas_threads, user_api="blas")
    with limit:
        run(args)


def run(args):

    rng = np.random.default_rng(0)
    X = scipy.sparse.random(args.rows, args.features, density=args.density, format="csr",
                            dtype=args.dtype, random_state=rng)
    y = rng.integers(0, args.outputs, args.rows)
    dense = X.toarray()
    sizes = [args.features, args.hidden, args.outputs]
    start = densecore.Network.from_sizes(sizes, dtype=args.dtype, seed=0).state()

    def session():
        network = densecore.Network.from_state(start)
        # No rollback copy: the per-batch loops would pay it once per batch.
        trainer = network.training_session(args.batch, rollback=False)
        return network, trainer

    net_sparse, sparse = session()
    Xs, Y = sparse.data(X, y)
    _, per_batch = session()
    _, control = session()
    _, whole = session()
    Xd, _ = whole.data(dense, y)
    order = rng.permutation(args.rows)
    batches = [order[i:i + args.batch] for i in range(0, args.rows, args.batch)]
    rate = 1e-3

    def densified_per_batch():
        for rows in batches:
            per_batch.epoch(Xs[rows].toarray(), Y[rows], np.arange(len(rows)), rate)

    def dense_rows_per_batch():
        for rows in batches:
            control.epoch(Xd[rows], Y[rows], np.arange(len(rows)), rate)

    runs = {
        "sparse kernel": lambda: sparse.epoch(Xs, Y, order, rate),
        "densified per batch": densified_per_batch,
        "per-batch loop, dense rows": dense_rows_per_batch,
        "whole dense": lambda: whole.epoch(Xd, Y, order, rate),
    }
    times = interleaved(runs, args.repeats, min_time=0)
    predictions = interleaved({"predict sparse": lambda: net_sparse.predict(Xs),
                               "predict dense": lambda: net_sparse.predict(Xd)},
                              args.repeats, min_time=0)

    print(f"{args.rows} x {args.features} CSR, density {args.density} "
          f"({X.nnz} values), network {'-'.join(map(str, sizes))} {args.dtype}, "
          f"SGD b{args.batch}; median of {args.repeats}; BLAS threads: "
          f"{'as densecore sets them' if args.blas_threads is None else args.blas_threads}")
    reference = times["sparse kernel"]
    print(f"{'one epoch':28} | {'seconds':>9} | {'x sparse kernel':>15}")
    for name, seconds in times.items():
        print(f"{name:28} | {seconds:9.4f} | {seconds / reference:15.2f}")
    reference = predictions["predict sparse"]
    for name, seconds in predictions.items():
        print(f"{name:28} | {seconds:9.4f} | {seconds / reference:15.2f}")
    print(f"dense copy of X: {dense.nbytes / 2**20:.0f} MiB; the CSR: "
          f"{(X.data.nbytes + X.indices.nbytes + X.indptr.nbytes) / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
