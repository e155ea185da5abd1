"""A network's state (``Network.state()``) to and from ``.npz`` files, bytes and pickles.

This module knows the file format and nothing of ``Network`` or ``Layer``:
it turns the plain state dict into arrays and back, and a reader hands the
dict to the class it is given (``cls.from_state``), which checks what the
values mean.  The scikit-learn estimators pickle through it too: their
parameters and fitted attributes become arrays by :func:`values_to_arrays`
(see ``densecore.sklearn._DenseBase.__reduce__`` for their layout).

A densecore file is what ``numpy.savez`` writes: an uncompressed zip of
``.npy`` arrays holding numbers and strings only.

- ``format_version``: a 0-d integer, :data:`FORMAT_VERSION` (2); version 1
  files, which have no ``dropout``, are still read (their rates are 0);
- ``sizes``: the layer sizes, input first; ``activations``: one name per
  layer; ``dtype`` and ``loss``: 0-d strings;
- ``dropout`` (since version 2): one float64 rate per layer;
- ``layers/<i>/weights`` ``(out, in)`` and ``layers/<i>/bias`` ``(out,)``;
- ``optimizer/name`` and ``optimizer/step`` (0-d), ``optimizer/<setting>``
  for each of its settings (0-d), and ``optimizer/slot_<k>_<j>``: slot ``j``
  of parameter ``k``, counting W0, b0, W1, b1, ... in the shape of that
  parameter.  No ``optimizer/`` member: a network that never trained.

Reading parses each ``.npy`` header itself and checks it before reading the
data, so a hostile file runs no code (nothing is unpickled), cannot make it
allocate more for its arrays than the file's own size, and fails with
``ValueError`` saying what is wrong.
"""
import contextlib
import io
import math
import numbers
import os
import re
import secrets
import zipfile

import numpy as np

from densecore import _layout
from densecore.kernels import FLOAT_DTYPES

FORMAT_VERSION = 2
READ_VERSIONS = (1, 2)
OPTIMIZER = "optimizer/"
SLOT = re.compile(r"slot_(\d+)_(\d+)")
ARCHITECTURE = ("format_version", "sizes", "activations", "dtype", "loss", "dropout")
# Everything a densecore file may hold: booleans, numbers and unicode strings.
ARRAY_KINDS = "biufU"
# What zipfile and numpy raise for a damaged archive or .npy header.
ZIP_ERRORS = (zipfile.BadZipFile, EOFError, NotImplementedError, ValueError)
HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}


# -- writing --------------------------------------------------------------


def to_arrays(state):
    """The arrays of the file of a network's ``state``, by name; ``ValueError`` if it
    cannot be saved."""
    unnamed = [i for i, name in enumerate(state["activations"]) if name is None]
    if unnamed:
        raise ValueError(
            f"cannot save a network with Python-callable activations (layers {unnamed}): "
            "only named activations can be stored"
        )
    if state["loss"] is None:
        raise ValueError("cannot save a network with a custom loss (Python callables): only "
                         "named losses can be stored")
    sizes = state["sizes"]
    arrays = {
        "format_version": np.array(FORMAT_VERSION),
        "sizes": np.array(sizes, dtype=np.int64),
        "activations": np.array(state["activations"]),
        "dtype": np.array(state["dtype"]),
        "loss": np.array(state["loss"]),
        "dropout": np.array(state.get("dropout") or [0.0] * (len(sizes) - 1), np.float64),
    }
    for i, (weights, bias) in enumerate(_layout.layer_views(state["parameters"], sizes)):
        if not (np.isfinite(weights).all() and np.isfinite(bias).all()):
            raise ValueError(f"cannot save a network whose layer {i} holds NaN or infinity")
        arrays[f"layers/{i}/weights"] = weights
        arrays[f"layers/{i}/bias"] = bias
    optimizer = state["optimizer"]
    if optimizer is not None:
        settings = {"name": optimizer["name"], "step": optimizer["step"],
                    **optimizer["settings"]}
        arrays.update({OPTIMIZER + key: np.array(value) for key, value in settings.items()})
        for j, slot in enumerate(optimizer["slots"]):
            views = [view for pair in _layout.layer_views(slot, sizes) for view in pair]
            arrays.update({f"{OPTIMIZER}slot_{k}_{j}": view for k, view in enumerate(views)})
    return arrays


def to_bytes(state):
    """The contents of the file of a network's ``state``, as bytes."""
    return arrays_to_bytes(to_arrays(state))


