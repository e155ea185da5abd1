"""The training epoch in C: batch gather, forward, loss, backward and SGD update.

``Trainer`` is built once per ``fit``: it allocates every buffer a step needs
(as numpy arrays, owned here) and points a C array of layer records at them and
at the network's own parameters, which it updates in place.  ``epoch`` then
runs every mini-batch of one pass without the GIL and without allocating.
"""
from cpython.mem cimport PyMem_Calloc, PyMem_Free
from cython cimport floating
from libc.string cimport memcpy
cimport densecore._core as core

import numpy as np


cdef struct DenseLayer:
    # void* so that one record serves float and double networks.
    void* W
    void* b
    void* signal
    void* out
    void* delta
    int n_in
    int n_out
    int activation


cdef void _gather(const floating* source, floating* batch, const Py_ssize_t* rows,
                  Py_ssize_t count, Py_ssize_t width) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(count):
        memcpy(batch + i * width, source + rows[i] * width, width * sizeof(floating))


cdef double _step(DenseLayer* layers, int n_layers, int loss, const floating* x,
                  const floating* target, int rows, floating learning_rate) noexcept nogil:
    """One SGD step on one batch; returns the batch's summed loss."""
    cdef int i
    cdef DenseLayer* layer
    cdef const floating* layer_input = x
    cdef double total
    for i in range(n_layers):
        layer = &layers[i]
        core.forward(layer_input, <floating*>layer.W, <floating*>layer.b,
                     <floating*>layer.signal, <floating*>layer.out, rows,
                     layer.n_in, layer.n_out, layer.activation)
        layer_input = <floating*>layer.out
    layer = &layers[n_layers - 1]
    total = core.loss_gradient(loss, layer.activation, <floating*>layer.signal,
                               <floating*>layer.out, target, <floating*>layer.delta,
                               rows, layer.n_out)
    for i in range(n_layers - 1, -1, -1):
        layer = &layers[i]
        # The previous layer's delta needs this layer's weights before the update.
        if i > 0:
            core.backward(<floating*>layer.delta, <floating*>layer.W,
                          <floating*>layers[i - 1].signal, <floating*>layers[i - 1].delta,
                          rows, layer.n_in, layer.n_out, layers[i - 1].activation)
        layer_input = x if i == 0 else <floating*>layers[i - 1].out
        core.accumulate_gradients(layer_input, <floating*>layer.delta, rows, layer.n_in,
                                  layer.n_out, -learning_rate, 1,
                                  <floating*>layer.W, <floating*>layer.b)
    return total


cdef double _epoch(DenseLayer* layers, int n_layers, int loss,
                   const floating[:, ::1] X, const floating[:, ::1] Y,
                   const Py_ssize_t[::1] order, floating[:, ::1] x_batch,
                   floating[:, ::1] y_batch, floating learning_rate) noexcept nogil:
    cdef Py_ssize_t rows, start = 0, n = order.shape[0], batch_size = x_batch.shape[0]
    cdef double total = 0
    while start < n:
        rows = min(batch_size, n - start)
        _gather(&X[0, 0], &x_batch[0, 0], &order[start], rows, X.shape[1])
        _gather(&Y[0, 0], &y_batch[0, 0], &order[start], rows, Y.shape[1])
        total += _step(layers, n_layers, loss, &x_batch[0, 0], &y_batch[0, 0],
                       <int>rows, learning_rate)
        start += rows
    return total


cdef class Trainer:
    """Buffers and layer records for SGD on one network, built once per fit.

    Parameters
    ----------
    weights, biases : lists of C-contiguous float32 or float64 arrays
        Each layer's ``W`` (out, in) and ``b`` (out,), updated in place.
    activations : list of int
        Each layer's activation code.
    loss : int
        The loss code.
    n_targets : int
        Columns of the target matrix.
    batch_size : int
        Rows of the largest mini-batch.
    """
    cdef DenseLayer* layers
    cdef int n_layers
    cdef int loss
    cdef object dtype
    cdef list buffers
    cdef object x_batch, y_batch

    def __cinit__(self, list weights, list biases, list activations, int loss,
                  Py_ssize_t n_targets, Py_ssize_t batch_size):
        self.n_layers = len(weights)
        self.layers = <DenseLayer*>PyMem_Calloc(self.n_layers, sizeof(DenseLayer))
        if self.layers == NULL:
            raise MemoryError()
        self.loss = loss
        self.dtype = weights[0].dtype
        self.buffers = list(weights) + list(biases)
        self.x_batch = np.zeros((batch_size, weights[0].shape[1]), self.dtype)
        self.y_batch = np.zeros((batch_size, n_targets), self.dtype)
        for i, (W, b, activation) in enumerate(zip(weights, biases, activations)):
            self._attach(i, W, b, activation, batch_size)

    cdef _attach(self, int i, W, b, int activation, Py_ssize_t batch_size):
        signal, out, delta = (np.zeros((batch_size, W.shape[0]), self.dtype)
                              for _ in range(3))
        self.buffers += [signal, out, delta]
        cdef DenseLayer* layer = &self.layers[i]
        layer.W = _address(W)
        layer.b = _address(b)
        layer.signal = _address(signal)
        layer.out = _address(out)
        layer.delta = _address(delta)
        layer.n_out, layer.n_in = W.shape
        layer.activation = activation

    def __dealloc__(self):
        PyMem_Free(self.layers)

    def epoch(self, const floating[:, ::1] X, const floating[:, ::1] Y,
              const Py_ssize_t[::1] order, floating learning_rate):
        """Run one SGD pass over ``X[order]``; return the summed per-sample loss."""
        cdef floating[:, ::1] x_batch = self.x_batch, y_batch = self.y_batch
        cdef double total
        with nogil:
            total = _epoch(self.layers, self.n_layers, self.loss, X, Y, order,
                           x_batch, y_batch, learning_rate)
        return total


cdef void* _address(array) except NULL:
    """The data pointer of a C-contiguous float32 or float64 array."""
    return <void*><size_t>array.ctypes.data
