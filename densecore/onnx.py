"""ONNX export: a network or a fitted estimator as an ``onnx.ModelProto``.

:func:`to_onnx` writes the graph with the ``onnx`` package alone (the ``onnx``
extra): no PyTorch, no skl2onnx.  Each layer is one ``Gemm`` (``x @ W.T + b``,
``W`` kept ``(out, in)`` as densecore holds it) and its activation's nodes
(:data:`ACTIVATION_NODES`); dropout is the identity at inference and leaves no
node.  The batch dimension is symbolic (``"N"``).

The graph works from public names only: a network's :meth:`~densecore.Network.state`
and an estimator's fitted attributes (``network_``, ``classes_``,
``out_activation_``, ``n_outputs_``), so this module imports neither
:mod:`densecore.network` nor :mod:`densecore.sklearn`, and ``save_onnx`` on
either can import it without a cycle.

skl2onnx: :func:`register_converter` registers a converter for an estimator
class, built from the same functions as :func:`to_onnx`, and
:func:`densecore.sklearn.register_skl2onnx` registers
:class:`~densecore.sklearn.DenseClassifier`,
:class:`~densecore.sklearn.DenseRegressor` and their subclasses, so that
``skl2onnx.to_onnx`` converts a pipeline ending in one as it converts one
ending in an MLP.  Registration is a call, not a side effect of an import:
importing skl2onnx imports scikit-learn and took about twice as long again as
importing onnx (median of 3 fresh interpreters: 1.9 s for onnx, 4.3 s more for
skl2onnx, on a busy 2-core machine), a cost that exporting a
:class:`~densecore.Network` should not pay, and ``import densecore.sklearn``
must not pull skl2onnx either.
"""
import numbers

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from densecore import __version__, _layout, kernels
from densecore._validation import float_dtype

__all__ = ["ACTIVATION_NODES", "DEFAULT_OPSET", "MIN_OPSET", "register_converter", "save",
           "to_onnx"]

# Opset 13 is the first whose Softmax, ArgMax and Gather take the forms used here;
# 20 is the newest that onnxruntime 1.17 runs (with IR version 9).
MIN_OPSET = 13
DEFAULT_OPSET = 20
ELEMENT_TYPES = {np.dtype(np.float32): TensorProto.FLOAT,
                 np.dtype(np.float64): TensorProto.DOUBLE}
BATCH = "N"  # the symbolic batch dimension of every input and output
# scikit-learn's name of a multiclass classifier's output activation.
MULTICLASS = "softmax"
# The options skl2onnx's MLPClassifier converter takes, handled by skl2onnx's parser.
# "nocl" labels the classes 0, 1, ... in the label output and the ZipMap's keys.
CLASSIFIER_OPTIONS = {"zipmap": [True, False, "columns"], "nocl": [True, False],
                      "output_class_labels": [False, True]}


# -- building nodes -------------------------------------------------------------


class _ModelNodes:
    """The nodes and initializers of a graph being built for ``onnx.helper``.

    The functions that lay out a graph take such an object: this one for
    :func:`to_onnx`, :class:`_Skl2onnxNodes` inside skl2onnx's converter.
    """

    def __init__(self):
        self.nodes, self.initializers, self._names = [], [], 0

    def unique(self, hint):
        self._names += 1
        return f"{hint}_{self._names}"

    def constant(self, hint, array):
        name = self.unique(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def node(self, op, inputs, output=None, **attributes):
        """Add an ``op`` node on ``inputs``; return its output (``output`` if given)."""
        output = output or self.unique(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [output], name=self.unique(op),
                                           **attributes))
        return output


