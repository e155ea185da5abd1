"""The command line: ``python -m densecore train`` trains on the digits,
``python -m densecore evaluate MODEL.npz`` tests a saved model on them, and
``python -m densecore export MODEL.npz MODEL.onnx`` writes a saved model as ONNX."""
import argparse
import contextlib
import os
import time

import numpy as np

from densecore import Network
from densecore.activations import ACTIVATIONS
from densecore.datasets import load_digits
from densecore.kernels import FLOAT_DTYPES
from densecore.optimizers import OPTIMIZERS

TEST_FRACTION = 0.2
SPLIT_SEED = 0  # the held-out split stays the same whatever --seed is
DASK_SYNC_EVERY = 8  # mini-batches between two averagings with --dask


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


def dask_address(text):
    """``local:N`` (N worker processes on this machine) or a scheduler's address."""
    if text.startswith("local:"):
        workers = text.removeprefix("local:")
        if not workers.isdigit() or int(workers) < 1:
            raise argparse.ArgumentTypeError(f"expected local:N with N >= 1, got {text!r}")
        return text
    if "://" not in text:
        raise argparse.ArgumentTypeError(
            f"expected local:N or a scheduler address like tcp://HOST:PORT, got {text!r}")
    return text


def fraction(text):
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1), got {text!r}")
    return value


def parser():
    main = argparse.ArgumentParser(prog="densecore", description=__doc__)
    commands = main.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train a network on the embedded digits")
    train.add_argument("--epochs", type=int, default=30)
    train.add_argument("--batch-size", type=int, default=32)
    train.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="sgd")
    train.add_argument("--learning-rate", type=float, default=None,
                       help="default 0.1 with sgd, 0.001 with adam")
    train.add_argument("--hidden", type=hidden_sizes, default=[128, 64],
                       help="hidden layer sizes, comma-separated (default 128,64)")
    train.add_argument("--activation", choices=sorted(ACTIVATIONS), default="relu",
                       help="the hidden layers' activation (default relu)")
    train.add_argument("--dtype", choices=[dtype.name for dtype in FLOAT_DTYPES],
                       default="float64")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--validation-split", type=fraction, default=0.1,
                       help="fraction of the training digits held out to validate "
                            "each epoch (default 0.1; 0 for none)")
    train.add_argument("--dask", metavar="ADDRESS", type=dask_address,
                       help="train data-parallel on Dask (the 'dask' extra): local:N starts "
                            "N worker processes here, tcp://HOST:PORT joins a running "
                            "scheduler; --validation-split is not used")
    train.add_argument("--save", metavar="PATH", help="save the trained model to PATH (.npz)")
    train.add_argument("--plot", metavar="PATH",
                       help="plot loss and accuracy per epoch to the PNG file PATH "
                            "(needs matplotlib: the 'plot' extra)")
    train.set_defaults(run=train_command, error=train.error)
    evaluate = commands.add_parser("evaluate", help="test a saved model on the digits")
    evaluate.add_argument("model", metavar="MODEL", help="a model saved by train --save")
    evaluate.set_defaults(run=evaluate_command, error=evaluate.error)
    export = commands.add_parser("export", help="write a saved model as an ONNX model "
                                                "(needs onnx: the 'onnx' extra)")
    export.add_argument("model", metavar="MODEL", help="a model saved by train --save (.npz)")
    export.add_argument("output", metavar="OUTPUT", help="the ONNX file to write (.onnx)")
    export.add_argument("--opset", type=int, default=None,
                        help="the ONNX operator set (default densecore.onnx.DEFAULT_OPSET)")
    export.add_argument("--dtype", choices=[dtype.name for dtype in FLOAT_DTYPES],
                        default=None, help="the model's element type (default the model's)")
    export.set_defaults(run=export_command, error=export.error)
    return main


def check_outputs(args):
    """Fail before training, not after, on an output that cannot be written."""
    for option, path in (("--save", args.save), ("--plot", args.plot)):
        if path is not None and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            args.error(f"{option}: the folder of {path!r} does not exist")
    if args.plot is not None:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            args.error("--plot needs matplotlib: pip install 'densecore[plot]'")


