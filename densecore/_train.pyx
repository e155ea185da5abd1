"""The training epoch in C: batch gather, forward, loss, backward and update.

``Trainer`` is built once per training session (densecore.training.Session):
it allocates the batch buffers a step needs (as numpy arrays, owned here) and
points a C array of layer records at them and at the views it is given of the
network's flat parameters, gradients and optimizer state, which it updates in
place.  ``epoch`` then runs every mini-batch of one pass without the GIL and
without allocating.

The first layer's input is dense rows or the rows of a CSR matrix
(``sparse_epoch``, ``sparse_loss_gradient``): a sparse batch is the rows of
the epoch's order, read in place by the CSR kernels of ``_core``, which
compute its forward product and its weight gradient; every later layer is
dense.  ``csr_forward`` is the same first-layer forward for prediction.

``Predictor`` is the serving path: its own signal/out buffers for a block of
rows, every layer's ``core.forward`` over the network's parameters in place,
any number of rows in blocks, without the GIL and without allocating.
"""
from cpython.mem cimport PyMem_Calloc, PyMem_Free
from cython cimport floating
from libc.limits cimport INT_MAX
from libc.math cimport sqrt
cimport numpy as cnp
cimport densecore._core as core
from densecore.kernels cimport BINARY_CROSS_ENTROPY, CROSS_ENTROPY

import numpy as np

cnp.import_array()


cdef struct DenseLayer:
    # void* so that one record serves float and double networks.
    void* W
    void* b
    void* signal
    void* out
    void* delta
    void* grad_W      # NULL where the update is fused into the backward pass
    void* grad_b
    void* slots[4]    # optimizer state: W's two slots, then b's (NULL if unused)
    int n_in
    int n_out
    int activation
    core.Dropout dropout  # its rate 0 where the layer drops nothing; step set per step


cdef struct Settings:
    int loss
    int optimizer
    double alpha
    bint l2_per_sample  # alpha over each batch's size, as scikit-learn
    bint alpha_on_biases  # AdamW's decoupled decay applies to the biases too
    double clip_norm
    void* gradients     # every gradient, flat (NULL when fused), for the clip norm
    Py_ssize_t n_parameters
    double beta_1
    double beta_2
    double epsilon
    bint nesterov
    bint fused        # plain SGD: W -= lr * delta.T @ x straight from the backward pass


cdef Py_ssize_t _argmax(const floating* row, int cols) noexcept nogil:
    cdef int j, best = 0
    for j in range(1, cols):
        if row[j] > row[best]:
            best = j
    return best


cdef double _correct(int loss, const floating* out, const floating* target,
                     const floating* weight, int rows, int cols) noexcept nogil:
    """Right answers in a batch, each counting its sample's weight (NULL: 1):
    samples for cross-entropy, outputs for binary."""
    cdef Py_ssize_t i, j
    cdef double count = 0
    cdef int right
    for i in range(rows):
        if loss == CROSS_ENTROPY:
            right = _argmax(out + i * cols, cols) == _argmax(target + i * cols, cols)
        elif loss == BINARY_CROSS_ENTROPY:
            right = 0
            for j in range(i * cols, (i + 1) * cols):
                right += (out[j] > 0.5) == (target[j] > 0.5)
        else:
            return 0
        count += right if weight == NULL else weight[i] * right
    return count


cdef void _update(DenseLayer* layers, int n_layers, const Settings* settings,
                  floating learning_rate, long step, double batch_weight) noexcept nogil:
    """Apply the optimizer to every parameter from the gradients of one step on a
    batch of ``batch_weight`` (its rows, or its summed sample weight)."""
    cdef int i
    cdef DenseLayer* layer
    cdef double norm, scale = 1
    cdef double alpha = settings.alpha / batch_weight if settings.l2_per_sample else settings.alpha
    if settings.clip_norm > 0:
        norm = core.sum_of_squares(<floating*>settings.gradients, settings.n_parameters)
        scale = min(1.0, settings.clip_norm / (sqrt(norm) + core.CLIP_EPSILON))
    for i in range(n_layers):
        layer = &layers[i]
        # L2 (alpha) applies to the weights only; a decoupled decay to both.
        core.optimizer_update(settings.optimizer, <floating*>layer.W,
                              <floating*>layer.grad_W, <floating*>layer.slots[0],
                              <floating*>layer.slots[1], <Py_ssize_t>layer.n_out * layer.n_in,
                              learning_rate, alpha, scale, settings.beta_1,
                              settings.beta_2, settings.epsilon, settings.nesterov, step)
        core.optimizer_update(settings.optimizer, <floating*>layer.b,
                              <floating*>layer.grad_b, <floating*>layer.slots[2],
                              <floating*>layer.slots[3], layer.n_out, learning_rate,
                              alpha if settings.alpha_on_biases else 0, scale, settings.beta_1, settings.beta_2, settings.epsilon,
                              settings.nesterov, step)


