"""The dense kernels: the C-level API (see kernels.pxd) and their Python faces.

The ``cdef`` kernels check shapes and then run without the GIL.  The Python
functions ``forward``, ``backward``, ``gradients`` and ``loss`` allocate the
outputs and call them; they serve the Layer class and the tests.
"""
cimport densecore._core as core

import operator

import numpy as np

__all__ = ["Activation", "Loss", "Optimizer", "forward", "backward", "gradients", "loss",
           "update", "CLIP_EPSILON", "FLOAT_DTYPES", "LEAKY_SLOPE"]

# The kernels' constants and dtypes, for the Python layer's numpy twins.
LEAKY_SLOPE = core.LEAKY_SLOPE
CLIP_EPSILON = core.CLIP_EPSILON
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


cdef inline int _same(const char* what, Py_ssize_t expected, Py_ssize_t got) except -1 nogil:
    if expected != got:
        with gil:
            raise ValueError(f"{what.decode()}: expected {expected}, got {got}")
    return 0


cdef inline int _layer_sizes(Py_ssize_t n_out, Py_ssize_t n_in) except -1 nogil:
    if n_out < 1 or n_in < 1:
        with gil:
            raise ValueError(f"W must have at least one row and one column, "
                             f"got shape ({n_out}, {n_in})")
    return 0


cdef inline int _codes(int loss, int activation) except -1 nogil:
    if not (core.known_loss(loss) and core.known_activation(activation)):
        with gil:
            raise ValueError(f"unknown loss or activation code: loss={loss}, "
                             f"activation={activation}")
    return 0


cdef int dense_forward(const floating[:, ::1] x, const floating[:, ::1] W,
                       const floating[::1] b, floating[:, ::1] signal,
                       floating[:, ::1] out, int activation) except -1 nogil:
    _layer_sizes(W.shape[0], W.shape[1])
    _same(b"x.shape[1] against W.shape[1] (inputs)", W.shape[1], x.shape[1])
    _same(b"b.shape[0] against W.shape[0] (outputs)", W.shape[0], b.shape[0])
    _same(b"signal.shape[0] against x.shape[0] (batch)", x.shape[0], signal.shape[0])
    _same(b"signal.shape[1] against W.shape[0] (outputs)", W.shape[0], signal.shape[1])
    _same(b"out.shape[0] against x.shape[0] (batch)", x.shape[0], out.shape[0])
    _same(b"out.shape[1] against W.shape[0] (outputs)", W.shape[0], out.shape[1])
    _codes(MSE, activation)
    if x.shape[0] > 0:
        core.forward(&x[0, 0], &W[0, 0], &b[0], &signal[0, 0], &out[0, 0],
                     x.shape[0], W.shape[1], W.shape[0], activation)
    return 0


cdef int dense_backward(const floating[:, ::1] delta_next, const floating[:, ::1] W_next,
                        const floating[:, ::1] signal, floating[:, ::1] delta,
                        int activation) except -1 nogil:
    _layer_sizes(W_next.shape[0], W_next.shape[1])
    _same(b"delta_next.shape[1] against W_next.shape[0]", W_next.shape[0],
          delta_next.shape[1])
    _same(b"signal.shape[1] against W_next.shape[1]", W_next.shape[1], signal.shape[1])
    _same(b"signal.shape[0] against delta_next.shape[0] (batch)", delta_next.shape[0],
          signal.shape[0])
    _same(b"delta.shape[0] against delta_next.shape[0] (batch)", delta_next.shape[0],
          delta.shape[0])
    _same(b"delta.shape[1] against W_next.shape[1]", W_next.shape[1], delta.shape[1])
    _codes(MSE, activation)
    if delta.shape[0] > 0:
        core.backward(&delta_next[0, 0], &W_next[0, 0], &signal[0, 0], &delta[0, 0],
                      delta.shape[0], delta.shape[1], delta_next.shape[1], activation, NULL)
    return 0


cdef int dense_gradients(const floating[:, ::1] x, const floating[:, ::1] delta,
                         floating[:, ::1] grad_W, floating[::1] grad_b) except -1 nogil:
    _layer_sizes(grad_W.shape[0], grad_W.shape[1])
    _same(b"delta.shape[0] against x.shape[0] (batch)", x.shape[0], delta.shape[0])
    _same(b"delta.shape[1] against grad_W.shape[0]", grad_W.shape[0], delta.shape[1])
    _same(b"x.shape[1] against grad_W.shape[1]", grad_W.shape[1], x.shape[1])
    _same(b"grad_b.shape[0] against grad_W.shape[0]", grad_W.shape[0], grad_b.shape[0])
    # With no rows, the product's inner size is 0 and it writes zeros.
    core.accumulate_gradients(&x[0, 0] if x.shape[0] else NULL,
                              &delta[0, 0] if x.shape[0] else NULL,
                              x.shape[0], x.shape[1], delta.shape[1], 1, 0,
                              &grad_W[0, 0], &grad_b[0])
    return 0


