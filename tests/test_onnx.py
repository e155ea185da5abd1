"""densecore.onnx: exported models run by onnxruntime give what densecore predicts."""
import os
import subprocess
import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import densecore  # noqa: E402
from densecore import Layer, Network  # noqa: E402
from densecore.activations import ACTIVATIONS  # noqa: E402
from densecore.onnx import (ACTIVATION_NODES, DEFAULT_OPSET, MIN_OPSET, save,  # noqa: E402
                            to_onnx)

# The estimators here train briefly: their convergence is not the point.
pytestmark = pytest.mark.filterwarnings("ignore:Stochastic optimizer:UserWarning")

TOLERANCE = {np.float32: 1e-5, np.float64: 1e-12}
BATCHES = (1, 2, 17)  # one model runs them all: the batch dimension is symbolic
# Every loss with the output activations it takes: mse after any.
OUTPUTS = [(name, "mse") for name in ACTIVATIONS] + [
    ("softmax", "cross_entropy"), ("sigmoid", "binary_cross_entropy"), ("exp", "poisson")]


def session(model):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def run(model, X, output):
    return session(model).run([output], {"X": X})[0]


def network(hidden, output, loss, dtype, dropout=0.0):
    layers = Network.from_sizes([5, 6, 6, 4], activation=hidden, output_activation=output,
                                dtype=dtype, seed=1, dropout=dropout).layers
    return Network(layers, loss=loss)