cdef double _forward_and_loss(DenseLayer* layers, int n_layers, const Settings* settings,
                              const floating* x, const core.CSRRows* csr,
                              const floating* target, const floating* weight,
                              int rows, bint drop, bint primed) noexcept nogil:
    """Forward one batch, the dense rows ``x`` or (``x`` NULL) the CSR rows ``csr``,
    and start the backward pass: returns its summed loss and leaves
    d(mean loss)/d(signal) in the last layer's delta.  With ``drop``, each layer's
    outputs go through its dropout mask (of the step in its record).  ``primed``:
    the first layer's signal and out already hold this batch's (see _epoch)."""
    cdef int i
    cdef DenseLayer* layer
    cdef const floating* layer_input = x
    for i in range(n_layers):
        layer = &layers[i]
        if i == 0 and x == NULL:
            core.csr_forward(csr, rows, <floating*>layer.W, <floating*>layer.b,
                             <floating*>layer.signal, <floating*>layer.out,
                             layer.n_in, layer.n_out, layer.activation)
        elif i > 0 or not primed:
            core.forward(layer_input, <floating*>layer.W, <floating*>layer.b,
                         <floating*>layer.signal, <floating*>layer.out, rows,
                         layer.n_in, layer.n_out, layer.activation)
        if drop and layer.dropout.rate > 0:
            core.dropout(&layer.dropout, <floating*>layer.out, <Py_ssize_t>rows * layer.n_out)
        layer_input = <floating*>layer.out
    layer = &layers[n_layers - 1]
    return core.loss_gradient(settings.loss, layer.activation, <floating*>layer.signal,
                              <floating*>layer.out, target, weight, <floating*>layer.delta,
                              rows, layer.n_out)


cdef void _backward(DenseLayer* layers, int n_layers, const floating* x,
                    const core.CSRRows* csr, int rows, floating scale, floating beta,
                    bint into_parameters, bint drop, floating* held) noexcept nogil:
    """Back-propagate the last layer's delta from the input ``x`` (dense) or ``csr``
    (``x`` NULL); each layer's gradients become ``scale * gradient + beta * themselves``,
    in its parameters themselves with ``into_parameters`` (a plain SGD step,
    scale = -learning_rate and beta = 1).  No delta is formed for the input.
    ``drop``: through the dropout masks of the forward pass, drawn again.
    ``held`` (a plain SGD step on one dense row; else NULL): the first layer's weight
    step scale * delta is held there, not taken (see densecore._core.hold_steps)."""
    cdef int i
    cdef DenseLayer* layer
    cdef const floating* layer_input
    cdef floating* grad_W
    cdef floating* grad_b
    cdef const core.Dropout* mask
    for i in range(n_layers - 1, -1, -1):
        layer = &layers[i]
        # The previous layer's delta needs this layer's weights before any update.
        if i > 0:
            mask = (&layers[i - 1].dropout if drop and layers[i - 1].dropout.rate > 0
                    else NULL)
            core.backward(<floating*>layer.delta, <floating*>layer.W,
                          <floating*>layers[i - 1].signal, <floating*>layers[i - 1].delta,
                          rows, layer.n_in, layer.n_out, layers[i - 1].activation, mask)
        grad_W = <floating*>(layer.W if into_parameters else layer.grad_W)
        grad_b = <floating*>(layer.b if into_parameters else layer.grad_b)
        if i == 0 and held != NULL:
            _hold_step(<floating*>layer.delta, scale, held, grad_b, layer.n_out)
        elif i == 0 and x == NULL:
            core.csr_accumulate_gradients(csr, rows, <floating*>layer.delta, layer.n_in,
                                          layer.n_out, scale, beta, grad_W, grad_b)
        else:
            layer_input = x if i == 0 else <floating*>layers[i - 1].out
            core.accumulate_gradients(layer_input, <floating*>layer.delta, rows,
                                      layer.n_in, layer.n_out, scale, beta, grad_W, grad_b)


cdef void _hold_step(const floating* delta, floating scale, floating* held, floating* b,
                     int n_out) noexcept nogil:
    """The first layer's plain SGD step on one sample: its weight step's delta part
    held (see densecore._core.hold_steps), its bias step taken."""
    cdef int j
    for j in range(n_out):
        held[j] = scale * delta[j]
        b[j] += held[j]


cdef double _step(DenseLayer* layers, int n_layers, const Settings* settings,
                  const floating* x, const core.CSRRows* csr, const floating* target,
                  const floating* weight, int rows, floating learning_rate,
                  long step, bint primed, floating* held) noexcept nogil:
    """One optimizer step on one batch, ``x`` or (``x`` NULL) ``csr`` (weighted by
    ``weight``, or NULL); returns the batch's summed loss.  Dropout masks are those
    of ``step``.  ``primed`` and ``held``: see _forward_and_loss and _backward."""
    cdef int i
    for i in range(n_layers):
        layers[i].dropout.step = step
    cdef double total = _forward_and_loss(layers, n_layers, settings, x, csr, target,
                                          weight, rows, True, primed)
    if settings.fused:
        _backward(layers, n_layers, x, csr, rows, -learning_rate, 1, True, True, held)
    else:
        _backward(layers, n_layers, x, csr, rows, 1, 0, False, True, NULL)
        _update(layers, n_layers, settings, learning_rate, step,
                rows if weight == NULL else core.sum_of(weight, rows))
    return total