cdef inline int _loss_arguments(int loss, int activation, const floating[:, ::1] signal,
                                const floating[:, ::1] out, const floating[:, ::1] target,
                                floating[:, ::1] delta) except -1 nogil:
    cdef int axis
    for axis in range(2):
        _same(b"out.shape against signal.shape", signal.shape[axis], out.shape[axis])
        _same(b"target.shape against signal.shape", signal.shape[axis],
              target.shape[axis])
        _same(b"delta.shape against signal.shape", signal.shape[axis], delta.shape[axis])
    _codes(loss, activation)
    return 0


cdef double loss_gradient(int loss, int activation, const floating[:, ::1] signal,
                          const floating[:, ::1] out, const floating[:, ::1] target,
                          floating[:, ::1] delta) except? -1 nogil:
    _loss_arguments(loss, activation, signal, out, target, delta)
    if signal.shape[0] == 0 or signal.shape[1] == 0:
        return 0
    return core.loss_gradient(loss, activation, &signal[0, 0], &out[0, 0],
                              &target[0, 0], NULL, &delta[0, 0], signal.shape[0],
                              signal.shape[1])


cdef double weighted_loss_gradient(int loss, int activation, const floating[:, ::1] signal,
                                   const floating[:, ::1] out, const floating[:, ::1] target,
                                   const floating[::1] weight,
                                   floating[:, ::1] delta) except? -1 nogil:
    _loss_arguments(loss, activation, signal, out, target, delta)
    _same(b"weight.shape[0] against signal.shape[0] (batch)", signal.shape[0],
          weight.shape[0])
    if signal.shape[0] == 0 or signal.shape[1] == 0:
        return 0
    return core.loss_gradient(loss, activation, &signal[0, 0], &out[0, 0],
                              &target[0, 0], &weight[0], &delta[0, 0], signal.shape[0],
                              signal.shape[1])


cdef int optimizer_update(int optimizer, floating[::1] param, const floating[::1] grad,
                          floating[::1] slot_1, floating[::1] slot_2,
                          double learning_rate, double alpha, double scale,
                          double beta_1, double beta_2, double epsilon, bint nesterov,
                          long step) except -1 nogil:
    _same(b"grad.shape[0] against param.shape[0]", param.shape[0], grad.shape[0])
    if optimizer == ADAM or optimizer == ADAMW or beta_1 != 0:
        _same(b"slot_1.shape[0] against param.shape[0]", param.shape[0], slot_1.shape[0])
    if optimizer == ADAM or optimizer == ADAMW:
        _same(b"slot_2.shape[0] against param.shape[0]", param.shape[0], slot_2.shape[0])
        if step < 1:
            _same(b"Adam's step must be at least 1; smallest", 1, step)
    elif optimizer != SGD:
        _same(b"optimizer code out of range, largest", ADAMW, optimizer)
    if param.shape[0] > 0:
        core.optimizer_update(optimizer, &param[0], &grad[0],
                              &slot_1[0] if slot_1.shape[0] else NULL,
                              &slot_2[0] if slot_2.shape[0] else NULL,
                              param.shape[0], learning_rate, alpha, scale, beta_1,
                              beta_2, epsilon, nesterov, step)
    return 0


# -- Python faces -----------------------------------------------------------
#
# Each checks its arrays in Python, so that a wrong dtype, layout or code
# raises an error naming what was expected and what was given, and then calls
# a fused ``_name`` twin that allocates the outputs and runs the kernel.

def _check_arrays(ndims, writable=(), **arrays):
    """Arrays of one float dtype, C-contiguous, of the given dimensions."""
    first = None
    for (name, value), ndim in zip(arrays.items(), ndims):
        if not isinstance(value, np.ndarray):
            raise TypeError(f"{name} must be a numpy array, got {type(value).__name__}")
        if value.dtype not in FLOAT_DTYPES:
            raise TypeError(f"{name} must be float32 or float64, got {value.dtype}")
        if first is not None and value.dtype != arrays[first].dtype:
            raise TypeError(f"{name} must be {arrays[first].dtype} like {first} (the kernels "
                            f"take one dtype throughout), got {value.dtype}")
        if value.ndim != ndim:
            raise ValueError(f"{name} must be {ndim}-D, got shape {value.shape}")
        if not value.flags.c_contiguous:
            raise ValueError(f"{name} must be C-contiguous, got strides {value.strides} "
                             f"for shape {value.shape} (see numpy.ascontiguousarray)")
        if name in writable and not value.flags.writeable:
            raise ValueError(f"{name} must be writable (it is updated in place), "
                             "got a read-only array")
        first = first or name


def _check_code(value, name, enum):
    try:
        code = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer code, got {value!r}") from None
    if code not in {int(member) for member in enum}:
        raise ValueError(f"{name} must be one of {[f'{m.name}={int(m)}' for m in enum]}, "
                         f"got {code}")
    return code