def arrays_to_bytes(arrays):
    """What ``numpy.savez`` writes for ``arrays`` (by name), as bytes."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def save(state, path):
    """Write the file of a network's ``state`` to ``path`` without ever leaving a
    partial file there.

    The file is written beside the target under a temporary name, flushed to
    disk, then renamed over the target, so an error or a killed process
    leaves any previous file at ``path`` as it was.
    """
    arrays = to_arrays(state)  # refuse before touching any file
    path = os.path.abspath(os.fsdecode(path))
    folder, name = os.path.split(path)
    temporary = os.path.join(folder, f".{name}.{secrets.token_hex(8)}.tmp")
    try:
        # "x": never write through a file or link that is already there.
        with open(temporary, "xb") as file:
            np.savez(file, **arrays)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _sync_folder(folder)


def _sync_folder(folder):
    """Flush the rename itself to disk (a POSIX folder entry is only durable so)."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


# -- reading --------------------------------------------------------------


def load(path, cls):
    """The network of class ``cls`` saved at ``path`` (``cls.from_state`` builds it)."""
    with open(os.fspath(path), "rb") as file:
        data = file.read()
    try:
        return from_bytes(data, cls)
    except ValueError as error:
        raise ValueError(f"{os.fspath(path)!r} is not a valid densecore model: {error}") from None


def from_bytes(data, cls):
    """The network of class ``cls`` whose file's contents are ``data``."""
    return cls.from_state(state_from_bytes(data))


def state_from_bytes(data):
    """The state of the network whose file's contents are ``data``."""
    return state_from_arrays(read_arrays(data))


def state_from_arrays(arrays):
    """The state of the network whose file's arrays (by name) are ``arrays``, after
    checking that they are the members of a file of this format."""
    version = check_version(arrays, "format_version", *READ_VERSIONS)
    sizes = _field(arrays, "sizes", "iu", 1)
    names = _field(arrays, "activations", "U", 1)
    dtype = _field(arrays, "dtype", "U", 0)
    loss = _field(arrays, "loss", "U", 0)
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"sizes must be at least two positive sizes, got {sizes}")
    if len(names) != len(sizes) - 1:
        raise ValueError(f"{len(sizes)} sizes need {len(sizes) - 1} activations, "
                         f"got {len(names)}")
    if version == 1:
        if "dropout" in arrays:
            raise ValueError("unexpected members ['dropout'] in a file of version 1")
        dropout = [0.0] * len(names)
    else:
        dropout = _field(arrays, "dropout", "f", 1)
        if len(dropout) != len(names):
            raise ValueError(f"{len(names)} layers need {len(names)} dropout rates, "
                             f"got {len(dropout)}")
    if dtype not in [float_dtype.name for float_dtype in FLOAT_DTYPES]:
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    members = [f"layers/{i}/{part}" for i in range(len(names)) for part in ("weights", "bias")]
    shapes = [shape for pair in _layout.shapes(sizes) for shape in pair]
    unexpected = {name for name in arrays if not name.startswith(OPTIMIZER)} - {
        *ARCHITECTURE, *members}
    if unexpected:
        raise ValueError(f"unexpected members {sorted(unexpected)}")
    parameters = [_parameter(arrays, name, dtype, shape) for name, shape in zip(members, shapes)]
    return {"sizes": sizes, "activations": names, "loss": loss, "dtype": dtype,
            "parameters": _layout.flatten(parameters, dtype),
            "optimizer": _optimizer_state(arrays, shapes, dtype), "dropout": dropout}


def check_version(arrays, name, *versions):
    """Member ``name``, the integer it holds; ``ValueError`` unless it is one of
    ``versions``."""
    found = _field(arrays, name, "iu", 0)
    if found not in versions:
        readable = " and ".join(map(str, versions))
        raise ValueError(f"{name} is {found}, this densecore reads version"
                         f"{'s' if len(versions) > 1 else ''} {readable}")
    return found