cdef double _full_batch(DenseLayer* layers, int n_layers, const Settings* settings,
                        const floating* X, const core.CSRRows* csr,
                        const floating[:, ::1] Y, const floating* weight,
                        Py_ssize_t batch_size) noexcept nogil:
    """The summed (weighted) loss over every row of ``X`` (dense, as many rows as
    ``Y``) or, where ``csr`` is not NULL, of ``csr``, and the gradient of the
    (weighted) mean loss in the layers' gradients, a batch of rows at a time (no step
    is taken)."""
    cdef Py_ssize_t rows, start = 0, n = Y.shape[0], n_in = layers[0].n_in
    cdef double total = 0, share
    cdef double whole = n if weight == NULL else core.sum_of(weight, n)
    cdef const floating* x = NULL
    cdef core.CSRRows block
    if csr != NULL:
        block = csr[0]
        block.rows = NULL
    while start < n:
        rows = min(batch_size, n - start)
        if csr != NULL:
            block.first = start
        else:
            x = X + start * n_in
        total += _forward_and_loss(layers, n_layers, settings, x, &block, &Y[start, 0],
                                   NULL if weight == NULL else weight + start, <int>rows,
                                   False, False)
        # The batch's delta is of its own mean loss: weigh it by its share of the whole.
        share = rows if weight == NULL else core.sum_of(weight + start, rows)
        _backward(layers, n_layers, x, &block, <int>rows, <floating>(share / whole),
                  0 if start == 0 else 1, False, False, NULL)
        start += rows
    return total


cdef enum:
    # Samples per block of held-back first-layer steps (see densecore._core.hold_steps).
    # Online SGD on 784-128-10 float64, us per sample on a loaded 2-core Zen 4: 12.6
    # at 4, 11.6 at 8, 14.0 at 16.  Without blocks, 20.5.
    ONLINE_BLOCK = 8


cdef struct HeldBlock:
    # Online plain SGD's block of samples, gathered into x_batch, whose first-layer
    # steps are held back: the buffers of densecore._core.hold_steps.
    void* products
    void* gram
    void* steps
    int count


cdef void _next_block(const DenseLayer* layer, const floating* X, const Py_ssize_t* rows,
                      int count, floating* x_batch, HeldBlock* block) noexcept nogil:
    """Take the steps held for the block in ``x_batch``, then gather the ``count`` rows
    ``rows`` of ``X`` there and start holding theirs."""
    cdef floating* W = <floating*>layer.W
    core.apply_held_steps(x_batch, <floating*>block.steps, block.count, W, layer.n_in,
                          layer.n_out)
    core.gather_rows(X, rows, count, layer.n_in, x_batch)
    core.hold_steps(x_batch, count, W, <floating*>block.products, <floating*>block.gram,
                    <floating*>block.steps, layer.n_in, layer.n_out)
    block.count = count


cdef double _epoch(DenseLayer* layers, int n_layers, const Settings* settings,
                   const floating* X, const core.CSRRows* csr, const floating[:, ::1] Y,
                   const floating* weight, const Py_ssize_t[::1] order,
                   floating* x_batch, HeldBlock* block, floating[:, ::1] y_batch,
                   floating[:, ::1] w_batch, floating learning_rate, long* step,
                   double* correct, double* weight_sum) noexcept nogil:
    """One pass over the rows ``order`` of ``X`` (dense, gathered into ``x_batch``) or,
    where ``csr`` is not NULL, of ``csr`` (read in place: a batch is a stretch of
    ``order``).  Online plain SGD on dense rows, given a ``block`` (else NULL), holds
    the first layer's weight steps back over blocks of samples (see
    densecore._core.hold_steps): its weights are up to date at the end only."""
    cdef Py_ssize_t rows, start = 0, n = order.shape[0], batch_size = y_batch.shape[0]
    cdef DenseLayer* first_layer = &layers[0]
    cdef DenseLayer* last = &layers[n_layers - 1]
    cdef const floating* batch_weight = NULL if weight == NULL else &w_batch[0, 0]
    cdef double total = 0
    cdef bint online = settings.fused and block != NULL and csr == NULL and batch_size == 1
    cdef const floating* x = x_batch
    cdef floating* held = NULL
    cdef Py_ssize_t first = 0  # online: the block's first sample, a position in order
    cdef int sample = 0        # online: the sample's place in its block
    cdef core.CSRRows batch
    if csr != NULL:
        batch = csr[0]
        x = NULL  # the first layer reads the CSR rows
    if online:
        block.count = 0
    while start < n:
        rows = min(batch_size, n - start)
        if online:
            if start == first + block.count:
                first = start
                _next_block(first_layer, X, &order[start],
                            <int>min(<Py_ssize_t>ONLINE_BLOCK, n - start), x_batch, block)
            sample = <int>(start - first)
            x = x_batch + sample * first_layer.n_in
            held = <floating*>block.steps + sample * first_layer.n_out
        elif csr != NULL:
            batch.rows = &order[start]
        else:
            core.gather_rows(X, &order[start], rows, first_layer.n_in, x_batch)
        core.gather_rows(&Y[0, 0], &order[start], rows, Y.shape[1], &y_batch[0, 0])
        if weight != NULL:
            core.gather_rows(weight, &order[start], rows, 1, &w_batch[0, 0])
            if core.sum_of(batch_weight, rows) == 0:  # nothing to learn from: no step
                start += rows
                continue
        weight_sum[0] += rows if weight == NULL else core.sum_of(batch_weight, rows)
        step[0] += 1
        if online:
            core.held_forward(sample, <floating*>block.products, <floating*>block.gram,
                              <floating*>block.steps, block.count,
                              <floating*>first_layer.b, <floating*>first_layer.signal,
                              <floating*>first_layer.out, first_layer.n_out,
                              first_layer.activation)
        total += _step(layers, n_layers, settings, x, &batch, &y_batch[0, 0],
                       batch_weight, <int>rows, learning_rate, step[0], online, held)
        # Scored on the outputs of the forward pass, before this step's update.
        correct[0] += _correct(settings.loss, <floating*>last.out, &y_batch[0, 0],
                               batch_weight, <int>rows, last.n_out)
        start += rows
    if online:
        core.apply_held_steps(x_batch, <floating*>block.steps, block.count,
                              <floating*>first_layer.W, first_layer.n_in, first_layer.n_out)
    return total