class _Skl2onnxNodes:
    """:class:`_ModelNodes`' methods on skl2onnx's scope and container."""

    def __init__(self, scope, container):
        self.scope, self.container = scope, container

    def constant(self, hint, array):
        # A Constant node: the container's initializers take no string tensor as it is.
        return self.node("Constant", [], value=numpy_helper.from_array(
            np.asarray(array), self.scope.get_unique_variable_name(hint)))

    def node(self, op, inputs, output=None, **attributes):
        output = output or self.scope.get_unique_variable_name(op.lower())
        self.container.add_node(op, inputs, [output],
                                name=self.scope.get_unique_operator_name(op), **attributes)
        return output


# -- the graph of a network -----------------------------------------------------


def _leaky_relu(nodes, x, dtype):
    # max(x, slope * x) is where(x >= 0, x, slope * x) for a slope below 1; ONNX's
    # LeakyRelu takes its slope as a float32 attribute, off by 2e-8 in float64.
    slope = nodes.constant("leaky_slope", np.array(kernels.LEAKY_SLOPE, dtype))
    return nodes.node("Max", [x, nodes.node("Mul", [x, slope])])


def _elu(nodes, x, dtype):
    # where(x > 0, x, exp(min(x, 0)) - 1): densecore's form, with exp - 1 for its
    # expm1 (ONNX has none; 1e-16 apart near 0).  onnxruntime has no float64 Elu.
    zero, one = (nodes.constant(hint, np.array(value, dtype))
                 for hint, value in (("zero", 0), ("one", 1)))
    negative = nodes.node("Sub", [nodes.node("Exp", [nodes.node("Min", [x, zero])]), one])
    return nodes.node("Where", [nodes.node("Greater", [x, zero]), x, negative])


# Each activation of densecore.activations.ACTIVATIONS as nodes on the signal x of a
# row batch: (nodes, x, dtype) -> the name of the activation's output.
ACTIVATION_NODES = {
    "identity": lambda nodes, x, dtype: x,
    "relu": lambda nodes, x, dtype: nodes.node("Relu", [x]),
    "sigmoid": lambda nodes, x, dtype: nodes.node("Sigmoid", [x]),
    "tanh": lambda nodes, x, dtype: nodes.node("Tanh", [x]),
    "leaky_relu": _leaky_relu,
    "softmax": lambda nodes, x, dtype: nodes.node("Softmax", [x], axis=-1),
    "elu": _elu,
    "exp": lambda nodes, x, dtype: nodes.node("Exp", [x]),
}


def _network_nodes(nodes, state, x, dtype):
    """The nodes of the network that ``state`` (``Network.state()``) describes, in
    ``dtype``, on the input named ``x``; return the name of the output layer's output."""
    views = _layout.layer_views(np.asarray(state["parameters"]), state["sizes"])
    for (weights, bias), name in zip(views, state["activations"]):
        signal = nodes.node("Gemm", [x, nodes.constant("W", weights.astype(dtype)),
                                     nodes.constant("b", bias.astype(dtype))], transB=1)
        x = ACTIVATION_NODES[name](nodes, signal, dtype)
    return x


def _check_exportable(state):
    """``ValueError`` for a network whose activations are not all named ones."""
    unknown = [name for name in state["activations"] if name not in ACTIVATION_NODES]
    if unknown:
        raise ValueError(f"only named activations ({sorted(ACTIVATION_NODES)}) export to "
                         f"ONNX, got {state['activations']} (None is a Python callable)")


# -- the graphs of the estimators -------------------------------------------------


def _label_classes(classes):
    """``classes_`` as the int64 or str array that the label output holds, as
    skl2onnx gives an MLPClassifier's classes: integers, bools and integral floats
    as int64, strings as strings; ``TypeError`` for anything else."""
    classes = np.asarray(classes)
    if classes.dtype.kind in "biu":
        return classes.astype(np.int64)
    if classes.dtype.kind == "f" and np.array_equal(classes, np.round(classes)):
        return classes.astype(np.int64)
    if classes.dtype.kind in "US" or all(isinstance(label, str) for label in classes):
        return classes.astype(str)
    raise TypeError(f"an exported classifier's classes_ must be integers or strings, got "
                    f"{classes.dtype} {classes.tolist()!r}")


