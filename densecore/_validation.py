"""Checks at the Python boundary: the only guard in front of unchecked kernels."""
import math
import operator

import numpy as np

from densecore.kernels import FLOAT_DTYPES


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


def _require_finite(array, name, what, original=None):
    finite = np.isfinite(array)
    if not finite.all():
        where = tuple(int(i) for i in np.argwhere(~finite)[0])
        given = (array if original is None else original)[where]
        raise ValueError(f"{name} must hold {what}, got {given} at {where}")


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