cdef void* _address(array) except NULL:
    """The data pointer of a C-contiguous float32 or float64 array."""
    return <void*><size_t>array.ctypes.data


cdef class Trainer:
    """Buffers and layer records for training one network, built once per session.

    Parameters
    ----------
    layers : list of tuples ``(W, b, activation, grad_W, grad_b, W_slots, b_slots)``
        Per layer: ``W`` (out, in) and ``b`` (out,), C-contiguous float32 or
        float64 arrays updated in place; the activation code; the arrays its
        gradients go to (None when ``gradients`` is None); the optimizer state
        of ``W`` and of ``b``, one array per slot, updated in place.
    loss : int
        The loss code.
    n_targets, batch_size : int
        Columns of the target matrix; rows of the largest mini-batch.
    optimizer : int
        The optimizer code.
    hyper_parameters : (beta_1, beta_2, epsilon, nesterov)
        For SGD, beta_1 is the momentum.
    alpha : float
        L2 penalty on the weights.
    l2_per_sample : bool
        Whether ``alpha`` is divided by each batch's size.
    alpha_on_biases : bool
        Whether ``alpha`` applies to the biases too (AdamW's decoupled decay).
    clip_norm : float
        The largest global gradient norm (0: none).
    gradients : 1-D array or None
        Every ``grad_W`` and ``grad_b`` is a view into it.  None fuses plain
        SGD into the backward pass (no momentum, alpha or clip_norm).
    dropout : sequence of float, optional
        Each layer's dropout rate in [0, 1) (default: none), applied in
        ``epoch`` and ``sparse_epoch`` only, never in the full batch.
    seed : int
        The 64-bit key of the dropout masks; a step's masks are keyed by it,
        the step count and the layer (see ``densecore._core.Dropout``).

    ``step`` counts the optimizer steps; set it before an epoch to go on from
    an earlier one.
    """
    cdef DenseLayer* layers
    cdef int n_layers
    cdef Settings settings
    cdef object dtype
    cdef list buffers
    cdef Py_ssize_t batch_size
    cdef object x_batch, y_batch, w_batch
    cdef HeldBlock block       # online SGD's buffers, made with x_batch when batch_size is 1
    cdef void* own_parameters  # the start of the parameters it was built on: W0
    cdef object pointed
    cdef public long step

    def __cinit__(self, list layers, int loss, Py_ssize_t n_targets, Py_ssize_t batch_size,
                  int optimizer, hyper_parameters, double alpha, bint l2_per_sample,
                  bint alpha_on_biases, double clip_norm, gradients, dropout=None, seed=0):
        self.n_layers = len(layers)
        self.layers = <DenseLayer*>PyMem_Calloc(self.n_layers, sizeof(DenseLayer))
        if self.layers == NULL:
            raise MemoryError()
        beta_1, beta_2, epsilon, nesterov = hyper_parameters
        self.settings = Settings(loss, optimizer, alpha, l2_per_sample, alpha_on_biases,
                                 clip_norm, NULL, 0, beta_1, beta_2, epsilon, nesterov,
                                 gradients is None)
        self.step = 0
        self.dtype = layers[0][0].dtype
        self.buffers = [layers]
        if gradients is not None:
            self.buffers.append(gradients)
            self.settings.gradients = _address(gradients)
            self.settings.n_parameters = gradients.size
        self.batch_size = batch_size
        self.x_batch = None  # made by the first dense epoch: sparse input needs none
        self.y_batch = np.zeros((batch_size, n_targets), self.dtype)
        self.w_batch = np.zeros((batch_size, 1), self.dtype)
        rates = [0.0] * self.n_layers if dropout is None else list(dropout)
        if len(rates) != self.n_layers or not all(0 <= rate < 1 for rate in rates):
            raise ValueError(f"dropout must be {self.n_layers} rates in [0, 1), got {rates}")
        if not 0 <= seed < 2 ** 64:
            raise ValueError(f"seed must be an integer in [0, 2**64), got {seed}")
        for i, record in enumerate(layers):
            self._attach(i, record, batch_size)
            # Draws are counted in groups of four by a 32-bit word.
            if rates[i] and batch_size * self.layers[i].n_out >= 2 ** 34:
                raise ValueError(f"dropout needs batches of fewer than 2**34 outputs, got "
                                 f"{batch_size} x {self.layers[i].n_out} in layer {i}")
            self.layers[i].dropout = core.Dropout(rates[i], seed, 0, i)
        self.own_parameters = self.layers[0].W

    cdef _attach(self, int i, tuple record, Py_ssize_t batch_size):
        W, b, activation, grad_W, grad_b, W_slots, b_slots = record
        signal, out, delta = (np.zeros((batch_size, W.shape[0]), self.dtype)
                              for _ in range(3))
        self.buffers += [signal, out, delta]
        cdef DenseLayer* layer = &self.layers[i]
        layer.W, layer.b = _address(W), _address(b)
        layer.signal, layer.out, layer.delta = _address(signal), _address(out), _address(delta)
        layer.n_out, layer.n_in = W.shape
        layer.activation = activation
        if not self.settings.fused:
            layer.grad_W, layer.grad_b = _address(grad_W), _address(grad_b)
        # W's slots then b's; an optimizer with fewer slots leaves the rest NULL.
        for j, slot in enumerate(W_slots):
            layer.slots[j] = _address(slot)
        for j, slot in enumerate(b_slots):
            layer.slots[2 + j] = _address(slot)

    def __dealloc__(self):
        PyMem_Free(self.layers)

    def point_at(self, parameters=None):
        """Compute with the weights and biases in ``parameters``, a flat array in the
        layout and dtype of the ones this Trainer was built on (whose first weight is
        their start), without copying them; None: with those again.  Needs the
        gradient arrays, whose size is the parameters'."""
        if parameters is not None and not (
                isinstance(parameters, np.ndarray) and parameters.dtype == self.dtype
                and parameters.ndim == 1 and parameters.flags.c_contiguous
                and parameters.size == self.settings.n_parameters):
            raise ValueError(f"parameters must be a C-contiguous 1-D {self.dtype} array of "
                             f"{self.settings.n_parameters} values")
        cdef char* start = <char*>(self.own_parameters if parameters is None
                                   else _address(parameters))
        cdef char* current = <char*>self.layers[0].W
        cdef int i
        for i in range(self.n_layers):
            self.layers[i].W = start + (<char*>self.layers[i].W - current)
            self.layers[i].b = start + (<char*>self.layers[i].b - current)
        self.pointed = parameters  # kept alive while the layers point into it

    def loss_gradient(self, const floating[:, ::1] X, const floating[:, ::1] Y,
                      const floating[::1] weight=None):
        """The summed loss over the rows of ``X`` (each weighted by ``weight``, if given);
        the gradient of the (weighted) mean loss goes to the gradient arrays, without
        the L2 term.  Needs the gradient arrays."""
        self._check_full_batch(X.shape[0], X.shape[1], Y.shape[0], weight is None or
                               weight.shape[0] == Y.shape[0])
        cdef double total
        cdef const floating* x = NULL
        if X.shape[0] > 0:
            x = &X[0, 0]
        cdef const floating* weights = NULL if weight is None else &weight[0]
        with nogil:
            total = _full_batch(self.layers, self.n_layers, &self.settings, x, NULL, Y,
                                weights, self.batch_size)
        return total

    def sparse_loss_gradient(self, const floating[::1] data, const int[::1] indices,
                             const Py_ssize_t[::1] indptr, const floating[:, ::1] Y,
                             const floating[::1] weight=None):
        """``loss_gradient`` for the rows of the CSR matrix ``(data, indices, indptr)``
        of as many rows as ``Y`` (checked by densecore._validation.as_csr)."""
        _check_csr(data.shape[0], indices.shape[0], indptr, Y.shape[0])
        self._check_full_batch(Y.shape[0], self.layers[0].n_in, Y.shape[0], weight is None
                               or weight.shape[0] == Y.shape[0])
        cdef core.CSRRows csr = _csr_rows(data, indices, indptr)
        cdef const floating* weights = NULL
        cdef double total
        if weight is not None:
            weights = &weight[0]
        with nogil:
            total = _full_batch(self.layers, self.n_layers, &self.settings, <floating*>NULL,
                                &csr, Y, weights, self.batch_size)
        return total

    cdef int _check_full_batch(self, Py_ssize_t rows, Py_ssize_t columns, Py_ssize_t targets,
                               bint weights_fit) except -1:
        if self.settings.fused:
            raise ValueError("a Trainer without gradient arrays computes no full-batch gradient")
        if rows != targets or columns != self.layers[0].n_in or not weights_fit:
            raise ValueError(f"the full batch needs {targets} rows of {self.layers[0].n_in} "
                             f"inputs and as many weights, got {rows} rows of {columns}")
        return 0

    def epoch(self, const floating[:, ::1] X, const floating[:, ::1] Y,
              const Py_ssize_t[::1] order, floating learning_rate,
              const floating[::1] weight=None):
        """One pass over ``X[order]``: ``(summed per-sample loss, right answers, samples)``,
        each sample counting its ``weight`` (if given) in all three, in its gradient and
        in its batch's mean."""
        if X.shape[0] != Y.shape[0] or X.shape[1] != self.layers[0].n_in:
            raise ValueError(f"an epoch needs as many rows of {self.layers[0].n_in} inputs "
                             f"as targets ({Y.shape[0]}), got {X.shape[0]} rows of "
                             f"{X.shape[1]}")
        if self.x_batch is None:
            self._make_x_batch()
        cdef floating[:, ::1] x_batch = self.x_batch
        cdef const floating* x = NULL
        if X.shape[0] > 0:
            x = &X[0, 0]
        return self._run(x, NULL, Y, order, learning_rate, weight, &x_batch[0, 0],
                         &self.block if self.batch_size == 1 else NULL)

    cdef _make_x_batch(self):
        """x_batch and, for online SGD, the buffers of a block of its rows (see _epoch)."""
        cdef int n_out = self.layers[0].n_out
        if self.batch_size > 1:
            self.x_batch = np.zeros((self.batch_size, self.layers[0].n_in), self.dtype)
            return
        self.x_batch = np.zeros((ONLINE_BLOCK, self.layers[0].n_in), self.dtype)
        products, gram, steps = (np.zeros(shape, self.dtype) for shape in
                                 [(ONLINE_BLOCK, n_out), (ONLINE_BLOCK, ONLINE_BLOCK),
                                  (ONLINE_BLOCK, n_out)])
        self.buffers += [products, gram, steps]
        self.block = HeldBlock(_address(products), _address(gram), _address(steps), 0)

    def sparse_epoch(self, const floating[::1] data, const int[::1] indices,
                     const Py_ssize_t[::1] indptr, const floating[:, ::1] Y,
                     const Py_ssize_t[::1] order, floating learning_rate,
                     const floating[::1] weight=None):
        """``epoch`` over the rows of the CSR matrix ``(data, indices, indptr)`` of as many
        rows as ``Y`` (checked by densecore._validation.as_csr), each batch's rows read
        in place."""
        _check_csr(data.shape[0], indices.shape[0], indptr, Y.shape[0])
        cdef core.CSRRows csr = _csr_rows(data, indices, indptr)
        return self._run(<floating*>NULL, &csr, Y, order, learning_rate, weight,
                         <floating*>NULL, NULL)

    cdef tuple _run(self, const floating* X, const core.CSRRows* csr,
                    const floating[:, ::1] Y, const Py_ssize_t[::1] order,
                    floating learning_rate, const floating[::1] weight, floating* x_batch,
                    HeldBlock* block):
        cdef floating[:, ::1] y_batch = self.y_batch
        cdef floating[:, ::1] w_batch = self.w_batch
        cdef const floating* weights = NULL if weight is None else &weight[0]
        cdef double total, correct = 0, samples = 0
        cdef long step = self.step
        with nogil:
            total = _epoch(self.layers, self.n_layers, &self.settings, X, csr, Y, weights,
                           order, x_batch, block, y_batch, w_batch, learning_rate, &step,
                           &correct, &samples)
        self.step = step
        return total, correct, samples


