"""``python -m benchmarks [--quick] [--samples N] [--only TEXT] [--workers N ...]
[--sync-every N ...] [--rounds N] [--threads N ...]``: see README.md."""
import argparse
import dataclasses

from benchmarks import data_parallel, data_parallel_overhead, estimators, scaling, suite


def positive(text):
    """An argparse type: an integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def main(argv=None):
    full, quick = data_parallel.Settings(), data_parallel.QUICK
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: fewer repeats and shorter timings (data-parallel: "
                             f"sync every {quick.sync_every[0]}, {quick.rounds} round)")
    parser.add_argument("--samples", type=int, default=None,
                        help="cap the samples of every workload (default: each one's own)")
    parser.add_argument("--only", default="",
                        help="run only the workloads whose label contains this text, the "
                             f"estimators' section's being {estimators.LABEL!r}, the "
                             f"data-parallel section's {data_parallel.LABEL!r} and its "
                             f"overhead's {data_parallel_overhead.LABEL!r} (so "
                             "'data-parallel' selects both)")
    parser.add_argument("--workers", type=positive, nargs="+", metavar="N",
                        help="data-parallel worker counts: 1 is always measured, counts "
                             "above the cores are skipped "
                             f"(default: {' '.join(map(str, full.workers))})")
    parser.add_argument("--sync-every", type=positive, nargs="+", metavar="N",
                        help="mini-batches between two averagings of densecore.dask.fit "
                             f"(default: {' '.join(map(str, full.sync_every))})")
    parser.add_argument("--rounds", type=positive, metavar="N",
                        help="synchronisation rounds in a timed densecore.dask.fit epoch "
                             f"(default: {full.rounds})")
    parser.add_argument("--threads", type=positive, nargs="+", metavar="N",
                        help="instead of the suite, the threads section: training at each "
                             "thread count (1 always; counts above the cores skipped)")
    args = parser.parse_args(argv)
    if args.threads:
        scaling.run(args.threads, print, args.only, args.samples, quick=args.quick)
        return
    given = {"workers": args.workers, "sync_every": args.sync_every, "rounds": args.rounds}
    parallel = dataclasses.replace(quick if args.quick else full,
                                   **{name: value for name, value in given.items()
                                      if value is not None})
    if args.quick:
        suite.run(args.samples, args.only, repeats=1, min_time=0, parallel=parallel, quick=True,
                  overhead=data_parallel_overhead.QUICK)
    else:
        suite.run(args.samples, args.only, parallel=parallel)


if __name__ == "__main__":
    main()
