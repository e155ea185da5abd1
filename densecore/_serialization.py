"""Networks to and from ``.npz`` files, and pickles through the same format.

The scikit-learn estimators pickle through it too: their parameters and
fitted attributes become arrays by :func:`values_to_arrays` (see
``densecore.sklearn._DenseBase.__reduce__`` for their layout).

A densecore file is what ``numpy.savez`` writes: an uncompressed zip of
``.npy`` arrays holding numbers and strings only.

- ``format_version``: a 0-d integer, :data:`FORMAT_VERSION`;
- ``sizes``: the layer sizes, input first; ``activations``: one name per
  layer; ``dtype`` and ``loss``: 0-d strings;
- ``layers/<i>/weights`` ``(out, in)`` and ``layers/<i>/bias`` ``(out,)``;
- ``optimizer/<key>``: the optimizer state, as ``Network._optimizer_arrays``
  gives it.

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
import secrets
import zipfile

import numpy as np

from densecore.activations import ACTIVATIONS
from densecore.layer import Layer

FORMAT_VERSION = 1
OPTIMIZER = "optimizer/"
ARCHITECTURE = ("format_version", "sizes", "activations", "dtype", "loss")
# Everything a densecore file may hold: booleans, numbers and unicode strings.
ARRAY_KINDS = "biufU"
# What zipfile and numpy raise for a damaged archive or .npy header.
ZIP_ERRORS = (zipfile.BadZipFile, EOFError, NotImplementedError, ValueError)
HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}


# -- writing --------------------------------------------------------------


def to_arrays(net):
    """The arrays of ``net``'s file, by name; ``ValueError`` if it cannot be saved."""
    unnamed = [i for i, name in enumerate(net.activation_names) if name is None]
    if unnamed:
        raise ValueError(
            f"cannot save a network with Python-callable activations (layers {unnamed}): "
            f"only the named activations {sorted(ACTIVATIONS)} can be stored"
        )
    arrays = {
        "format_version": np.array(FORMAT_VERSION),
        "sizes": np.array(net.sizes, dtype=np.int64),
        "activations": np.array(net.activation_names),
        "dtype": np.array(net.dtype.name),
        "loss": np.array(net.loss),
    }
    for i, layer in enumerate(net.layers):
        if not (np.isfinite(layer.weights).all() and np.isfinite(layer.bias).all()):
            raise ValueError(f"cannot save a network whose layer {i} holds NaN or infinity")
        arrays[f"layers/{i}/weights"] = layer.weights
        arrays[f"layers/{i}/bias"] = layer.bias.ravel()
    for key, value in net._optimizer_arrays().items():
        value = np.asarray(value)
        # What is written must be readable: no object or structured arrays.
        if value.dtype.kind not in ARRAY_KINDS:
            raise TypeError(f"optimizer state {key!r} must hold numbers or strings, "
                            f"got dtype {value.dtype}")
        arrays[OPTIMIZER + key] = value
    return arrays


def to_bytes(net):
    """The contents of ``net``'s file, as bytes."""
    return arrays_to_bytes(to_arrays(net))


def arrays_to_bytes(arrays):
    """What ``numpy.savez`` writes for ``arrays`` (by name), as bytes."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def save(net, path):
    """Write ``net`` to ``path`` without ever leaving a partial file there.

    The file is written beside the target under a temporary name, flushed to
    disk, then renamed over the target, so an error or a killed process
    leaves any previous file at ``path`` as it was.
    """
    arrays = to_arrays(net)  # refuse before touching any file
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
    """The network of class ``cls`` saved at ``path``."""
    with open(os.fspath(path), "rb") as file:
        data = file.read()
    try:
        return from_bytes(data, cls)
    except ValueError as error:
        raise ValueError(f"{os.fspath(path)!r} is not a valid densecore model: {error}") from None


def from_bytes(data, cls):
    """The network of class ``cls`` that :func:`to_bytes` wrote into ``data``."""
    return from_arrays(read_arrays(data), cls)


def from_arrays(arrays, cls):
    """The network of class ``cls`` whose file's arrays (by name) are ``arrays``."""
    check_version(arrays, "format_version", FORMAT_VERSION)
    layers, loss = _layers(arrays)
    net = cls(layers, loss=loss)
    net._restore_optimizer(_optimizer_state(arrays))
    return net


def check_version(arrays, name, version):
    """``ValueError`` unless member ``name`` is the integer ``version``."""
    found = _field(arrays, name, "iu", 0)
    if found != version:
        raise ValueError(f"{name} is {found}, this densecore reads version {version}")


def _optimizer_state(arrays):
    """The ``optimizer/`` members, unprefixed; their numbers must be finite."""
    state = {name.removeprefix(OPTIMIZER): value
             for name, value in arrays.items() if name.startswith(OPTIMIZER)}
    for key, value in state.items():
        # Non-finite state would turn the weights to NaN at the next step.
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            raise ValueError(f"{OPTIMIZER + key!r} holds NaN or infinity")
    return state


def _layers(arrays):
    """The layers and the loss that ``arrays`` describe, after checking them all."""
    sizes = _field(arrays, "sizes", "iu", 1)
    names = _field(arrays, "activations", "U", 1)
    dtype = _field(arrays, "dtype", "U", 0)
    loss = _field(arrays, "loss", "U", 0)
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"sizes must be at least two positive sizes, got {sizes}")
    if len(names) != len(sizes) - 1:
        raise ValueError(f"{len(sizes)} sizes need {len(sizes) - 1} activations, "
                         f"got {len(names)}")
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    expected = {*ARCHITECTURE}
    parameters = []
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        weights = _parameter(arrays, f"layers/{i}/weights", dtype, (n_out, n_in))
        bias = _parameter(arrays, f"layers/{i}/bias", dtype, (n_out,))
        expected.update([f"layers/{i}/weights", f"layers/{i}/bias"])
        parameters.append((weights, bias))
    unexpected = {name for name in arrays if not name.startswith(OPTIMIZER)} - expected
    if unexpected:
        raise ValueError(f"unexpected members {sorted(unexpected)}")
    layers = []
    for (weights, bias), name in zip(parameters, names):
        # A copy: the arrays read are read-only views of the file's bytes.
        layer = Layer(*weights.shape, name, dtype=dtype,
                      init=lambda shape, rng, weights=weights: weights.copy())
        layer.bias = bias.reshape(-1, 1)
        layers.append(layer)
    return layers, loss


def _field(arrays, name, kinds, ndim):
    """Member ``name`` as a Python value (0-d) or list (1-d), checked."""
    if name not in arrays:
        raise ValueError(f"missing member {name!r}")
    array = arrays[name]
    if array.dtype.kind not in kinds or array.ndim != ndim:
        what = "strings" if kinds == "U" else "integers"
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
HELD = ("None, bools, ints, floats, strings, tuples and lists of only ints or only "
        "floats, numpy arrays of numbers or strings, and numpy RandomState instances")


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
        return {"tuple" if isinstance(value, tuple) else "list": _numbers(value)}
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            return {"strings": _unicode(value)}
        if value.dtype.kind not in ARRAY_KINDS:
            raise TypeError(f"an array of dtype {value.dtype}")
        return {"array": value}
    if isinstance(value, np.random.RandomState):
        return _random_state_arrays(value)
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
    "array": (ARRAY_KINDS, None, np.copy),
    "strings": ("U", None, lambda array: array.astype(object)),
}


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