cdef int _check_csr(Py_ssize_t n_data, Py_ssize_t n_indices, const Py_ssize_t[::1] indptr,
                    Py_ssize_t rows) except -1:
    """The sizes of a CSR matrix against its rows: a wrong one would read past an array
    (its contents are checked where it is made, in densecore._validation.as_csr)."""
    if (rows < 0 or indptr.shape[0] != rows + 1 or indptr[0] != 0
            or indptr[rows] > min(n_data, n_indices)):
        raise ValueError(f"a CSR matrix of {rows} rows needs {rows + 1} row offsets from 0 to "
                         f"at most its {min(n_data, n_indices)} values, got "
                         f"{indptr.shape[0]} offsets")
    return 0


cdef core.CSRRows _csr_rows(const floating[::1] data, const int[::1] indices,
                            const Py_ssize_t[::1] indptr):
    """Every row of the matrix, in order (no row read yet: empty arrays give NULL)."""
    cdef core.CSRRows csr
    csr.data = csr.indices = csr.rows = NULL
    if data.shape[0] > 0 and indices.shape[0] > 0:
        csr.data = &data[0]
        csr.indices = &indices[0]
    csr.indptr = &indptr[0]
    csr.first = 0
    return csr


def csr_forward(const floating[::1] data, const int[::1] indices,
                const Py_ssize_t[::1] indptr, Py_ssize_t start, Py_ssize_t stop,
                const floating[:, ::1] W, const floating[::1] b, int activation):
    """``(signal, out)`` of one layer on the rows ``start:stop`` of the CSR matrix
    ``(data, indices, indptr)``: ``X[start:stop] @ W.T + b`` and its activation, both
    new ``(stop - start, W.shape[0])`` arrays.  The matrix's contents are trusted
    (densecore._validation.as_csr checks them); the sizes are checked here."""
    cdef Py_ssize_t rows = indptr.shape[0] - 1
    _check_csr(data.shape[0], indices.shape[0], indptr, rows)
    if not 0 <= start <= stop <= rows or stop - start > INT_MAX:
        raise ValueError(f"rows {start}:{stop} are not rows of a matrix of {rows}")
    if W.shape[0] < 1 or W.shape[1] < 1 or b.shape[0] != W.shape[0]:
        raise ValueError(f"W must be (out, in) with out, in >= 1 and b (out,), got "
                         f"{W.shape[0], W.shape[1]} and {b.shape[0],}")
    if not core.known_activation(activation):
        raise ValueError(f"unknown activation code {activation}")
    signal = np.empty((stop - start, W.shape[0]), np.float32 if floating is float else np.float64)
    out = np.empty_like(signal)
    cdef floating[:, ::1] signal_view = signal, out_view = out
    cdef core.CSRRows csr = _csr_rows(data, indices, indptr)
    csr.first = start
    if stop > start:
        with nogil:
            core.csr_forward(&csr, <int>(stop - start), &W[0, 0], &b[0], &signal_view[0, 0],
                             &out_view[0, 0], <int>W.shape[1], <int>W.shape[0], activation)
    return signal, out