def _classifier_kind(estimator):
    """"binary", "multiclass" or "multilabel", from public fitted attributes."""
    if len(estimator.classes_) < 2:
        raise ValueError(f"an exported classifier needs two classes or more, got "
                         f"classes_={estimator.classes_!r}")
    if estimator.out_activation_ == MULTICLASS:
        return "multiclass"
    return "binary" if estimator.n_outputs_ == 1 else "multilabel"


def _classifier_nodes(nodes, estimator, classes, x, dtype, label, probabilities):
    """The nodes of a fitted classifier: ``probabilities`` as ``predict_proba``,
    ``label`` as ``predict`` (the one of ``classes``, as :func:`_label_classes` gives
    them, or a multilabel int64 indicator matrix)."""
    kind = _classifier_kind(estimator)
    out = _network_nodes(nodes, estimator.network_.state(), x, dtype)
    if kind == "binary":  # one sigmoid output: the probability of classes_[1]
        negative = nodes.node("Sub", [nodes.constant("one", np.array(1, dtype)), out])
        nodes.node("Concat", [negative, out], output=probabilities, axis=1)
    else:
        nodes.node("Identity", [out], output=probabilities)
    if kind == "multilabel":  # LabelBinarizer's threshold
        above = nodes.node("Greater", [out, nodes.constant("half", np.array(0.5, dtype))])
        nodes.node("Cast", [above], output=label, to=TensorProto.INT64)
        return
    # The first largest probability wins, as numpy's argmax (and, for two classes,
    # LabelBinarizer's out > 0.5: 1 - out is exact at and above one half).
    best = nodes.node("ArgMax", [probabilities], axis=1, keepdims=0)
    nodes.node("Gather", [nodes.constant("classes", classes), best], output=label, axis=0)


def _regressor_nodes(nodes, estimator, x, dtype, variable):
    """The nodes of a fitted regressor: ``variable``, ``(N, n_outputs)``."""
    out = _network_nodes(nodes, estimator.network_.state(), x, dtype)
    nodes.node("Identity", [out], output=variable)


# -- to_onnx --------------------------------------------------------------------


def _check_opset(opset):
    if opset is None:
        return DEFAULT_OPSET
    if not isinstance(opset, numbers.Integral) or isinstance(opset, bool):
        raise TypeError(f"opset must be an int, got {opset!r}")
    newest = onnx.defs.onnx_opset_version()
    if not MIN_OPSET <= opset <= newest:
        raise ValueError(f"opset must lie in [{MIN_OPSET}, {newest}] (the installed onnx "
                         f"{onnx.__version__} knows up to {newest}), got {opset}")
    return int(opset)


def _is_estimator(model):
    """Whether ``model`` is a densecore estimator; ``NotFittedError`` (a ``ValueError``)
    for one that is not fitted."""
    if not hasattr(type(model), "network_"):
        return False
    from sklearn.utils.validation import check_is_fitted  # an estimator: sklearn is there

    check_is_fitted(model, "network_")
    return True


def _graph_of(model, estimator, x, dtype):
    """``(nodes, outputs)``: the graph of ``model`` (an ``estimator`` or not) on the
    input ``x``, with its outputs as ``(name, element type, shape)``."""
    nodes = _ModelNodes()
    if estimator and hasattr(model, "classes_"):
        classes = _label_classes(model.classes_)
        _classifier_nodes(nodes, model, classes, x, dtype, "label", "probabilities")
        label_type = TensorProto.STRING if classes.dtype.kind == "U" else TensorProto.INT64
        multilabel = _classifier_kind(model) == "multilabel"
        return nodes, [("label", label_type, [BATCH, len(classes)] if multilabel else [BATCH]),
                       ("probabilities", ELEMENT_TYPES[dtype], [BATCH, len(classes)])]
    if estimator:
        _regressor_nodes(nodes, model, x, dtype, "variable")
        return nodes, [("variable", ELEMENT_TYPES[dtype], [BATCH, model.n_outputs_])]
    state = model.state()
    _check_exportable(state)
    nodes.node("Identity", [_network_nodes(nodes, state, x, dtype)], output="Y")
    return nodes, [("Y", ELEMENT_TYPES[dtype], [BATCH, state["sizes"][-1]])]