def _optimizer_state(arrays, shapes, dtype):
    """The ``optimizer/`` members as the state's ``optimizer`` dict (None if none)."""
    members = {name.removeprefix(OPTIMIZER): value
               for name, value in arrays.items() if name.startswith(OPTIMIZER)}
    if not members:
        return None
    slots = {key: value for key, value in members.items() if SLOT.fullmatch(key)}
    n_slots = 1 + max((int(SLOT.fullmatch(key)[2]) for key in slots), default=-1)
    expected = {f"slot_{k}_{j}" for k in range(len(shapes)) for j in range(n_slots)}
    if set(slots) != expected:
        raise ValueError(f"optimizer state has slots {sorted(slots)}, expected "
                         f"{sorted(expected)}")
    rows = np.empty((n_slots, sum(math.prod(shape) for shape in shapes)), dtype)
    for j, row in enumerate(rows):
        row[...] = _layout.flatten([_slot(slots, f"slot_{k}_{j}", shape)
                                    for k, shape in enumerate(shapes)], dtype)
    try:
        settings = {key: value.item() for key, value in members.items()
                    if key not in ("name", "step") and key not in slots}
        return {"name": str(members["name"]), "step": members["step"].item(),
                "settings": settings, "slots": rows}
    except (KeyError, ValueError) as error:
        raise ValueError(f"invalid optimizer state: {error!r}") from None


def _slot(slots, name, shape):
    """Optimizer slot ``name``: a finite float array of ``shape``."""
    array = slots[name]
    if array.shape != shape or array.dtype.kind != "f":
        raise ValueError(f"optimizer {name} must be a float array of shape {shape}, got "
                         f"{array.dtype} {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{OPTIMIZER + name!r} holds NaN or infinity")
    return array


def _field(arrays, name, kinds, ndim):
    """Member ``name`` as a Python value (0-d) or list (1-d), checked."""
    if name not in arrays:
        raise ValueError(f"missing member {name!r}")
    array = arrays[name]
    if array.dtype.kind not in kinds or array.ndim != ndim:
        what = {"U": "strings", "f": "floats"}.get(kinds, "integers")
        raise ValueError(f"{name!r} must be a {ndim}-d array of {what}, got a "
                         f"{array.ndim}-d array of dtype {array.dtype}")
    return array.tolist()


def _parameter(arrays, name, dtype, shape):
    if name not in arrays:
        raise ValueError(f"missing member {name!r}")
    array = arrays[name]
    if array.dtype != np.dtype(dtype) or array.shape != shape:
        raise ValueError(f"{name!r} must be {dtype} of shape {shape}, got "
                         f"{array.dtype} of shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name!r} holds NaN or infinity")
    return array


def read_arrays(data):
    """The ``.npy`` members of the zip archive ``data`` (bytes), by name."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except ZIP_ERRORS as error:
        raise ValueError(f"not a readable zip archive ({error})") from None
    with archive:
        members = archive.infolist()
        names = [member.filename for member in members]
        if len(set(names)) != len(names):
            raise ValueError("the archive holds two members of the same name")
        # Members may share bytes; bound their total by the file's size.
        if sum(member.file_size for member in members) > len(data):
            raise ValueError("the archive's members claim more bytes than it holds")
        return {name.removesuffix(".npy"): _read_member(archive, member)
                for name, member in zip(names, members)}


def _read_member(archive, member):
    """One member's array; ``ValueError`` naming the member if it is unreadable."""
    try:
        if not member.filename.endswith(".npy"):
            raise ValueError("not a .npy array")
        if member.flag_bits & 0x1:
            raise ValueError("encrypted")
        if member.compress_type != zipfile.ZIP_STORED:
            raise ValueError("compressed; densecore writes arrays uncompressed")
        with archive.open(member) as file:
            return _read_npy(file, member.file_size)
    except ZIP_ERRORS as error:
        raise ValueError(f"member {member.filename!r}: {error}") from None


def _read_npy(file, file_size):
    """The array in the ``.npy`` stream ``file`` of ``file_size`` bytes.

    The header is checked against ``file_size`` before the data is read, so
    a header claiming a huge shape allocates nothing.
    """
    version = np.lib.format.read_magic(file)
    if version not in HEADER_READERS:
        raise ValueError(f".npy format {version}, expected one of {sorted(HEADER_READERS)}")
    shape, fortran_order, dtype = HEADER_READERS[version](file)
    if dtype.hasobject or dtype.kind not in ARRAY_KINDS:
        raise ValueError(f"must hold numbers or strings, got dtype {dtype}")
    if any(n < 0 for n in shape):
        raise ValueError(f"negative shape {shape}")
    size = math.prod(shape) * dtype.itemsize
    held = file_size - file.tell()
    if size != held:
        raise ValueError(f"declares {size} bytes ({dtype}, shape {shape}) but holds {held}")
    data = file.read(size)
    if len(data) != size:
        raise ValueError("truncated data")
    return np.frombuffer(data, dtype).reshape(shape, order="F" if fortran_order else "C")