# -- serving ----------------------------------------------------------------------

cdef void _predict(const DenseLayer* layers, int n_layers, const floating* X,
                   floating* result, Py_ssize_t n, Py_ssize_t capacity) noexcept nogil:
    """The last layer's out for the ``n`` rows of ``X`` into ``result``, ``capacity``
    rows at a time through the layers' buffers; the last layer writes straight into
    ``result``."""
    cdef Py_ssize_t start = 0, rows
    cdef int i
    cdef const floating* layer_input
    cdef floating* out
    while start < n:
        rows = min(capacity, n - start)
        layer_input = X + start * layers[0].n_in
        for i in range(n_layers):
            out = (result + start * layers[i].n_out if i == n_layers - 1
                   else <floating*>layers[i].out)
            core.forward(layer_input, <floating*>layers[i].W, <floating*>layers[i].b,
                         <floating*>layers[i].signal, out, <int>rows, layers[i].n_in,
                         layers[i].n_out, layers[i].activation)
            layer_input = out
        start += rows


cdef Py_ssize_t _rows(array) noexcept:
    """The rows of a 2-D numpy array; -1 for anything else."""
    if cnp.PyArray_Check(array) and cnp.PyArray_NDIM(<cnp.ndarray>array) == 2:
        return cnp.PyArray_DIMS(<cnp.ndarray>array)[0]
    return -1


