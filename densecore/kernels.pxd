# densecore's C-level API, for other Cython code:
#
#     from densecore.kernels cimport dense_forward, RELU
#
# Layouts: a batch is rows, (batch, features), C-contiguous; W is (out, in) and
# b is (out,), so that signal = x @ W.T + b.  Every kernel is fused over float
# and double and runs without the GIL.  Kernels that check shapes are
# ``except -1``: a mismatch raises ValueError (taking the GIL only to raise).
#
# This file is a promise.  Once released, a declaration here is never changed
# or removed and enum values never change: add, never edit.

from cython cimport floating

cpdef enum Activation:
    IDENTITY = 0
    RELU = 1
    SIGMOID = 2
    TANH = 3
    LEAKY_RELU = 4
    SOFTMAX = 5
    ELU = 6
    EXP = 7

cpdef enum Loss:
    MSE = 0
    CROSS_ENTROPY = 1
    BINARY_CROSS_ENTROPY = 2
    POISSON = 3

cpdef enum Optimizer:
    SGD = 0
    ADAM = 1
    ADAMW = 2

# signal = x @ W.T + b; out = activation(signal).  out may be signal itself.
cdef int dense_forward(const floating[:, ::1] x, const floating[:, ::1] W,
                       const floating[::1] b, floating[:, ::1] signal,
                       floating[:, ::1] out, int activation) except -1 nogil

# delta = (delta_next @ W_next) * activation'(signal), the chain rule through
# one layer (for SOFTMAX, the product with its Jacobian).
cdef int dense_backward(const floating[:, ::1] delta_next, const floating[:, ::1] W_next,
                        const floating[:, ::1] signal, floating[:, ::1] delta,
                        int activation) except -1 nogil

# grad_W = delta.T @ x; grad_b = delta summed over the batch.
cdef int dense_gradients(const floating[:, ::1] x, const floating[:, ::1] delta,
                         floating[:, ::1] grad_W, floating[::1] grad_b) except -1 nogil

# Returns the per-sample loss of the output layer summed over the batch,
# computed from its signal (the logits, for stability) and out, and writes
# delta = d(mean loss)/d(signal), where the backward pass starts.
cdef double loss_gradient(int loss, int activation, const floating[:, ::1] signal,
                          const floating[:, ::1] out, const floating[:, ::1] target,
                          floating[:, ::1] delta) except? -1 nogil

# One optimizer step on one parameter array, with PyTorch's formulas (see
# densecore/optimizers.py): the gradient used is scale * grad + alpha * param.
# SGD keeps its velocity in slot_1 (unused without momentum, which is beta_1);
# ADAM keeps its moments in slot_1 and slot_2, and step is t, counted from 1.
# ADAMW is ADAM with alpha as its decoupled weight decay: param is first
# multiplied by 1 - learning_rate * alpha, and the gradient is scale * grad.
# Unused slots may have any size.
cdef int optimizer_update(int optimizer, floating[::1] param, const floating[::1] grad,
                          floating[::1] slot_1, floating[::1] slot_2,
                          double learning_rate, double alpha, double scale,
                          double beta_1, double beta_2, double epsilon, bint nesterov,
                          long step) except -1 nogil

# loss_gradient with sample weights: returns sum_i weight_i * loss_i and writes
# delta = d(weighted mean loss)/d(signal), the mean dividing by the summed
# weight (scikit-learn's sample_weight).  weight has one entry per row.
cdef double weighted_loss_gradient(int loss, int activation, const floating[:, ::1] signal,
                                   const floating[:, ::1] out, const floating[:, ::1] target,
                                   const floating[::1] weight,
                                   floating[:, ::1] delta) except? -1 nogil
