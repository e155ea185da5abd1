"""The command line: ``python -m densecore train`` trains on the digits."""
import argparse
import time

import numpy as np

from densecore import Network
from densecore.datasets import load_digits

TEST_FRACTION = 0.2
SPLIT_SEED = 0  # the held-out split stays the same whatever --seed is


def digits_split():
    """``(X_train, y_train, X_test, y_test)``: a fixed, shuffled 80/20 split."""
    X, y = load_digits()
    order = np.random.default_rng(SPLIT_SEED).permutation(len(X))
    n_test = int(len(X) * TEST_FRACTION)
    test, train = order[:n_test], order[n_test:]
    return X[train], y[train], X[test], y[test]


def hidden_sizes(text):
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes like 128,64, got {text!r}") from None
    if any(size < 1 for size in sizes):
        raise argparse.ArgumentTypeError(f"sizes must be positive, got {text!r}")
    return sizes


def parser():
    main = argparse.ArgumentParser(prog="densecore", description=__doc__)
    commands = main.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train a network on the embedded digits")
    train.add_argument("--epochs", type=int, default=30)
    train.add_argument("--batch-size", type=int, default=32)
    train.add_argument("--learning-rate", type=float, default=0.1)
    train.add_argument("--hidden", type=hidden_sizes, default=[128, 64],
                       help="hidden layer sizes, comma-separated (default 128,64)")
    train.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    train.add_argument("--seed", type=int, default=0)
    return main


def train(args):
    X_train, y_train, X_test, y_test = digits_split()
    sizes = [X_train.shape[1], *args.hidden, 10]
    net = Network.from_sizes(sizes, dtype=args.dtype, seed=args.seed)
    print(f"{net!r}\ntraining on {len(X_train)} digits, testing on {len(X_test)}")
    start = time.perf_counter()
    history = net.fit(X_train, y_train, epochs=args.epochs, batch_size=args.batch_size,
                      learning_rate=args.learning_rate, seed=args.seed, verbose=True)
    seconds = time.perf_counter() - start
    result = net.evaluate(X_test, y_test)
    print(f"final training loss {history['loss'][-1]:.4f} after {args.epochs} epochs "
          f"in {seconds:.2f} s")
    print(f"test accuracy: {result['accuracy']:.4f}")


def main(argv=None):
    args = parser().parse_args(argv)
    if args.command == "train":
        train(args)


if __name__ == "__main__":
    main()
