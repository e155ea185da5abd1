"""Checks users run on their own models.

:func:`check_gradients` compares the gradient densecore computes for a network
(its compiled kernels, or numpy for Python-callable activations) with central
differences of its loss: the check a user's own activation and its derivative
should pass before they train with it.
"""
import numpy as np

from densecore import _layout, optimizers, training
from densecore._validation import finite_number, sample_weights

__all__ = ["check_gradients"]


def check_gradients(network, X, y, *, sample_weight=None, step=1e-6, atol=1e-12):
    """The relative error of each parameter's analytic gradient against central
    differences of the network's mean loss on ``(X, y)``: one error for each
    layer's weights and one for its bias.

    Parameters
    ----------
    network : densecore.Network
        Left as it was: its parameters are moved by ``step`` and put back, and
        its optimizer state is not touched.
    X, y : array-like
        Samples and targets, as :meth:`Network.fit` takes them.
    sample_weight : array-like of shape (n_samples,), optional
        Checks the weighted mean loss.
    step : float, default 1e-6
        The central differences' step; a float64 network gives meaningful
        errors, a float32 one only coarse ones.
    atol : float, default 1e-12
        The smallest denominator, for a parameter whose gradients are both 0.

    Returns
    -------
    ndarray of shape (2 * n_layers,)
        ``||analytic - numeric|| / max(||analytic|| + ||numeric||, atol)`` for
        W0, b0, W1, b1, ... (Euclidean norms over each array).  Errors around
        1e-7 and below mean the two agree; a wrong derivative gives errors
        near 1.

    Examples
    --------
    >>> import numpy as np
    >>> from densecore import Layer, Network
    >>> from densecore.testing import check_gradients
    >>> def softsign(z): return z / (1 + np.abs(z))
    >>> def softsign_derivative(z): return 1 / (1 + np.abs(z)) ** 2
    >>> net = Network([Layer(4, 3, softsign, softsign_derivative, init="glorot", rng=0),
    ...                Layer(2, 4, "softmax", init="glorot", rng=1)])
    >>> X = np.random.default_rng(0).standard_normal((8, 3))
    >>> errors = check_gradients(net, X, np.arange(8) % 2)
    >>> errors.shape, bool(errors.max() < 1e-6)
    ((4,), True)
    """
    step = finite_number(step, "step", minimum=0, open_interval=True)
    atol = finite_number(atol, "atol", minimum=0, open_interval=True)
    parameters = network.parameters
    # A session with an optimizer state of its own: the network's stays as it was.
    session = network.training_session(
        min(max(np.shape(X)[0], 1), training.FULL_BATCH_ROWS), rollback=False,
        optimizer_state=optimizers.State("lbfgs", parameters.size, parameters.dtype))
    X, Y = session.data(X, y)
    weight = sample_weights(sample_weight, X.shape[0], parameters.dtype)
    analytic = session.loss_gradient(X, Y, weight)[1].astype(np.float64)
    numeric = np.empty_like(analytic)
    for i in range(parameters.size):
        saved = parameters[i]
        parameters[i] = saved + step
        above = session.loss_gradient(X, Y, weight)[0]
        parameters[i] = saved - step
        below = session.loss_gradient(X, Y, weight)[0]
        parameters[i] = saved
        numeric[i] = (above - below) / (2 * step)
    errors = []
    for (a_W, a_b), (n_W, n_b) in zip(_layout.layer_views(analytic, network.sizes),
                                      _layout.layer_views(numeric, network.sizes)):
        for a, n in ((a_W, n_W), (a_b, n_b)):
            errors.append(np.linalg.norm(a - n)
                          / max(np.linalg.norm(a) + np.linalg.norm(n), atol))
    return np.array(errors)
