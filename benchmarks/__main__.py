"""``python -m benchmarks [--quick] [--samples N] [--only TEXT]``: see README.md."""
import argparse

from benchmarks import suite


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: fewer repeats and shorter timings")
    parser.add_argument("--samples", type=int, default=None,
                        help="cap the samples of every workload (default: each one's own)")
    parser.add_argument("--only", default="",
                        help="run only the workloads whose label contains this text")
    args = parser.parse_args(argv)
    if args.quick:
        suite.run(args.samples, args.only, repeats=1, min_time=0)
    else:
        suite.run(args.samples, args.only)


if __name__ == "__main__":
    main()
