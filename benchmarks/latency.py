"""The latency section: one-sample predict, each library single-threaded.

Every peer predicts one sample through the same network (densecore's weights,
copied into the peer) after a warm-up; the time is the median of ``repeats``
timings of ``calls`` calls.  Each peer runs in a spawned process of its own with
every BLAS pool limited to one thread (threadpoolctl), PyTorch at one thread and
onnxruntime at one intra-op thread, so that no other library's threads are alive
and spinning.  onnxruntime runs the network exported by skl2onnx from an
MLPClassifier holding densecore's weights.
"""
import multiprocessing
import statistics
import sys
import time

import numpy as np

from benchmarks.report import columns, verdict

LABEL = "latency"
NETWORKS = [(64, 32, 10), (784, 128, 10), (784, 512, 256, 10)]
DTYPES = ["float32", "float64"]
# densecore over onnxruntime: the must-reach ratio of one-sample times.
MUST = {(64, 32, 10): 3.0, (784, 128, 10): 3.0, (784, 512, 256, 10): 1.2}
PEERS = ["densecore", "densecore out=", "numpy", "torch", "sklearn", "onnxruntime"]
NAMES = {"numpy": "numpy by hand", "torch": "PyTorch", "sklearn": "scikit-learn"}


def network(sizes, dtype):
    """densecore's network of ``sizes`` (relu, softmax output), seed 0."""
    from densecore import Network

    return Network.from_sizes(list(sizes), dtype=dtype, seed=0)


def sklearn_model(net):
    """An MLPClassifier with ``net``'s weights (scikit-learn keeps W.T) and 10 classes."""
    import warnings

    from sklearn.neural_network import MLPClassifier

    sizes = net.sizes
    X = np.zeros((sizes[-1], sizes[0]), net.dtype)
    model = MLPClassifier(hidden_layer_sizes=sizes[1:-1], max_iter=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one iteration is all it needs to be fitted
        model.fit(X, np.arange(sizes[-1]))
    model.coefs_ = [layer.weights.T.copy() for layer in net.layers]
    model.intercepts_ = [layer.bias.ravel().copy() for layer in net.layers]
    return model


def predictor(peer, net):
    """A function predicting one sample ``x`` with ``peer``; ImportError if absent."""
    if peer == "densecore":
        return net.predict
    if peer == "densecore out=":
        out = np.empty((1, net.sizes[-1]), net.dtype)
        return lambda x: net.predict(x, out=out)
    if peer == "numpy":
        views = [(layer.weights.copy(), layer.bias.ravel().copy()) for layer in net.layers]

        def by_hand(x):
            for W, b in views[:-1]:
                x = np.maximum(x @ W.T + b, 0)
            W, b = views[-1]
            z = x @ W.T + b
            e = np.exp(z - z.max(axis=1, keepdims=True))
            return e / e.sum(axis=1, keepdims=True)
        return by_hand
    if peer == "torch":
        import torch

        torch.set_num_threads(1)
        modules = []
        for layer in net.layers:
            linear = torch.nn.Linear(layer.input_size, layer.output_size,
                                     dtype=getattr(torch, net.dtype.name))
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(layer.weights))
                linear.bias.copy_(torch.from_numpy(layer.bias.ravel()))
            modules += [linear, torch.nn.ReLU()]
        model = torch.nn.Sequential(*modules[:-1], torch.nn.Softmax(dim=1)).eval()

        def infer(x):
            with torch.inference_mode():
                return model(torch.from_numpy(x)).numpy()
        return infer
    if peer == "sklearn":
        return sklearn_model(net).predict_proba
    if peer == "onnxruntime":
        import onnxruntime
        from skl2onnx import convert_sklearn
        from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

        model = sklearn_model(net)
        tensor = FloatTensorType if net.dtype == np.float32 else DoubleTensorType
        onnx = convert_sklearn(model, initial_types=[("x", tensor([None, net.sizes[0]]))],
                               options={id(model): {"zipmap": False}})
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        session = onnxruntime.InferenceSession(onnx.SerializeToString(), options,
                                               providers=["CPUExecutionProvider"])
        return lambda x: session.run(["probabilities"], {"x": x})[0]
    raise ValueError(f"unknown peer {peer!r}")


def time_peer(peer, calls, repeats):
    """``{(sizes, dtype): microseconds per call or an error text}`` for ``peer``: run in a
    process of its own, every BLAS pool at one thread."""
    from threadpoolctl import threadpool_limits

    import densecore.kernels  # noqa: F401 (loads scipy's BLAS before the limit is set)

    results = {}
    with threadpool_limits(1):
        for sizes in NETWORKS:
            for dtype in DTYPES:
                net = network(sizes, dtype)
                x = np.random.default_rng(0).standard_normal((1, sizes[0])).astype(dtype)
                try:
                    run = predictor(peer, net)
                    got = np.asarray(run(x))
                except ImportError as error:
                    return f"not installed ({error.name}), skipped"
                except Exception as error:  # a peer that cannot run this case
                    results[sizes, dtype] = f"failed: {type(error).__name__}: {error}"
                    continue
                if not np.allclose(got, net.predict(x), rtol=1e-3, atol=1e-5):
                    results[sizes, dtype] = "failed: its output differs from densecore's"
                    continue
                for _ in range(calls):
                    run(x)
                times = []
                for _ in range(repeats):
                    start = time.perf_counter()
                    for _ in range(calls):
                        run(x)
                    times.append((time.perf_counter() - start) / calls * 1e6)
                results[sizes, dtype] = statistics.median(times)
    return results


def run(out, quick=False):
    """Measure every peer, each in a process of its own, and print the table and the
    target lines with ``out``."""
    calls, repeats = (200, 3) if quick else (3000, 5)
    context = multiprocessing.get_context("spawn")
    measured, skipped = {}, []
    for peer in PEERS:
        print(f"measuring {LABEL} {peer}", file=sys.stderr)
        with context.Pool(1) as pool:
            result = pool.apply(time_peer, (peer, calls, repeats))
        if isinstance(result, str):
            skipped.append(f"{NAMES.get(peer, peer)}: {result}")
        else:
            measured[peer] = result
    header = ("network", "peer", "us per call", "densecore/peer")
    rows, lines = [], []
    for sizes in NETWORKS:
        for dtype in DTYPES:
            label = f"{LABEL} {'-'.join(map(str, sizes))} {dtype} b1"
            ours = measured.get("densecore", {}).get((sizes, dtype))
            for peer, results in measured.items():
                value = results[sizes, dtype]
                if isinstance(value, str):
                    rows.append((label, NAMES.get(peer, peer), value, ""))
                    continue
                ratio = f"{value / ours:.2f}x" if isinstance(ours, float) else ""
                rows.append((label, NAMES.get(peer, peer), f"{value:.2f}", ratio))
            theirs = measured.get("onnxruntime", {}).get((sizes, dtype))
            if isinstance(ours, float) and isinstance(theirs, float):
                lines.append(verdict(f"{label} vs onnxruntime", theirs / ours, MUST[sizes]))
    out(f"{LABEL}: one-sample predict, median of {repeats} x {calls} calls after warm-up, "
        "every library single-threaded, each peer in a process of its own")
    for line in [*skipped, *columns(header, rows), "", *lines]:
        out(line)