cdef class Predictor:
    """The compiled forward pass of a network for prediction, built once and kept.

    Parameters
    ----------
    layers : list of tuples ``(W, b, activation)``
        Per layer: ``W`` (out, in) and ``b`` (out,), C-contiguous float32 or
        float64 views of the network's parameters, read in place at every call
        (so never stale); the activation code.
    capacity : int
        Rows per block: each layer's signal and out buffers (owned here) hold
        so many rows, and larger inputs run through them block by block.

    Notes
    -----
    The buffers are shared state: one thread at a time may compute into them.
    ``serve`` holds them for its call, and refuses while another thread does;
    ``predict`` and ``forward`` are for the thread that holds them by ``claim``.
    """
    cdef DenseLayer* layers
    cdef int n_layers
    cdef readonly Py_ssize_t capacity
    # Rows up to which serve answers: below the thread team's size, every product
    # runs whole on the calling thread, giving a run's bits without holding BLAS
    # to one thread.
    cdef readonly Py_ssize_t serving_rows
    cdef readonly object dtype
    cdef bint single       # float32
    cdef int type_num      # numpy's number for the dtype
    # Set and cleared with the GIL held and nothing between test and set that
    # could let another thread in: the flag is its own lock.
    cdef bint busy         # a thread computes into the buffers (claim or serve)
    cdef list buffers      # keeps the parameters' views and the buffers alive
    cdef object last_signal, last_out

    def __cinit__(self, list layers, Py_ssize_t capacity):
        if not 1 <= capacity <= INT_MAX:
            raise ValueError(f"capacity must be 1 to {INT_MAX}, got {capacity}")
        self.n_layers = len(layers)
        self.layers = <DenseLayer*>PyMem_Calloc(self.n_layers, sizeof(DenseLayer))
        if self.layers == NULL:
            raise MemoryError()
        self.capacity = capacity
        self.dtype = layers[0][0].dtype
        self.single = self.dtype == np.float32
        self.type_num = cnp.NPY_FLOAT32 if self.single else cnp.NPY_FLOAT64
        self.buffers = [layers]
        cdef DenseLayer* layer
        for i, (W, b, activation) in enumerate(layers):
            if not core.known_activation(activation):
                raise ValueError(f"unknown activation code {activation}")
            signal, out = (np.zeros((capacity, W.shape[0]), self.dtype) for _ in range(2))
            self.buffers += [signal, out]
            layer = &self.layers[i]
            layer.W, layer.b = _address(W), _address(b)
            layer.signal, layer.out = _address(signal), _address(out)
            layer.n_out, layer.n_in = W.shape
            layer.activation = activation
        self.last_signal, self.last_out = signal, out
        widest = max(W.size for W, _, _ in layers)
        self.serving_rows = min(capacity, max(1, (core.TEAM_WORK - 1) // widest))

    def __dealloc__(self):
        PyMem_Free(self.layers)

    cpdef bint claim(self):
        """Hold the buffers for the calling thread, until ``release``.

        Returns
        -------
        bool
            False, holding nothing, while another thread holds them.
        """
        if self.busy:
            return False
        self.busy = True
        return True

    cpdef void release(self):
        """Let go of the buffers held by ``claim``."""
        self.busy = False

    def predict(self, X, result):
        """Write the network's output for the rows of ``X`` into ``result``.

        ``X`` is ``(n, n_in)`` and ``result`` ``(n, n_out)``, both C-contiguous
        numpy arrays of the network's dtype in native byte order (``result``
        writable); anything else is a ``ValueError``.  ``X`` is trusted to be
        finite: the caller has checked it, and says where it is not (a second
        pass over 1,024 rows of 784 float32 inputs cost 1.3% of their
        prediction).  The caller holds the buffers (``claim``).
        """
        cdef Py_ssize_t n = _rows(X)
        if not (self._fits(X, n, self.layers[0].n_in, False)
                and self._fits(result, n, self.layers[self.n_layers - 1].n_out, True)):
            raise ValueError(
                f"X must be (n, {self.layers[0].n_in}) and result "
                f"(n, {self.layers[self.n_layers - 1].n_out}), C-contiguous "
                f"{self.dtype} arrays")
        self._compute(cnp.PyArray_DATA(<cnp.ndarray>X), cnp.PyArray_DATA(<cnp.ndarray>result),
                      n)

    def serve(self, X, out):
        """The network's output for the rows of ``X``, written into ``out`` (None: a
        new array) and returned; or None, having computed nothing, unless ``X`` is a
        numpy array of 1 to ``serving_rows`` finite rows and ``out`` (if given) a numpy
        array that ``predict`` takes as they are (neither a subclass), and no other
        thread holds the buffers.

        The serving path of one sample or a few, with ``predict``'s checks and its
        caller's check of finite values, and no exception raised: the caller takes a
        checked path on None, which says what is wrong.
        """
        if not (cnp.PyArray_CheckExact(X) and (out is None or cnp.PyArray_CheckExact(out))):
            return None
        cdef Py_ssize_t n = _rows(X)
        cdef cnp.npy_intp shape[2]
        shape[0], shape[1] = n, self.layers[self.n_layers - 1].n_out
        if not (0 < n <= self.serving_rows and self._fits(X, n, self.layers[0].n_in, False)):
            return None
        cdef const void* data = cnp.PyArray_DATA(<cnp.ndarray>X)
        cdef Py_ssize_t size = n * self.layers[0].n_in
        if not (core.all_finite(<const float*>data, size) if self.single
                else core.all_finite(<const double*>data, size)):
            return None
        if out is None:
            result = cnp.PyArray_EMPTY(2, shape, self.type_num, 0)
        elif self._fits(out, n, shape[1], True):
            result = out
        else:
            return None
        if not self.claim():
            return None
        self._compute(data, cnp.PyArray_DATA(<cnp.ndarray>result), n)
        self.release()
        return result

    cdef void _compute(self, const void* X, void* result, Py_ssize_t n) noexcept:
        """predict on arrays already checked."""
        with nogil:
            if self.single:
                _predict(self.layers, self.n_layers, <float*>X, <float*>result, n,
                         self.capacity)
            else:
                _predict(self.layers, self.n_layers, <double*>X, <double*>result, n,
                         self.capacity)

    cdef bint _fits(self, array, Py_ssize_t rows, Py_ssize_t columns, bint writable) noexcept:
        """Whether ``array`` is a numpy array that the products read (or, with
        ``writable``, write) in place: ``(rows, columns)``, C-contiguous, of this
        predictor's dtype in native byte order."""
        if not cnp.PyArray_Check(array):
            return False
        cdef cnp.ndarray a = <cnp.ndarray>array
        return (cnp.PyArray_TYPE(a) == self.type_num and cnp.PyArray_ISNOTSWAPPED(a)
                and cnp.PyArray_NDIM(a) == 2 and cnp.PyArray_DIMS(a)[0] == rows
                and cnp.PyArray_DIMS(a)[1] == columns and cnp.PyArray_IS_C_CONTIGUOUS(a)
                and (cnp.PyArray_ISWRITEABLE(a) or not writable))

    def forward(self, X):
        """``(signal, out)`` of the last layer for the rows of ``X``, at most
        ``capacity`` of them: views of this predictor's buffers, overwritten by
        the next call (for a block-by-block evaluation); ``X`` as ``predict``
        takes it."""
        if not 1 <= X.shape[0] <= self.capacity:
            raise ValueError(f"X must have 1 to {self.capacity} rows, got {X.shape[0]}")
        rows = X.shape[0]
        self.predict(X, self.last_out[:rows])
        return self.last_signal[:rows], self.last_out[:rows]


def dropout_mask(core.uint64_t seed, core.uint64_t step, int layer, Py_ssize_t size,
                 double rate, dtype=np.float64):
    """The factors (0 or ``1 / (1 - rate)``) that step ``step`` of a training run keyed
    by ``seed`` multiplies the first ``size`` outputs of layer ``layer`` of its batch
    by, row by row: the compiled mask, for tests and numpy twins."""
    if not 0 <= rate < 1 or size < 0:
        raise ValueError(f"rate must be in [0, 1) and size >= 0, got {rate} and {size}")
    mask = np.ones(size, dtype)
    if size == 0:
        return mask
    cdef core.Dropout d = core.Dropout(rate, seed, step, layer)
    cdef double[::1] mask64
    cdef float[::1] mask32
    if mask.dtype == np.float64:
        mask64 = mask
        core.dropout(&d, &mask64[0], size)
    else:
        mask32 = mask
        core.dropout(&d, &mask32[0], size)
    return mask


def philox4x32(counter, core.uint64_t key):
    """The four words of Philox4x32-10 for four 32-bit ``counter`` words and a 64-bit
    ``key``, as the dropout masks draw them (for known-answer tests)."""
    cdef core.uint32_t c[4]
    for j in range(4):
        c[j] = counter[j]
    core.philox(c, key)
    return [c[0], c[1], c[2], c[3]]
