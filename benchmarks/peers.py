"""The peers: each builds, outside the timing, a function that runs one pass.

A pass is one SGD epoch over every sample (shuffled, in mini-batches) or, for
inference, the output probabilities of every sample, a batch at a time.  A peer
whose library is missing raises ImportError and the suite skips it.
"""
import warnings

import numpy as np

from benchmarks.workloads import LEARNING_RATE


def _batches(count, batch):
    return [slice(start, start + batch) for start in range(0, count, batch)]


def densecore(workload, X, labels):
    from densecore import Network

    net = Network.from_sizes(workload.sizes, dtype=workload.dtype, seed=0)
    if not workload.train:
        return lambda: [net.predict(X[rows]) for rows in _batches(len(X), workload.batch)]
    return lambda: net.fit(X, labels, epochs=1, batch_size=workload.batch,
                           learning_rate=LEARNING_RATE)


def numpy(workload, X, labels):
    """The spec's layer written in numpy, vectorised over a batch of rows."""
    rng = np.random.default_rng(0)
    sizes = workload.sizes
    weights = [(rng.standard_normal((n_out, n_in)) * np.sqrt(2 / n_in)).astype(X.dtype)
               for n_in, n_out in zip(sizes, sizes[1:])]
    biases = [np.zeros(n_out, X.dtype) for n_out in sizes[1:]]
    Y = np.eye(sizes[-1], dtype=X.dtype)[labels]

    def forward(x):
        signals, outs = [], [x]
        for W, b in zip(weights, biases):
            signals.append(outs[-1] @ W.T + b)
            outs.append(np.maximum(signals[-1], 0))
        z = signals[-1] - signals[-1].max(axis=1, keepdims=True)
        outs[-1] = np.exp(z)
        outs[-1] /= outs[-1].sum(axis=1, keepdims=True)
        return signals, outs

    def step(x, y):
        signals, outs = forward(x)
        delta = (outs[-1] - y) / len(x)  # cross-entropy through softmax
        for i in reversed(range(len(weights))):
            grad_W, grad_b = delta.T @ outs[i], delta.sum(axis=0)
            if i > 0:
                delta = (delta @ weights[i]) * (signals[i - 1] >= 0)
            weights[i] -= LEARNING_RATE * grad_W
            biases[i] -= LEARNING_RATE * grad_b

    def epoch():
        order = rng.permutation(len(X))
        for rows in _batches(len(X), workload.batch):
            step(X[order[rows]], Y[order[rows]])

    if not workload.train:
        return lambda: [forward(X[rows])[1][-1] for rows in _batches(len(X), workload.batch)]
    return epoch


def torch(workload, X, labels, wrap=None):
    """``wrap``, if given, wraps the model before the optimizer sees it (the
    data-parallel section's DistributedDataParallel)."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    layers = []
    for n_in, n_out in zip(workload.sizes, workload.sizes[1:]):
        layers += [nn.Linear(n_in, n_out), nn.ReLU()]
    model = nn.Sequential(*layers[:-1]).to(getattr(torch, workload.dtype))
    if wrap is not None:
        model = wrap(model)
    X, labels = torch.from_numpy(X), torch.from_numpy(labels)

    def infer():
        with torch.inference_mode():
            return [torch.softmax(model(X[rows]), dim=1)
                    for rows in _batches(len(X), workload.batch)]

    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)
    loss = nn.CrossEntropyLoss()

    def epoch():
        order = torch.randperm(len(X))
        for rows in _batches(len(X), workload.batch):
            optimizer.zero_grad()
            loss(model(X[order[rows]]), labels[order[rows]]).backward()
            optimizer.step()

    return epoch if workload.train else infer


def sklearn(workload, X, labels):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    # Clipped as the others clip it, without scikit-learn's warning.
    batch = min(workload.batch, len(X))
    model = MLPClassifier(hidden_layer_sizes=workload.sizes[1:-1], solver="sgd",
                          momentum=0, alpha=0, batch_size=batch,
                          learning_rate_init=LEARNING_RATE, max_iter=1, random_state=0)
    classes = np.arange(workload.sizes[-1])
    model.partial_fit(X[:batch], labels[:batch], classes=classes)
    if not workload.train:
        return lambda: [model.predict_proba(X[rows])
                        for rows in _batches(len(X), workload.batch)]

    def epoch():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.partial_fit(X, labels)

    return epoch


PEERS = {"densecore": densecore, "numpy": numpy, "torch": torch, "sklearn": sklearn}