# -- Python values as arrays (the scikit-learn estimators' pickles) ---------

# The members of a numpy RandomState (MT19937): its get_state().
RANDOM_STATE = ("RandomState/keys", "RandomState/pos", "RandomState/has_gauss",
                "RandomState/gauss")
HELD = ("None, bools, ints, floats, strings, tuples and lists of only ints, only floats "
        "or only strings, dicts of ints or strings to numbers, numpy arrays of numbers or "
        "strings, and numpy RandomState instances")


def values_to_arrays(values, prefix, what="value"):
    """``{name: value}`` as members ``<prefix><name>/<kind>``.

    ``kind`` says what :func:`values_from_arrays` makes of the member (see
    ``DECODERS``); a RandomState is the members ``RANDOM_STATE`` instead.
    ``TypeError`` for a value the format does not hold, naming it as ``what``.
    """
    arrays = {}
    for name, value in values.items():
        try:
            encoded = _encode(value)
        except TypeError as error:
            raise TypeError(f"{what} {name!r} is {error}; densecore's format holds {HELD}") \
                from None
        arrays.update({f"{prefix}{name}/{kind}": array for kind, array in encoded.items()})
    return arrays


def _encode(value):
    """``{kind: array}`` for one value; ``TypeError`` saying what it is otherwise."""
    if value is None:
        return {"none": np.zeros(0)}
    if isinstance(value, (bool, np.bool_)):
        return {"bool": np.array(bool(value))}
    if isinstance(value, numbers.Integral):
        return {"int": _int64(value)}
    if isinstance(value, numbers.Real):
        return {"float": np.array(float(value))}
    if isinstance(value, str):
        return {"str": _unicode(value)}
    if isinstance(value, (tuple, list)):
        kind = "tuple" if isinstance(value, tuple) else "list"
        if value and all(isinstance(x, str) for x in value):
            return {f"{kind}_of_str": _unicode(np.array(value))}
        return {kind: _numbers(value)}
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            return {"strings": _unicode(value)}
        if value.dtype.kind not in ARRAY_KINDS:
            raise TypeError(f"an array of dtype {value.dtype}")
        return {"array": value}
    if isinstance(value, np.random.RandomState):
        return _random_state_arrays(value)
    if isinstance(value, dict):  # of numbers or strings to numbers (class_weight's)
        keys, values = list(value), list(value.values())
        if not all(isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))
                   for v in values):
            raise TypeError("a dict whose values are not all numbers")
        return {"dict_keys": _encode(keys).popitem()[1],
                "dict_values": np.array(values, dtype=np.float64)}
    raise TypeError(f"a {type(value).__module__}.{type(value).__qualname__}")


def _int64(value):
    try:
        return np.array(int(value), dtype=np.int64)
    except OverflowError:
        raise TypeError(f"the int {value}, beyond 64 bits") from None


def _unicode(value):
    """A string, or an object array of strings, as a unicode array."""
    if isinstance(value, np.ndarray) and not all(isinstance(x, str) for x in value.flat):
        raise TypeError("an object array holding other than strings")
    array = np.asarray(value).astype(str)
    expected = value.tolist() if isinstance(value, np.ndarray) else value
    if array.tolist() != expected:
        raise TypeError("a string ending in NUL characters, which numpy drops")
    return array


def _numbers(sequence):
    """A tuple or list of only ints or only floats as a 1-d array."""
    if all(isinstance(x, numbers.Integral) and not isinstance(x, bool) for x in sequence):
        try:
            return np.array([int(x) for x in sequence], dtype=np.int64)
        except OverflowError:
            raise TypeError("a sequence holding ints beyond 64 bits") from None
    if all(isinstance(x, numbers.Real) and not isinstance(x, (numbers.Integral, np.bool_))
           for x in sequence):
        return np.array([float(x) for x in sequence], dtype=np.float64)
    kinds = sorted({type(x).__name__ for x in sequence})
    raise TypeError(f"a {type(sequence).__name__} holding {kinds}")