def rows(n, n_features, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal((n, n_features)).astype(dtype)


def test_exporting_imports_onnx_alone():
    code = ("import sys, densecore.onnx; "
            "print([name for name in ('sklearn', 'skl2onnx', 'onnxruntime', 'torch') "
            "if name in sys.modules])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, timeout=120, cwd=os.path.dirname(sys.executable))
    assert result.stdout.strip() == "[]"


def test_every_activation_has_its_nodes():
    assert set(ACTIVATION_NODES) == set(ACTIVATIONS)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("output, loss", OUTPUTS)
@pytest.mark.parametrize("hidden", sorted(ACTIVATIONS))
def test_network_export_predicts_as_the_network(hidden, output, loss, dtype):
    net = network(hidden, output, loss, dtype)
    model = to_onnx(net)
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version == DEFAULT_OPSET
    runner = session(model)
    for n in BATCHES:
        X = rows(n, 5, dtype, seed=n)
        (Y,) = runner.run(["Y"], {"X": X})
        assert Y.dtype == dtype and Y.shape == (n, 4)
        np.testing.assert_allclose(Y, net.predict(X), rtol=TOLERANCE[dtype],
                                   atol=TOLERANCE[dtype])


def test_the_batch_dimension_is_symbolic():
    model = to_onnx(network("relu", "softmax", None, np.float64))
    for value in (*model.graph.input, *model.graph.output):
        assert value.type.tensor_type.shape.dim[0].dim_param == "N"


def test_dropout_leaves_no_node_and_changes_nothing():
    net = network("relu", "softmax", None, np.float64, dropout=0.4)
    model = to_onnx(net)
    assert [node.op_type for node in model.graph.node] == [
        "Gemm", "Relu", "Gemm", "Relu", "Gemm", "Softmax", "Identity"]
    X = rows(9, 5, np.float64)
    np.testing.assert_allclose(run(model, X, "Y"), net.predict(X), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("source, target", [(np.float64, np.float32), (np.float32, np.float64)])
def test_dtype_chooses_the_model_element_type(source, target):
    net = network("tanh", "sigmoid", None, source)
    model = to_onnx(net, dtype=np.dtype(target).name)
    assert model.graph.input[0].type.tensor_type.elem_type == (
        onnx.TensorProto.FLOAT if target == np.float32 else onnx.TensorProto.DOUBLE)
    X = rows(8, 5, target)
    Y = run(model, X, "Y")
    assert Y.dtype == target
    np.testing.assert_allclose(Y, net.predict(X.astype(source)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("opset", [MIN_OPSET, 17, onnx.defs.onnx_opset_version()])
def test_every_supported_opset_checks(opset):
    model = to_onnx(network("leaky_relu", "softmax", None, np.float32), opset=opset)
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version == opset


def test_bad_arguments_are_refused():
    net = network("relu", "softmax", None, np.float64)
    with pytest.raises(ValueError, match=r"opset must lie in \[13, "):
        to_onnx(net, opset=12)
    with pytest.raises(ValueError, match="got 100000"):
        to_onnx(net, opset=100_000)
    for opset in ("18", 18.0, True):
        with pytest.raises(TypeError, match="opset must be an int"):
            to_onnx(net, opset=opset)
    with pytest.raises(ValueError, match="dtype must be float32 or float64, got 'int8'"):
        to_onnx(net, dtype="int8")
    for model in (object(), Layer(3, 2), net.layers):
        with pytest.raises(TypeError, match="model must be a densecore Network"):
            to_onnx(model)


def test_a_python_callable_activation_is_refused():
    net = Network([Layer(3, 2, np.tanh, lambda x: 1 - np.tanh(x) ** 2)])
    with pytest.raises(ValueError, match="only named activations"):
        to_onnx(net)


def test_save_onnx_round_trip(tmp_path):
    net = network("elu", "exp", "poisson", np.float32)
    net.save_onnx(tmp_path / "net.onnx", opset=18)
    model = onnx.load(tmp_path / "net.onnx")
    assert model.opset_import[0].version == 18
    assert model.producer_name == "densecore" and model.producer_version == densecore.__version__
    X = rows(5, 5, np.float32)
    np.testing.assert_allclose(run(model, X, "Y"), net.predict(X), rtol=1e-5, atol=1e-5)
    save(net, tmp_path / "again.onnx")
    assert onnx.load(tmp_path / "again.onnx") == to_onnx(net)


# -- the command line --------------------------------------------------------------


def export(*arguments, cwd):
    return subprocess.run([sys.executable, "-m", "densecore", "export", *arguments], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_cli_exports_a_saved_model(tmp_path):
    net = network("relu", "softmax", None, np.float64)
    net.save(tmp_path / "model.npz")
    result = export("model.npz", "model.onnx", "--opset", "17", "--dtype", "float32",
                    cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "wrote ONNX to model.onnx" in result.stdout
    model = onnx.load(tmp_path / "model.onnx")
    assert model.opset_import[0].version == 17
    X = rows(6, 5, np.float32)
    np.testing.assert_allclose(run(model, X, "Y"), net.predict(X), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("arguments, message", [
    (["missing.npz", "out.onnx"], "missing.npz"),
    (["model.npz", "out.onnx", "--opset", "3"], "opset must lie in"),
    (["model.npz", "out.onnx", "--dtype", "int8"], "invalid choice"),
    (["model.npz"], "the following arguments are required: OUTPUT"),
])
def test_cli_export_fails_cleanly(tmp_path, arguments, message):
    network("relu", "softmax", None, np.float64).save(tmp_path / "model.npz")
    result = export(*arguments, cwd=tmp_path)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out.onnx").exists()


# -- the estimators ------------------------------------------------------------------


def classification(kind, labels, dtype, n=90):
    """``(X, y)``: blobs of 2 or 3 classes of ``labels`` ("int" or "str"), or a
    multilabel indicator matrix of 3 labels."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, 4)).astype(dtype)
    if kind == "multilabel":
        return X, (X[:, :3] > 0).astype(int)
    classes = 2 if kind == "binary" else 3
    y = np.arange(n) % classes
    X[:, 0] += 2 * y
    names = np.array([7, -1, 42]) if labels == "int" else np.array(["cat", "dog", "emu"])
    return X, names[y]


def fitted_classifier(kind, labels, dtype):
    from densecore.sklearn import DenseClassifier

    X, y = classification(kind, labels, dtype)
    return DenseClassifier((8,), max_iter=30, random_state=0).fit(X, y), X


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind, labels", [("binary", "int"), ("binary", "str"),
                                          ("multiclass", "int"), ("multiclass", "str"),
                                          ("multilabel", "int")])
def test_classifier_export_gives_labels_and_probabilities(kind, labels, dtype):
    pytest.importorskip("sklearn")
    clf, X = fitted_classifier(kind, labels, dtype)
    assert clf.network_.dtype == dtype
    model = to_onnx(clf)
    onnx.checker.check_model(model, full_check=True)
    assert [output.name for output in model.graph.output] == ["label", "probabilities"]
    label_type = model.graph.output[0].type.tensor_type.elem_type
    assert label_type == (onnx.TensorProto.STRING if labels == "str" else onnx.TensorProto.INT64)
    runner = session(model)
    for n in BATCHES:
        label, probabilities = runner.run(["label", "probabilities"], {"X": X[:n]})
        np.testing.assert_array_equal(label, clf.predict(X[:n]))
        np.testing.assert_allclose(probabilities, clf.predict_proba(X[:n]),
                                   rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype])


def test_a_two_class_tie_goes_to_the_first_class_as_predict():
    clf, X = fitted_classifier("binary", "str", np.float64)
    out = clf.network_.layers[-1]
    out.weights[...] = 0
    out.bias[...] = 0  # every probability is exactly one half
    label, probabilities = session(to_onnx(clf)).run(None, {"X": X[:3]})
    assert list(label) == list(clf.predict(X[:3])) == ["cat"] * 3
    np.testing.assert_array_equal(probabilities, 0.5)


@pytest.mark.parametrize("loss", ["squared_error", "poisson"])
@pytest.mark.parametrize("n_targets", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_regressor_export_gives_its_predictions(loss, n_targets, dtype):
    from densecore.sklearn import DenseRegressor

    rng = np.random.default_rng(1)
    X = rng.standard_normal((60, 3)).astype(dtype)
    y = np.exp(X[:, :n_targets] / 2).squeeze()
    reg = DenseRegressor(loss, (8,), max_iter=20, random_state=0).fit(X, y)
    model = to_onnx(reg)
    onnx.checker.check_model(model, full_check=True)
    (variable,) = session(model).run(["variable"], {"X": X})
    assert variable.shape == (60, n_targets) and variable.dtype == dtype
    np.testing.assert_allclose(variable, reg.predict(X).reshape(60, -1),
                               rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype])


def test_estimator_save_onnx_and_errors(tmp_path):
    from sklearn.exceptions import NotFittedError

    from densecore.sklearn import DenseClassifier, DenseRegressor

    clf, X = fitted_classifier("multiclass", "int", np.float64)
    clf.save_onnx(tmp_path / "clf.onnx", dtype="float32")
    label, probabilities = session(onnx.load(tmp_path / "clf.onnx")).run(
        None, {"X": X.astype(np.float32)})
    np.testing.assert_allclose(probabilities, clf.predict_proba(X), rtol=1e-5, atol=1e-5)
    assert np.mean(label == clf.predict(X)) > 0.95  # float32 may flip a near tie
    for unfitted in (DenseClassifier(), DenseRegressor()):
        with pytest.raises(NotFittedError):
            to_onnx(unfitted)
    clf.classes_ = np.array([0.5, 1.5, 2.5])  # scikit-learn's checks let none such be fitted
    with pytest.raises(TypeError, match="classes_ must be integers or strings"):
        to_onnx(clf)


def test_dask_classifier_exports(client):
    da = pytest.importorskip("dask.array")
    from densecore.dask import DaskDenseClassifier

    X, y = classification("multiclass", "str", np.float64, n=120)
    clf = DaskDenseClassifier((8,), max_iter=5, batch_size=16, sync_every=4, random_state=0)
    clf.fit(da.from_array(X, chunks=60), da.from_array(y, chunks=60))
    label, probabilities = session(to_onnx(clf)).run(None, {"X": X})
    np.testing.assert_array_equal(label, clf.predict(X))
    np.testing.assert_allclose(probabilities, clf.predict_proba(X), rtol=1e-12, atol=1e-12)


# -- skl2onnx ----------------------------------------------------------------------


@pytest.fixture
def registered():
    skl2onnx = pytest.importorskip("skl2onnx")
    from densecore.sklearn import register_skl2onnx

    register_skl2onnx()
    register_skl2onnx()  # a second call changes nothing
    return skl2onnx


def scaled(estimator):
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return Pipeline([("scale", StandardScaler()), ("net", estimator)])


@pytest.mark.parametrize("kind, labels", [("binary", "str"), ("multiclass", "int")])
def test_skl2onnx_converts_a_classifier_pipeline(registered, kind, labels):
    from densecore.sklearn import DenseClassifier

    X, y = classification(kind, labels, np.float64)
    X = X * 10 + 3  # the scaler has work to do
    pipe = scaled(DenseClassifier((8,), max_iter=30, random_state=0)).fit(X, y)
    # Like MLPClassifier's: a ZipMap of probabilities by default, a tensor without it.
    zipped = session(registered.to_onnx(pipe, X[:1].astype(np.float32)))
    label, dicts = zipped.run(None, {"X": X.astype(np.float32)})
    np.testing.assert_array_equal(label, pipe.predict(X))
    assert list(dicts[0]) == list(pipe.classes_)
    model = registered.to_onnx(pipe, X[:1], options={DenseClassifier: {"zipmap": False}})
    onnx.checker.check_model(model, full_check=True)
    label, probabilities = session(model).run(None, {"X": X})  # doubles throughout
    np.testing.assert_array_equal(label, pipe.predict(X))
    np.testing.assert_allclose(probabilities, pipe.predict_proba(X), rtol=1e-12, atol=1e-12)
    # nocl: the classes' indices, in the label and as the ZipMap's keys (float32:
    # onnxruntime's ZipMap takes no doubles).
    X = X.astype(np.float32)
    indexed = session(registered.to_onnx(pipe, X[:1], options={DenseClassifier: {"nocl": True}}))
    label, dicts = indexed.run(None, {"X": X})
    np.testing.assert_array_equal(pipe.classes_[label], pipe.predict(X))
    assert list(dicts[0]) == list(range(len(pipe.classes_)))


def test_skl2onnx_converts_a_regressor_pipeline(registered):
    from densecore.sklearn import DenseRegressor

    rng = np.random.default_rng(2)
    X = rng.standard_normal((50, 3)) * 5 + 1
    pipe = scaled(DenseRegressor(hidden_layer_sizes=(8,), max_iter=20, random_state=0))
    pipe.fit(X, X[:, 0] - X[:, 1])
    for dtype, tolerance in ((np.float32, 1e-4), (np.float64, 1e-12)):
        (variable,) = session(registered.to_onnx(pipe, X[:1].astype(dtype))).run(
            None, {"X": X.astype(dtype)})
        # float32: the scaler and the network both round to float32 here.
        np.testing.assert_allclose(variable.ravel(), pipe.predict(X), rtol=tolerance,
                                   atol=tolerance)