def forward(x, W, b, activation):
    """Return ``(signal, out)`` for the rows of ``x``: ``x @ W.T + b`` and its activation."""
    _check_arrays((2, 2, 1), x=x, W=W, b=b)
    return _forward(x, W, b, _check_code(activation, "activation", Activation))


def backward(delta_next, W_next, signal, activation):
    """Return ``(delta_next @ W_next) * activation'(signal)``."""
    _check_arrays((2, 2, 2), delta_next=delta_next, W_next=W_next, signal=signal)
    return _backward(delta_next, W_next, signal, _check_code(activation, "activation", Activation))


def gradients(x, delta):
    """Return ``(grad_W, grad_b)``: ``delta.T @ x`` and ``delta`` summed over rows."""
    _check_arrays((2, 2), x=x, delta=delta)
    return _gradients(x, delta)


def loss(loss_code, activation, signal, out, target, weight=None):
    """Return ``(total, delta)``: the summed per-sample loss and d(mean loss)/d(signal).

    With ``weight`` (one per row), each sample's loss counts ``weight`` times and
    the mean is the weighted mean (``weighted_loss_gradient``).
    """
    codes = (_check_code(loss_code, "loss_code", Loss),
             _check_code(activation, "activation", Activation))
    if weight is None:
        _check_arrays((2, 2, 2), signal=signal, out=out, target=target)
        return _loss(*codes, signal, out, target)
    _check_arrays((2, 2, 2, 1), signal=signal, out=out, target=target, weight=weight)
    return _weighted_loss(*codes, signal, out, target, weight)


def update(optimizer, param, grad, slot_1, slot_2, learning_rate, alpha=0.0, scale=1.0,
           beta_1=0.0, beta_2=0.0, epsilon=0.0, nesterov=False, step=1):
    """Apply one optimizer step to ``param`` (and its slots) in place.

    See ``optimizer_update`` in kernels.pxd for the meaning of each argument.
    """
    _check_arrays((1, 1, 1, 1), ("param", "slot_1", "slot_2"), param=param, grad=grad,
                  slot_1=slot_1, slot_2=slot_2)
    _update(_check_code(optimizer, "optimizer", Optimizer), param, grad, slot_1, slot_2,
            learning_rate, alpha, scale, beta_1, beta_2, epsilon, nesterov, step)


cdef inline object _dtype(floating tag):
    return np.float32 if floating is float else np.float64


def _forward(const floating[:, ::1] x, const floating[:, ::1] W,
             const floating[::1] b, int activation):
    signal = np.empty((x.shape[0], W.shape[0]), dtype=_dtype(<floating>0))
    out = np.empty_like(signal)
    cdef floating[:, ::1] signal_view = signal, out_view = out
    with nogil:
        dense_forward(x, W, b, signal_view, out_view, activation)
    return signal, out


def _backward(const floating[:, ::1] delta_next, const floating[:, ::1] W_next,
              const floating[:, ::1] signal, int activation):
    delta = np.empty((signal.shape[0], signal.shape[1]), dtype=_dtype(<floating>0))
    cdef floating[:, ::1] delta_view = delta
    with nogil:
        dense_backward(delta_next, W_next, signal, delta_view, activation)
    return delta


def _gradients(const floating[:, ::1] x, const floating[:, ::1] delta):
    grad_W = np.empty((delta.shape[1], x.shape[1]), dtype=_dtype(<floating>0))
    grad_b = np.empty(delta.shape[1], dtype=grad_W.dtype)
    cdef floating[:, ::1] grad_W_view = grad_W
    cdef floating[::1] grad_b_view = grad_b
    with nogil:
        dense_gradients(x, delta, grad_W_view, grad_b_view)
    return grad_W, grad_b


def _loss(int loss_code, int activation, const floating[:, ::1] signal,
          const floating[:, ::1] out, const floating[:, ::1] target):
    delta = np.empty((signal.shape[0], signal.shape[1]), dtype=_dtype(<floating>0))
    cdef floating[:, ::1] delta_view = delta
    cdef double total
    with nogil:
        total = loss_gradient(loss_code, activation, signal, out, target, delta_view)
    return total, delta


def _weighted_loss(int loss_code, int activation, const floating[:, ::1] signal,
                   const floating[:, ::1] out, const floating[:, ::1] target,
                   const floating[::1] weight):
    delta = np.empty((signal.shape[0], signal.shape[1]), dtype=_dtype(<floating>0))
    cdef floating[:, ::1] delta_view = delta
    cdef double total
    with nogil:
        total = weighted_loss_gradient(loss_code, activation, signal, out, target, weight,
                                       delta_view)
    return total, delta


def _update(int optimizer, floating[::1] param, const floating[::1] grad,
            floating[::1] slot_1, floating[::1] slot_2, double learning_rate,
            double alpha, double scale, double beta_1, double beta_2, double epsilon,
            bint nesterov, long step):
    with nogil:
        optimizer_update(optimizer, param, grad, slot_1, slot_2, learning_rate, alpha,
                         scale, beta_1, beta_2, epsilon, nesterov, step)
