"""Plain numpy versions of densecore's math, written independently of it.

Samples are rows.  These are the twins the compiled kernels are checked against.
"""
import numpy as np

LEAKY_SLOPE = 0.01


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


ACTIVATIONS = {
    "identity": lambda z: z,
    "relu": lambda z: np.maximum(z, 0),
    "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
    "tanh": np.tanh,
    "leaky_relu": lambda z: np.where(z >= 0, z, LEAKY_SLOPE * z),
    "softmax": softmax,
    # One piece is 0 on each side of 0: z + 0 above, 0 + expm1(z) below.
    "elu": lambda z: np.maximum(z, 0) + np.expm1(np.minimum(z, 0)),
    "exp": np.exp,
}

ELEMENTWISE_DERIVATIVES = {
    "identity": lambda z: np.ones_like(z),
    "relu": lambda z: (z >= 0).astype(z.dtype),
    "sigmoid": lambda z: ACTIVATIONS["sigmoid"](z) * (1 - ACTIVATIONS["sigmoid"](z)),
    "tanh": lambda z: 1 - np.tanh(z) ** 2,
    "leaky_relu": lambda z: np.where(z >= 0, 1.0, LEAKY_SLOPE).astype(z.dtype),
    "elu": lambda z: np.exp(np.minimum(z, 0)),
    "exp": np.exp,
}


def activation_backward(name, z, g):
    """g times the activation's Jacobian at z, row by row."""
    if name != "softmax":
        return g * ELEMENTWISE_DERIVATIVES[name](z)
    s = softmax(z)
    jacobians = np.einsum("bi,ij->bij", s, np.eye(z.shape[1])) - np.einsum("bi,bj->bij", s, s)
    return np.einsum("bj,bji->bi", g, jacobians)


def loss_and_delta(loss, output_activation, z, y, weight=None):
    """(summed per-sample loss, d(mean loss)/dz) with scikit-learn's conventions; with
    ``weight``, each sample's loss counts so many times and the mean is weighted."""
    n, k = z.shape
    w = np.ones(n) if weight is None else np.asarray(weight, dtype=np.float64)
    a = ACTIVATIONS[output_activation](z)
    if loss == "mse":
        per_sample = 0.5 * np.sum((a - y) ** 2, axis=1) / k
        delta = activation_backward(output_activation, z, (a - y) * w[:, None] / (w.sum() * k))
    elif loss == "poisson":
        per_sample = np.sum(np.where(y > 0, y * np.log(np.where(y > 0, y, 1) / a), 0) - y + a,
                            axis=1)
        delta = (a - y) * w[:, None] / w.sum()
    elif loss == "cross_entropy":
        per_sample = -np.sum(y * np.log(a), axis=1)
        delta = (a * y.sum(axis=1, keepdims=True) - y) * w[:, None] / w.sum()
    else:
        per_sample = -np.sum(y * np.log(a) + (1 - y) * np.log(1 - a), axis=1)
        delta = (a - y) * w[:, None] / w.sum()
    return float(np.dot(w, per_sample)), delta


def sgd_step(weights, biases, activation_names, loss, x, y, learning_rate):
    """The spec's algorithm on one batch: forward, deltas layer by layer, update."""
    inputs, signals = [x], []
    for W, b, name in zip(weights, biases, activation_names):
        signals.append(inputs[-1] @ W.T + b)
        inputs.append(ACTIVATIONS[name](signals[-1]))
    total, delta = loss_and_delta(loss, activation_names[-1], signals[-1], y)
    for i in reversed(range(len(weights))):
        grad_W, grad_b = delta.T @ inputs[i], delta.sum(axis=0)
        if i > 0:
            delta = activation_backward(activation_names[i - 1], signals[i - 1],
                                        delta @ weights[i])
        weights[i] = weights[i] - learning_rate * grad_W
        biases[i] = biases[i] - learning_rate * grad_b
    return total


def random_targets(loss, rng, n, k):
    """Labels for cross-entropy, 0/1 targets for binary cross-entropy, counts for
    poisson, reals for mse."""
    if loss == "cross_entropy":
        return rng.integers(0, k, n)
    if loss == "binary_cross_entropy":
        return rng.integers(0, 2, (n, k))
    if loss == "poisson":
        return rng.poisson(1.0, (n, k)).astype(float)
    return rng.standard_normal((n, k))
