# Pointer-level bodies shared by the public kernels (kernels.pyx) and the
# compiled epoch loop (_train.pyx).  Private: no promise is made about these.
# Matrices are row-major with the given leading dimension; nothing here checks
# shapes or allocates.

from cython cimport floating
from libc.stdint cimport uint32_t, uint64_t

# Constants of the kernels, set in _core.pyx and read from here by kernels and
# _train (and, through kernels, by the Python layer): each is written once.
cdef double LEAKY_SLOPE    # leaky_relu's slope below 0
cdef double CLIP_EPSILON   # PyTorch's clip_grad_norm_ guard against a zero norm

cdef void matmul(char transa, char transb, int m, int n, int k, floating alpha,
                 const floating* A, int lda, const floating* B, int ldb,
                 floating beta, floating* C, int ldc) noexcept nogil

cdef void forward(const floating* x, const floating* W, const floating* b,
                  floating* signal, floating* out, int rows, int n_in, int n_out,
                  int activation) noexcept nogil

# Inverted dropout on one layer's outputs in one training step.  Each output
# (element e of the batch's row-major outputs) is kept with probability
# 1 - rate, by a Philox4x32-10 draw keyed by seed and counted by (e // 4, layer,
# step): the same mask for the same (seed, step, layer, e), whatever the thread
# count, the process or the machine, and regenerated (not stored) for the
# backward pass.  Batches of 2**34 outputs or more would repeat draws.
cdef struct Dropout:
    double rate       # in [0, 1); 0 is no dropout
    uint64_t seed
    uint64_t step
    int layer

# values *= keep / (1 - rate) for the first ``size`` outputs of a batch.
cdef void dropout(const Dropout* d, floating* values, Py_ssize_t size) noexcept nogil

# The four 32-bit words of Philox4x32-10 for ``counter`` under ``key``, in place.
cdef void philox(uint32_t* counter, uint64_t key) noexcept nogil

# delta = (delta_next @ W_next) * activation'(signal), the dropout ``mask`` (NULL:
# none) of this layer's outputs applied before the activation's derivative.
cdef void backward(const floating* delta_next, const floating* W_next,
                   const floating* signal, floating* delta, int rows, int n_out,
                   int n_next, int activation, const Dropout* mask) noexcept nogil

cdef void accumulate_gradients(const floating* x, const floating* delta, int rows,
                               int n_in, int n_out, floating alpha, floating beta,
                               floating* grad_W, floating* grad_b) noexcept nogil

# A batch of rows of a CSR matrix, the first layer's input when it is sparse.  The
# matrix: row r's values are data[indptr[r]:indptr[r + 1]] (the network's dtype), in
# the columns indices[indptr[r]:indptr[r + 1]]; indices need not be sorted, and a
# column given twice counts as the sum of its values.  Column numbers are C ints, as
# every layer size here; offsets into data are Py_ssize_t.  The batch: rows
# rows[0], rows[1], ... (an epoch's order) or, with rows NULL, first, first + 1, ...
cdef struct CSRRows:
    const void* data
    const int* indices
    const Py_ssize_t* indptr
    const Py_ssize_t* rows
    Py_ssize_t first

# forward with the first ``count`` rows of ``x`` as its input.
cdef void csr_forward(const CSRRows* x, int count, const floating* W, const floating* b,
                      floating* signal, floating* out, int n_in, int n_out,
                      int activation) noexcept nogil

# accumulate_gradients with the first ``count`` rows of ``x`` as its input: only the
# columns of grad_W that the batch holds are added to (all are scaled by beta).
cdef void csr_accumulate_gradients(const CSRRows* x, int count, const floating* delta,
                                   int n_in, int n_out, floating alpha, floating beta,
                                   floating* grad_W, floating* grad_b) noexcept nogil

cdef double loss_gradient(int loss, int activation, const floating* signal,
                          const floating* out, const floating* target,
                          const floating* weight, floating* delta, int rows,
                          int cols) noexcept nogil

cdef void optimizer_update(int optimizer, floating* param, const floating* grad,
                           floating* slot_1, floating* slot_2, Py_ssize_t size,
                           double learning_rate, double alpha, double scale,
                           double beta_1, double beta_2, double epsilon, bint nesterov,
                           long step) noexcept nogil

cdef enum:
    # Multiply-adds from which a product is split into blocks for the thread team:
    # below, waking a team costs more than it saves (two threads over one,
    # predicting through 512-512-512 float32 on a loaded 2-core machine: 1.01x at
    # 2**21 per product, 1.63x at 2**22, 1.90x at 2**24).
    TEAM_WORK = 1 << 21
    # Bytes from which gather_rows shares a copy among the thread team (b128
    # 784-512-256-10 float32 training at 2 threads: 56,700 samples/s with each
    # 401 kB batch gathered by one thread, 63,700 by the team).
    TEAM_BYTES = 1 << 18

# dest's rows are source's rows rows[0], rows[1], ... rows[count - 1], each of
# ``width`` entries: an epoch's batch gathered in its shuffled order.
cdef void gather_rows(const floating* source, const Py_ssize_t* rows, Py_ssize_t count,
                      Py_ssize_t width, floating* dest) noexcept nogil

# Whether no value is NaN or infinite.
cdef bint all_finite(const floating* values, Py_ssize_t size) noexcept nogil

cdef double sum_of(const floating* values, Py_ssize_t size) noexcept nogil

cdef double sum_of_squares(const floating* values, Py_ssize_t size) noexcept nogil

# Whether ``activation`` is a code that the elementwise loops above know.
cdef bint known_activation(int activation) noexcept nogil

# Whether ``loss`` is a code that loss_gradient knows.
cdef bint known_loss(int loss) noexcept nogil

# Online plain SGD (one sample a step) on a layer, a block of ``count`` samples x
# (count x n_in) at a time: the block's steps W += d_s x_s.T are held back in the rows
# d_s of ``steps`` (count x n_out) and applied together at its end, each sample's
# forward adding those held before it to its product with the block's starting W:
# (W + sum_{r<s} d_r x_r.T) x_s = W x_s + sum_{r<s} (x_r . x_s) d_r.  Two products
# with W per block (single BLAS calls, never the thread team) take the place of two
# passes over W per sample.  The values of a step then forward per sample, to
# rounding.  The bias is not held back: the caller updates b with each d_s.
#
# products = x W.T (count x n_out), gram = x x.T (count x count), steps = 0.
cdef void hold_steps(const floating* x, int count, const floating* W, floating* products,
                     floating* gram, floating* steps, int n_in, int n_out) noexcept nogil

# forward of the block's sample ``sample`` into signal and out, with the steps held
# for the samples before it (steps' rows from ``sample`` on are not read).
cdef void held_forward(int sample, const floating* products, const floating* gram,
                       const floating* steps, int count, const floating* b,
                       floating* signal, floating* out, int n_out,
                       int activation) noexcept nogil

# W += steps.T x: the block's held steps.
cdef void apply_held_steps(const floating* x, const floating* steps, int count,
                           floating* W, int n_in, int n_out) noexcept nogil