def train_command(args):
    check_outputs(args)
    learning_rate = args.learning_rate
    if learning_rate is None:
        learning_rate = 0.1 if args.optimizer == "sgd" else 0.001
    X_train, y_train, X_test, y_test = digits_split()
    sizes = [X_train.shape[1], *args.hidden, 10]
    net = Network.from_sizes(sizes, activation=args.activation, dtype=args.dtype,
                             seed=args.seed)
    print(f"{net!r}\ntraining on {len(X_train)} digits, testing on {len(X_test)}")
    settings = dict(epochs=args.epochs, batch_size=args.batch_size, learning_rate=learning_rate,
                    seed=args.seed, verbose=True, optimizer=args.optimizer)
    start = time.perf_counter()
    if args.dask is None:
        history = net.fit(X_train, y_train, validation_split=args.validation_split, **settings)
    else:
        history = train_on_dask(net, X_train, y_train, args.dask, settings)
    seconds = time.perf_counter() - start
    result = net.evaluate(X_test, y_test)
    print(f"final training loss {history['loss'][-1]:.4f} after {args.epochs} epochs "
          f"in {seconds:.2f} s")
    if history.get("val_accuracy"):
        print(f"validation accuracy: {history['val_accuracy'][-1]:.4f}")
    print(f"test accuracy: {result['accuracy']:.4f}")
    if args.save is not None:
        net.save(args.save)
        print(f"saved the model to {args.save}")
    if args.plot is not None:
        plot_history(history, args.plot)
        print(f"plotted the training history to {args.plot}")


def train_on_dask(net, X, y, address, settings):
    """``densecore.dask.fit`` on the cluster at ``address``, one row chunk per worker."""
    import dask.array as da
    from distributed import Client, LocalCluster

    from densecore.dask import fit

    if address.startswith("local:"):
        cluster = LocalCluster(n_workers=int(address.removeprefix("local:")),
                               threads_per_worker=1, processes=True, dashboard_address=None)
    else:
        cluster = contextlib.nullcontext(address)
    with cluster as scheduler, Client(scheduler) as client:
        n_workers = len(client.scheduler_info()["workers"])
        print(f"training on {n_workers} Dask workers at {client.scheduler.address}")
        rows = -(-len(X) // n_workers)
        history = fit(net, da.from_array(X, chunks=rows), da.from_array(y, chunks=rows),
                      sync_every=DASK_SYNC_EVERY, client=client, **settings)
    return history


def plot_history(history, path):
    """Loss and accuracy per epoch, training and validation, side by side in a PNG."""
    # The object-oriented API: no pyplot, so no GUI backend and no global figure state.
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 4), layout="constrained")
    epochs = range(1, len(history["loss"]) + 1)
    for axes, key in zip(figure.subplots(1, 2), ("loss", "accuracy")):
        for prefix, label in (("", "training"), ("val_", "validation")):
            if history.get(prefix + key):
                axes.plot(epochs, history[prefix + key], marker=".", label=label)
        axes.set(title=key, xlabel="epoch", ylabel=key)
        axes.grid(alpha=0.3)
        axes.legend()
    figure.savefig(path, format="png", dpi=100)


def evaluate_command(args):
    try:
        net = Network.load(args.model)
    except (OSError, ValueError) as error:
        args.error(str(error))
    X_train, _, X_test, y_test = digits_split()
    if net.sizes[0] != X_train.shape[1] or net.sizes[-1] != 10 or net.loss != "cross_entropy":
        args.error(f"{args.model!r} is not a digits classifier: expected 64 inputs, 10 "
                   f"outputs and cross_entropy, got {net!r}")
    print(f"{net!r}\ntesting on {len(X_test)} digits")
    print(f"test accuracy: {net.evaluate(X_test, y_test)['accuracy']:.4f}")


def export_command(args):
    try:
        from densecore.onnx import save
    except ImportError:
        args.error("export needs onnx: pip install 'densecore[onnx]'")
    try:
        net = Network.load(args.model)
        save(net, args.output, opset=args.opset, dtype=args.dtype)
    except (OSError, ValueError) as error:
        args.error(str(error))
    print(f"{net!r}\nwrote ONNX to {args.output}")


def main(argv=None):
    args = parser().parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()
