"""Checks at the Python boundary: the only guard in front of unchecked kernels."""
import math
import operator

import numpy as np
import scipy.sparse

from densecore import _core
from densecore.kernels import FLOAT_DTYPES

# The index dtypes of the compiled CSR kernels: a column number is a C int like
# every layer size there, an offset into the values is a Py_ssize_t.
CSR_INDICES = np.dtype(np.intc)
CSR_INDPTR = np.dtype(np.intp)


def float_dtype(dtype):
    """``np.dtype(dtype)`` if it is float32 or float64, else ``ValueError``."""
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        resolved = None
    if resolved not in FLOAT_DTYPES:
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
    return resolved


def positive_int(value, name):
    """``value`` as an int >= 1, else ``TypeError`` or ``ValueError``."""
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {value!r}") from None
    if number < 1:
        raise ValueError(f"{name} must be at least 1, got {number}")
    return number


def non_negative_int(value, name):
    """``value`` as an int >= 0, else ``TypeError`` or ``ValueError``."""
    number = operator.index(value)
    if number < 0:
        raise ValueError(f"{name} must be >= 0, got {number}")
    return number


def real_array(value, name):
    """``np.asarray(value)``, refusing anything that is not bool, integer or float."""
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got an array of dtype {array.dtype}")
    return array


def as_matrix(value, name, dtype, columns, *, columns_first=False):
    """A finite, C-contiguous ``(rows, columns)`` array of ``dtype``.

    With ``columns_first`` the value is in the spec's ``(columns, B)`` layout
    and comes back transposed, as rows.
    """
    array = real_array(value, name)
    axis = 0 if columns_first else 1
    if array.ndim != 2 or array.shape[axis] != columns:
        expected = f"({columns}, B)" if columns_first else f"(n_samples, {columns})"
        raise ValueError(f"{name} must have shape {expected}, got shape {array.shape}")
    if columns_first:
        array = array.T
    _require_finite(array, name, "finite numbers")
    with np.errstate(over="ignore"):
        converted = np.ascontiguousarray(array, dtype=dtype)
    # Only a conversion can overflow; an array passed through as it was is checked.
    if converted is not array:
        _require_finite(converted, name,
                        f"numbers within the range of {np.dtype(dtype).name}", original=array)
    return converted


def as_samples(value, name, dtype, columns):
    """``value`` as the engine takes samples: :func:`as_csr` for a scipy.sparse matrix
    or array, :func:`as_matrix` for anything else."""
    if scipy.sparse.issparse(value):
        return as_csr(value, name, dtype, columns)
    return as_matrix(value, name, dtype, columns)


def as_csr(value, name, dtype, columns):
    """The scipy.sparse matrix or array ``value`` as a CSR of ``dtype`` with ``columns``
    columns and finite values, checked to be a well-formed CSR.

    The sparse counterpart of :func:`as_matrix`, with its errors for the same faults
    (the position of a bad value is its (row, column)).  A CSR of ``dtype`` comes back
    as it is, its class kept; CSC and other formats are converted to CSR once; another
    dtype converts the values alone.  Indices may be unsorted and repeated (the kernels
    sum a repeated column, as scipy's products do).  Its arrays in the kernels' index
    dtypes: :func:`csr_arrays`.
    """
    if value.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got an array of dtype {value.dtype}")
    if value.ndim != 2 or value.shape[1] != columns:
        raise ValueError(f"{name} must have shape (n_samples, {columns}), got shape "
                         f"{value.shape}")
    if value.format in ("csr", "csc"):
        # scipy's own conversions trust the arrays: check them before any.
        _check_compressed(value, name)
    if value.format != "csr":
        value = value.tocsr()
        _check_compressed(value, name)
    nnz = int(value.indptr[-1])
    data = value.data if len(value.data) == nnz else value.data[:nnz]
    _require_finite_csr(value, data, name, "finite numbers")
    with np.errstate(over="ignore"):
        converted = np.ascontiguousarray(data, dtype=dtype)
    if converted is value.data:
        return value  # as it was: of dtype, contiguous, finite
    # Only a conversion can overflow; values passed through as they were are checked.
    if converted is not data:
        _require_finite_csr(value, converted, name,
                            f"numbers within the range of {np.dtype(dtype).name}",
                            original=data)
    # The index arrays are shared, not copied; the class (matrix or array) is kept.
    return type(value)((converted, value.indices[:nnz], value.indptr), shape=value.shape,
                       copy=False)