def to_onnx(model, *, opset=None, dtype=None):
    """``model`` as an ONNX model that computes what it predicts.

    Parameters
    ----------
    model : Network or fitted densecore estimator
        A fitted DenseClassifier, DenseRegressor, DaskDenseClassifier or
        DaskDenseRegressor.  A network must have named activations only (not
        Python callables); its loss plays no part, since each loss's output
        activation (softmax, sigmoid, exp) is its last layer's.
    opset : int, optional
        The version of the ONNX operator set, from :data:`MIN_OPSET` to the
        newest the installed ``onnx`` knows; default :data:`DEFAULT_OPSET`,
        which onnxruntime 1.17 and later run.
    dtype : {"float32", "float64"} or numpy dtype, optional
        The element type of the input, the parameters and the outputs; default
        the model's own.

    Returns
    -------
    onnx.ModelProto
        One input ``X``, ``(N, n_features)``, N symbolic, and:

        - a ``Network``: ``Y``, ``(N, n_outputs)``, as ``Network.predict``;
        - a classifier: ``label``, ``(N,)``, as ``predict`` (int64 for
          integer classes, string for string classes; a multilabel model's is
          the int64 indicator matrix ``(N, n_labels)``) and ``probabilities``,
          ``(N, n_classes)``, as ``predict_proba``: the outputs skl2onnx gives
          an MLPClassifier with ``zipmap=False`` (a tensor, not a list of
          dicts);
        - a regressor: ``variable``, ``(N, n_outputs)``, as ``predict``
          (two-dimensional even for one target, as skl2onnx's).

    Raises
    ------
    TypeError
        For a model of another type, or an opset that is not an int.
    ValueError
        For an unfitted estimator, a Python-callable activation, or an opset
        or dtype outside those above.

    Examples
    --------
    >>> import numpy as np, onnxruntime
    >>> from densecore import Network
    >>> from densecore.onnx import to_onnx
    >>> net = Network.from_sizes([4, 8, 3], seed=0)
    >>> session = onnxruntime.InferenceSession(to_onnx(net).SerializeToString(),
    ...                                        providers=["CPUExecutionProvider"])
    >>> X = np.ones((2, 4))
    >>> bool(np.allclose(session.run(["Y"], {"X": X})[0], net.predict(X)))
    True
    """
    opset = _check_opset(opset)
    estimator = _is_estimator(model)
    if not estimator and not callable(getattr(model, "state", None)):
        raise TypeError(f"model must be a densecore Network or a fitted DenseClassifier, "
                        f"DenseRegressor or their Dask variants, got {type(model).__name__}")
    network = model.network_ if estimator else model
    dtype = network.dtype if dtype is None else float_dtype(dtype)
    nodes, outputs = _graph_of(model, estimator, "X", dtype)
    graph = helper.make_graph(
        nodes.nodes, f"densecore_{type(model).__name__}",
        [helper.make_tensor_value_info("X", ELEMENT_TYPES[dtype], [BATCH, network.sizes[0]])],
        [helper.make_tensor_value_info(*output) for output in outputs],
        initializer=nodes.initializers)
    opsets = [helper.make_opsetid("", opset)]
    return helper.make_model(graph, opset_imports=opsets, producer_name="densecore",
                             producer_version=__version__,
                             ir_version=helper.find_min_ir_version_for(opsets))


def save(model, path, *, opset=None, dtype=None):
    """Write :func:`to_onnx` of ``model`` to the file ``path`` (``.onnx``)."""
    onnx.save_model(to_onnx(model, opset=opset, dtype=dtype), path)


# -- skl2onnx -------------------------------------------------------------------