def _random_state_arrays(random_state):
    state = random_state.get_state(legacy=False)
    if state["bit_generator"] != "MT19937":
        raise TypeError(f"a RandomState of bit generator {state['bit_generator']}, not MT19937")
    values = (state["state"]["key"], np.array(state["state"]["pos"], dtype=np.int64),
              np.array(state["has_gauss"], dtype=np.int64),
              np.array(state["gauss"], dtype=np.float64))
    return {field: value for field, value in zip(RANDOM_STATE, values)}


def values_from_arrays(arrays, prefix):
    """The ``{name: value}`` that :func:`values_to_arrays` wrote under ``prefix``.

    ``ValueError`` for a member of an unknown kind, or of a dtype or shape
    that its kind does not take.
    """
    members = {}
    for member, array in arrays.items():
        if member.startswith(prefix):
            name, _, kind = member.removeprefix(prefix).partition("/")
            members.setdefault(name, {})[kind] = array
    return {name: _decode(prefix + name, fields) for name, fields in members.items()}


def _decode(name, fields):
    if sorted(fields) == sorted(RANDOM_STATE):
        return _random_state(name, fields)
    if sorted(fields) == ["dict_keys", "dict_values"]:
        return _dict(name, fields)
    if len(fields) != 1 or next(iter(fields)) not in DECODERS:
        raise ValueError(f"{name!r} must be one member of a kind in {sorted(DECODERS)} or "
                         f"the members {list(RANDOM_STATE)}, got {sorted(fields)}")
    [(kind, array)] = fields.items()
    kinds, ndim, decode = DECODERS[kind]
    if array.dtype.kind not in kinds or ndim not in (None, array.ndim):
        shape = "an array" if ndim is None else f"a {ndim}-d array"
        raise ValueError(f"'{name}/{kind}' must be {shape} of dtype kind {kinds!r}, got a "
                         f"{array.ndim}-d array of dtype {array.dtype}")
    if kind == "none" and array.size:
        raise ValueError(f"'{name}/none' must be empty, got {array.size} values")
    return decode(array)


# kind -> (the dtype kinds it takes, its number of dimensions or None for any,
# the value it stands for).  Read arrays are read-only views of the pickle's
# bytes: an array value is copied.
DECODERS = {
    "none": ("f", 1, lambda array: None),
    "bool": ("b", 0, bool),
    "int": ("iu", 0, int),
    "float": ("f", 0, float),
    "str": ("U", 0, str),
    "tuple": ("iuf", 1, lambda array: tuple(array.tolist())),
    "list": ("iuf", 1, lambda array: array.tolist()),
    "tuple_of_str": ("U", 1, lambda array: tuple(array.tolist())),
    "list_of_str": ("U", 1, lambda array: array.tolist()),
    "array": (ARRAY_KINDS, None, np.copy),
    "strings": ("U", None, lambda array: array.astype(object)),
}


def _dict(name, fields):
    """The dict that ``fields`` (its keys and its values) describe, after checking them."""
    keys, values = fields["dict_keys"], fields["dict_values"]
    if (keys.ndim != 1 or keys.dtype.kind not in "iufU" or values.dtype.kind != "f"
            or values.shape != keys.shape):
        raise ValueError(f"'{name}/dict_keys' and '/dict_values' must be 1-d arrays of "
                         f"numbers or strings and of floats, of one length, got "
                         f"{keys.dtype} {keys.shape} and {values.dtype} {values.shape}")
    return dict(zip(keys.tolist(), values.tolist()))


def _random_state(name, fields):
    """The RandomState that ``fields`` describe, after checking them."""
    keys, pos, has_gauss, gauss = (fields[field] for field in RANDOM_STATE)
    if keys.dtype != np.uint32 or keys.shape != (624,):
        raise ValueError(f"'{name}/RandomState/keys' must be uint32 of shape (624,), got "
                         f"{keys.dtype} of shape {keys.shape}")
    scalars = {"pos": (pos, "iu", range(625)), "has_gauss": (has_gauss, "iu", range(2)),
               "gauss": (gauss, "f", None)}
    for field, (array, kinds, allowed) in scalars.items():
        if array.ndim != 0 or array.dtype.kind not in kinds or not (
                np.isfinite(array) if allowed is None else array.item() in allowed):
            raise ValueError(f"'{name}/RandomState/{field}' must be a 0-d "
                             f"{'finite float' if allowed is None else allowed}, got "
                             f"{array.dtype} {array.tolist()!r}")
    random_state = np.random.RandomState(0)  # then set to the state read
    random_state.set_state(("MT19937", keys, int(pos), int(has_gauss), float(gauss)))
    return random_state