def _check_compressed(value, name):
    """A CSR's (CSC's) offsets run from 0 without decreasing to at most its values, and
    its indices are columns (rows) of the matrix: else ``ValueError``."""
    major, minor = value.shape if value.format == "csr" else value.shape[::-1]
    indptr, indices = value.indptr, value.indices
    for array, what in ((indptr, "indptr"), (indices, "indices")):
        if array.ndim != 1 or array.dtype.kind not in "iu":
            raise TypeError(f"{name}'s {what} must be a 1-D integer array (int32 or int64), "
                            f"got dtype {array.dtype} and shape {array.shape}")
    nnz = int(indptr[-1]) if len(indptr) else -1
    problem = None
    if len(indptr) != major + 1 or indptr[0] != 0:
        problem = f"{major + 1} offsets (indptr) from 0, got {len(indptr)}"
    elif nnz > min(len(indices), len(value.data)) or (np.diff(indptr) < 0).any():
        problem = (f"offsets (indptr) that never decrease, up to at most its "
                   f"{min(len(indices), len(value.data))} values")
    elif nnz and not 0 <= int(indices[:nnz].min()) <= int(indices[:nnz].max()) < minor:
        problem = f"indices in [0, {minor})"
    if problem is not None:
        raise ValueError(f"{name} is a malformed {value.format.upper()} matrix of shape "
                         f"{value.shape}: it needs {problem}")


def _require_finite_csr(value, data, name, what, original=None):
    """:func:`_require_finite` for the stored values ``data`` of the CSR ``value``."""
    finite = np.isfinite(data)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        rows = np.searchsorted(value.indptr, bad, side="right") - 1
        first = np.lexsort((value.indices[bad], rows))[0]
        where = (int(rows[first]), int(value.indices[bad[first]]))
        given = (data if original is None else original)[bad[first]]
        raise ValueError(f"{name} must hold {what}, got {given} at {where}")


def csr_arrays(X):
    """``(data, indices, indptr)`` of the CSR ``X`` (from :func:`as_csr`) in the compiled
    kernels' dtypes: scipy's int32 indices are used as they are; its offsets, and
    int64 indices, are converted (a copy per call)."""
    return (X.data, np.asarray(X.indices, dtype=CSR_INDICES),
            np.asarray(X.indptr, dtype=CSR_INDPTR))


def _require_finite(array, name, what, original=None):
    if _all_finite(array):
        return
    where = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
    given = (array if original is None else original)[where]
    raise ValueError(f"{name} must hold {what}, got {given} at {where}")


def _all_finite(array):
    """``np.isfinite(array).all()``, in one compiled pass over a contiguous float array
    and without numpy's array of flags (8,192 x 784 float32 samples: 1.34 ms in
    numpy, 0.63 ms so; 16,384 x 64 float64: 165 us and 149 us)."""
    if array.dtype in FLOAT_DTYPES and (array.flags.c_contiguous or array.flags.f_contiguous):
        return _core.finite(array.ravel(order="K"))
    return bool(np.isfinite(array).all())


def finite_number(value, name, *, minimum, open_interval=False):
    """``value`` as a finite float >= minimum (> minimum with ``open_interval``)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number) or number < minimum or (open_interval and number == minimum):
        bound = ">" if open_interval else ">="
        raise ValueError(f"{name} must be a finite number {bound} {minimum}, got {value!r}")
    return number


def dropout_rate(value, name="dropout"):
    """``value`` as a dropout rate: a float in [0, 1)."""
    rate = finite_number(value, name, minimum=0)
    if rate >= 1:
        raise ValueError(f"{name} must be a rate in [0, 1), got {value!r}")
    return rate


def dropout_rates(dropout, n_hidden):
    """One rate per hidden layer from a float (for every one) or a sequence of
    ``n_hidden`` rates; each checked by :func:`dropout_rate`."""
    if isinstance(dropout, (str, bytes)) or not hasattr(dropout, "__len__"):
        return [dropout_rate(dropout)] * n_hidden
    if len(dropout) != n_hidden:
        raise ValueError(f"dropout must be one rate or {n_hidden} rates, one per hidden "
                         f"layer, got {len(dropout)}")
    return [dropout_rate(rate, "each dropout rate") for rate in dropout]


def sample_weights(sample_weight, n_samples, dtype):
    """``sample_weight`` as a C-contiguous 1-D array of ``dtype`` with one finite,
    non-negative weight per sample, not all zero; None stays None."""
    if sample_weight is None:
        return None
    weights = real_array(sample_weight, "sample_weight")
    if weights.shape != (n_samples,):
        raise ValueError(f"sample_weight must hold one weight per sample, shape "
                         f"({n_samples},), got shape {weights.shape}")
    weights = as_matrix(weights.reshape(-1, 1), "sample_weight", dtype, 1).ravel()
    if weights.min(initial=0) < 0:
        raise ValueError(f"sample_weight must be non-negative, got {weights.min()}")
    if not weights.any():
        raise ValueError("sample_weight must hold at least one non-zero weight, got all zero")
    return weights