def _converter_dtype(operator):
    """The dtype of the graph a converter builds: float64 for a double input, else
    float32, as skl2onnx's MLP converters decide it."""
    from skl2onnx.common.data_types import DoubleTensorType

    double = isinstance(operator.inputs[0].type, DoubleTensorType)
    return np.dtype(np.float64 if double else np.float32)


def _converter_input(nodes, operator, dtype):
    """The converter's input in ``dtype``: cast to it unless it is a float tensor."""
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    x = operator.inputs[0].full_name
    if isinstance(operator.inputs[0].type, (DoubleTensorType, FloatTensorType)):
        return x
    return nodes.node("Cast", [x], to=ELEMENT_TYPES[dtype])


def _check_converter_opset(container):
    if container.target_opset is not None and container.target_opset < MIN_OPSET:
        raise ValueError(f"densecore's converters need target_opset {MIN_OPSET} or newer, "
                         f"got {container.target_opset}")


def _convert_classifier(scope, operator, container):
    _check_converter_opset(container)
    nodes, dtype = _Skl2onnxNodes(scope, container), _converter_dtype(operator)
    label, probabilities = (output.full_name for output in operator.outputs[:2])
    _classifier_nodes(nodes, operator.raw_operator, _converter_classes(operator),
                      _converter_input(nodes, operator, dtype), dtype, label, probabilities)


def _convert_regressor(scope, operator, container):
    _check_converter_opset(container)
    nodes, dtype = _Skl2onnxNodes(scope, container), _converter_dtype(operator)
    _regressor_nodes(nodes, operator.raw_operator, _converter_input(nodes, operator, dtype),
                     dtype, operator.outputs[0].full_name)


def _converter_classes(operator):
    """The label values: ``classes_``, or 0, 1, ... with the option ``nocl``."""
    from skl2onnx.common.utils_classifier import get_label_classes

    return _label_classes(get_label_classes(operator.scope_inst, operator.raw_operator))


def _classifier_shapes(operator):
    """skl2onnx's shape calculator: ``label`` and ``probabilities`` as :func:`to_onnx`'s."""
    from skl2onnx.common.data_types import (DoubleTensorType, FloatTensorType,
                                            Int64TensorType, StringTensorType)

    estimator, n = operator.raw_operator, operator.inputs[0].get_first_dimension()
    classes = _converter_classes(operator)
    label_shape = [n, len(classes)] if _classifier_kind(estimator) == "multilabel" else [n]
    label_type = StringTensorType if classes.dtype.kind == "U" else Int64TensorType
    proba_type = (DoubleTensorType if _converter_dtype(operator) == np.float64
                  else FloatTensorType)
    operator.outputs[0].type = label_type(shape=label_shape)
    operator.outputs[1].type = proba_type(shape=[n, len(classes)])


def _regressor_shapes(operator):
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    n = operator.inputs[0].get_first_dimension()
    kind = DoubleTensorType if _converter_dtype(operator) == np.float64 else FloatTensorType
    operator.outputs[0].type = kind(shape=[n, operator.raw_operator.n_outputs_])


def register_converter(estimator, *, classifier):
    """Register ``estimator``, a densecore estimator class, with skl2onnx (needs
    skl2onnx): its shape calculator and converter, through the graph of
    :func:`to_onnx`; ``classifier`` says whether it is a
    :class:`~densecore.sklearn.DenseClassifier` (or a subclass of one).

    skl2onnx finds a converter by the model's exact class, so each class needs
    its own; :func:`densecore.sklearn.register_skl2onnx` registers densecore's.
    Registering a class again changes nothing.
    """
    from skl2onnx import update_registered_converter

    update_registered_converter(
        estimator, f"Densecore{estimator.__name__}",
        _classifier_shapes if classifier else _regressor_shapes,
        _convert_classifier if classifier else _convert_regressor,
        options=CLASSIFIER_OPTIONS if classifier else None)
