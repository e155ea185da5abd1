"""densecore.sklearn: scikit-learn's estimator checks and parity with its MLP."""
import copy
import io
import pickle
import pickletools
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

import joblib  # noqa: E402  (a scikit-learn dependency)
from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_digits, make_classification, make_regression  # noqa: E402
from sklearn.exceptions import ConvergenceWarning, NotFittedError  # noqa: E402
from sklearn.utils._param_validation import InvalidParameterError  # noqa: E402
from sklearn.model_selection import GridSearchCV, train_test_split  # noqa: E402
from sklearn.neural_network import MLPClassifier, MLPRegressor  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import (  # noqa: E402
    check_param_validation, estimator_checks_generator)
from threadpoolctl import threadpool_limits  # noqa: E402  (a scikit-learn dependency)

from densecore.sklearn import DenseClassifier, DenseRegressor  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(autouse=True)
def one_blas_thread():
    # These networks are small: a second BLAS thread does not speed them up, and
    # on a busy machine OpenBLAS's waiting threads slow both MLPs down 30-fold.
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def small_data(n_outputs=1, n_samples=50):
    X, y = make_regression(n_samples=n_samples, n_features=4, n_targets=n_outputs,
                           noise=1.0, random_state=0)
    return StandardScaler().fit_transform(X), y / np.std(y, axis=0)


ESTIMATORS = [
    DenseClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.01, max_iter=100,
                    random_state=0),
    DenseRegressor(hidden_layer_sizes=(16,), learning_rate_init=0.01, max_iter=100,
                   random_state=0),
]
# Checks of features these estimators do not have, as MLPClassifier and
# MLPRegressor do not: left out rather than skipped, so that a skip means something.
NOT_APPLICABLE = {
    "check_array_api_input": "no array API dispatch: densecore computes with numpy",
    "check_classifiers_multilabel_output_format_decision_function": "no decision_function",
}
CHECKS = [(estimator, check) for each in ESTIMATORS
          for estimator, check in estimator_checks_generator(each, legacy=True)
          if getattr(check, "func", check).__name__ not in NOT_APPLICABLE]


@pytest.mark.parametrize("estimator, check", CHECKS,
                         ids=[f"{type(e).__name__}-{getattr(c, 'func', c).__name__}"
                              for e, c in CHECKS])
def test_estimator_checks(estimator, check):
    check(estimator)


def test_import_densecore_leaves_sklearn_alone(tmp_path):
    # Run outside the repository, so that the installed package is imported.
    code = "import sys, densecore; print('sklearn' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_defaults_are_mlps():
    for dense, mlp in ((DenseClassifier(), MLPClassifier()), (DenseRegressor(), MLPRegressor())):
        # densecore's own parameters default to the MLP's behaviour.
        extra = {"dropout": 0.0,
                 **({"class_weight": None} if isinstance(mlp, MLPClassifier) else {})}
        expected = {**mlp.get_params(), **extra}
        for name, value in dense.get_params().items():
            assert expected[name] == value, name


def digits_split():
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test


@pytest.mark.parametrize("Dense, MLP, data", [
    (DenseClassifier, MLPClassifier, "digits"), (DenseRegressor, MLPRegressor, "regression")])
def test_lbfgs_reaches_the_mlps_score(Dense, MLP, data):
    if data == "digits":
        X_train, X_test, y_train, y_test = digits_split()
    else:
        X, y = small_data(n_outputs=2, n_samples=200)
        X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    settings = dict(solver="lbfgs", hidden_layer_sizes=(32,), max_iter=200, random_state=0)
    dense, mlp = Dense(**settings).fit(X_train, y_train), MLP(**settings).fit(X_train, y_train)
    assert dense.score(X_test, y_test) >= mlp.score(X_test, y_test) - 0.02
    assert 0 < dense.n_iter_ <= 200 and dense.loss_ == pytest.approx(mlp.loss_, abs=0.05)


def test_lbfgs_warns_as_the_mlp_when_max_fun_stops_it():
    X_train, _, y_train, _ = digits_split()
    model = DenseClassifier(solver="lbfgs", hidden_layer_sizes=(16,), max_fun=10,
                            random_state=0)
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
        model.fit(X_train, y_train)
    assert model.n_iter_ <= 10


@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
@pytest.mark.parametrize("Model", [DenseClassifier, DenseRegressor])
def test_integer_sample_weights_fit_as_repeated_samples(Model, solver):
    X, y = small_data(n_samples=40)
    if Model is DenseClassifier:
        y = (y > 0).astype(int)
    weight = np.random.default_rng(0).integers(0, 3, len(X))
    repeats = np.repeat(np.arange(len(X)), weight)
    # One mini-batch holds all the samples (and no shuffling), so that the means agree.
    settings = dict(solver=solver, hidden_layer_sizes=(5,), batch_size="auto", max_iter=5,
                    shuffle=False, random_state=0, alpha=0.01)
    weighted = Model(**settings).fit(X, y, sample_weight=weight)
    repeated = Model(**settings).fit(X[repeats], y[repeats])
    for a, b in zip(weighted.coefs_ + weighted.intercepts_,
                    repeated.coefs_ + repeated.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    assert weighted.score(X, y, sample_weight=weight) == pytest.approx(
        repeated.score(X[repeats], y[repeats]), rel=1e-12)


def test_sample_weight_is_routed_by_cross_validate_and_grid_search():
    import sklearn
    from sklearn.model_selection import cross_validate

    X_train, _, y_train, _ = digits_split()
    weight = np.where(y_train < 5, 10.0, 0.1)
    with sklearn.config_context(enable_metadata_routing=True):
        model = DenseClassifier((16,), max_iter=5, random_state=0).set_fit_request(
            sample_weight=True).set_score_request(sample_weight=True)
        routed = cross_validate(model, X_train, y_train, cv=2,
                                params={"sample_weight": weight})["test_score"]
        plain = cross_validate(model.set_fit_request(sample_weight=False).set_score_request(
            sample_weight=False), X_train, y_train, cv=2)["test_score"]
        search = GridSearchCV(model.set_fit_request(sample_weight=True),
                              {"alpha": [1e-4, 1e-2]}, cv=2).fit(X_train, y_train,
                                                                 sample_weight=weight)
    assert not np.allclose(routed, plain)  # the weights reached fit and score
    assert search.best_estimator_.n_iter_ == 5


def test_a_poisson_regressor_without_hidden_nonlinearity_is_the_poisson_glm():
    from sklearn.linear_model import PoissonRegressor

    rng = np.random.default_rng(0)
    X = np.linspace(0, 1, 100).reshape(-1, 1)
    y = rng.poisson(np.exp(X.ravel() + 1))
    glm = PoissonRegressor(alpha=0, tol=1e-7).fit(X, y)
    model = DenseRegressor(loss="poisson", hidden_layer_sizes=(1,), activation="identity",
                           alpha=0, solver="lbfgs", tol=1e-7, random_state=1).fit(X, y)
    assert model.out_activation_ == "exp" and (model.predict(X) > 0).all()
    np.testing.assert_allclose(model.predict(X), glm.predict(X), rtol=1e-4)


@pytest.mark.parametrize("Model", [DenseClassifier, DenseRegressor])
def test_lbfgs_has_no_partial_fit(Model):
    # As MLPClassifier's; MLPRegressor's check forgets to call itself and keeps one.
    assert not hasattr(Model(solver="lbfgs"), "partial_fit")
    with pytest.raises(AttributeError, match="has no attribute 'partial_fit'") as error:
        Model(solver="lbfgs").partial_fit
    assert str(error.value.__cause__) == ("partial_fit needs a solver in ('sgd', 'adam'), got "
                                          "solver='lbfgs'")
    assert hasattr(Model(solver="sgd"), "partial_fit")


@pytest.mark.parametrize("name", ["DenseClassifier", "DenseRegressor", "DaskDenseClassifier",
                                  "DaskDenseRegressor"])
def test_sklearns_own_parameter_validation_check(name):
    # A constraint for every parameter, and InvalidParameterError from fit and
    # partial_fit for a value outside each (the Dask fit refuses before it needs
    # a cluster).
    check_param_validation(name, estimator_class(name)(hidden_layer_sizes=(3,), max_iter=2))


@pytest.mark.parametrize("Model", [DenseClassifier, DenseRegressor])
@pytest.mark.parametrize("setting, message", [
    (dict(momentum=1.5), r"'momentum' parameter .* in the range \[0.0, 1.0\]. Got 1.5"),
    (dict(beta_1=1.0), r"'beta_1' parameter .* in the range \[0.0, 1.0\). Got 1.0"),
    (dict(validation_fraction=1.0), r"'validation_fraction' parameter .* \[0.0, 1.0\)"),
    (dict(n_iter_no_change=0), r"'n_iter_no_change' parameter .* an int in the range "
                               r"\[1, inf\) or a float among \{inf\}. Got 0"),
    (dict(n_iter_no_change=2.5), "'n_iter_no_change' parameter"),
    (dict(tol=np.inf), r"'tol' parameter .* \[0.0, inf\). Got inf"),
    (dict(solver="newton"), r"'solver' parameter .* among \{.*'lbfgs'.*\}"),
    (dict(activation="softmax"), r"'activation' parameter .*'leaky_relu'"),
    (dict(max_fun=0), "'max_fun' parameter"),
    (dict(verbose="loud"), "'verbose' parameter"),
    (dict(shuffle=1), "'shuffle' parameter .* an instance of 'bool'"),
])
def test_parameters_out_of_the_mlps_ranges_are_invalid(Model, setting, message):
    X, y = make_classification(n_samples=20, n_features=4, random_state=0)
    model = Model(hidden_layer_sizes=(3,), **setting)
    with pytest.raises(InvalidParameterError, match=message):
        model.fit(X, y)
    assert not hasattr(model, "n_features_in_")
    if setting.get("solver") != "newton":  # which has no partial_fit
        with pytest.raises(InvalidParameterError, match=message):
            model.partial_fit(X, y, **({"classes": [0, 1]} if Model is DenseClassifier
                                       else {}))


@pytest.mark.parametrize("Model", [DenseClassifier, DenseRegressor])
def test_the_ends_of_the_mlps_ranges_train(Model):
    # Values the MLP takes that densecore's optimizers used to refuse.
    X, y = make_classification(n_samples=40, n_features=4, random_state=0)
    for setting in (dict(solver="sgd", momentum=1.0), dict(solver="sgd", momentum=0.0),
                    dict(solver="adam", beta_1=0.0, beta_2=0.0),
                    dict(early_stopping=True, validation_fraction=0.5)):
        model = Model(hidden_layer_sizes=(3,), max_iter=3, random_state=0, **setting).fit(X, y)
        assert model.n_iter_ == 3 and np.isfinite(model.loss_)


def test_coefs_are_sklearn_oriented_and_predict_with_them():
    X, y = small_data(n_outputs=3)
    model = DenseRegressor(hidden_layer_sizes=(5, 6), activation="tanh", max_iter=3,
                           random_state=0).fit(X, y)
    assert [c.shape for c in model.coefs_] == [(4, 5), (5, 6), (6, 3)]
    assert [b.shape for b in model.intercepts_] == [(5,), (6,), (3,)]
    out = X
    for i, (W, b) in enumerate(zip(model.coefs_, model.intercepts_)):
        out = out @ W + b
        out = np.tanh(out) if i < 2 else out
    np.testing.assert_allclose(model.predict(X), out, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("Model", [DenseClassifier, DenseRegressor])
def test_same_random_state_same_fit_bit_for_bit(Model):
    X, y = make_classification(n_samples=120, n_features=6, random_state=0)
    settings = dict(hidden_layer_sizes=(8,), max_iter=5, early_stopping=True,
                    validation_fraction=0.2, n_iter_no_change=100)
    first, second, other = (Model(**settings, random_state=seed).fit(X, y) for seed in (3, 3, 4))
    assert first.loss_curve_ == second.loss_curve_
    for a, b, c in zip(first.coefs_, second.coefs_, other.coefs_):
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_partial_fit_goes_on_like_fit(solver):
    X, y = make_classification(n_samples=90, n_features=5, n_classes=3, n_informative=3,
                               random_state=0)
    settings = dict(hidden_layer_sizes=(7,), solver=solver, batch_size=20, shuffle=False,
                    random_state=0, learning_rate_init=0.01)
    fitted = DenseClassifier(**settings, max_iter=4).fit(X, y)
    stepped = DenseClassifier(**settings)
    for _ in range(4):
        stepped.partial_fit(X, y, classes=[0, 1, 2])
    assert stepped.n_iter_ == 1 and stepped.t_ == 4 * len(X)
    np.testing.assert_array_equal(stepped.loss_curve_, fitted.loss_curve_)
    for a, b in zip(stepped.coefs_, fitted.coefs_):
        np.testing.assert_array_equal(a, b)


def test_pickled_model_goes_on_with_the_same_optimizer_state():
    X, y = small_data()
    model = DenseRegressor(hidden_layer_sizes=(4,), max_iter=3, random_state=0).fit(X, y)
    copy = pickle.loads(pickle.dumps(model))
    for a, b in zip(model.partial_fit(X, y).coefs_, copy.partial_fit(X, y).coefs_):
        np.testing.assert_array_equal(a, b)


def test_partial_fit_needs_classes_first_and_knows_them_after():
    X, y = make_classification(n_samples=40, n_features=4, random_state=0)
    model = DenseClassifier(hidden_layer_sizes=(4,))
    with pytest.raises(ValueError, match="classes"):
        model.partial_fit(X, y)
    model.partial_fit(X[:10], np.zeros(10, dtype=int), classes=[0, 1, 2])
    assert model.predict_proba(X).shape == (40, 3)
    with pytest.raises(ValueError, match="not in classes_"):
        model.partial_fit(X, y + 5)


def test_classes_of_a_later_partial_fit_must_be_the_first_ones():
    X, y = make_classification(n_samples=40, n_features=4, random_state=0)
    model = DenseClassifier(hidden_layer_sizes=(4,), random_state=0)
    model.partial_fit(X, y, classes=[0, 1])
    model.partial_fit(X, y, classes=np.array([1, 0]))  # the same classes, in any order
    t = model.t_
    with pytest.raises(ValueError, match=r"classes must be the classes of the first call to "
                                         r"partial_fit \(or fit\), \[0 1\], got \[1 2\]"):
        model.partial_fit(X, y, classes=[1, 2])
    assert model.t_ == t and model.classes_.tolist() == [0, 1]
    # After fit too, and for the columns of a multilabel indicator.
    fitted = DenseClassifier(hidden_layer_sizes=(4,), max_iter=2).fit(X, y)
    with pytest.raises(ValueError, match="got \\[0 1 2\\]"):
        fitted.partial_fit(X, y, classes=[0, 1, 2])
    Y = np.column_stack([y, 1 - y, X[:, 0] > 0]).astype(int)
    multilabel = DenseClassifier(hidden_layer_sizes=(4,))
    with pytest.raises(ValueError, match=r"\[0 1 2\], got \[0 1 2 3\]"):
        multilabel.partial_fit(X, Y, classes=[0, 1, 2, 3])
    assert not hasattr(multilabel, "classes_")
    multilabel.partial_fit(X, Y, classes=[0, 1, 2]).partial_fit(X, Y)
    assert multilabel.predict_proba(X).shape == (40, 3)


def test_a_warm_start_refuses_other_classes_as_mlp_classifier_does():
    X, y = make_classification(n_samples=60, n_features=4, n_classes=3, n_informative=3,
                               n_redundant=0, random_state=0)
    for Model in (DenseClassifier, MLPClassifier):
        model = Model(hidden_layer_sizes=(4,), max_iter=2, warm_start=True, random_state=0)
        model.fit(X, y)
        for other in (np.where(y == 2, 1, y), np.where(y == 2, 3, y)):
            message = ("warm_start can only be used where `y` has the same classes as in the "
                       f"previous call to fit. Previously got [0 1 2], `y` has {np.unique(other)}")
            with pytest.raises(ValueError, match=re.escape(message)):
                model.fit(X, other)
        model.fit(X[::-1], y[::-1])  # the same classes go on
        assert model.n_iter_ == 2 and len(model.loss_curve_) == 4
    # partial_fit takes a batch without every class, warm start or not (the MLP
    # refuses it under warm_start: scikit-learn issue #11758).
    model = DenseClassifier(hidden_layer_sizes=(4,), max_iter=2, warm_start=True).fit(X, y)
    model.partial_fit(X[y < 2], y[y < 2])
    assert model.t_ == 2 * 60 + np.sum(y < 2)
    # Without warm_start, a fit starts afresh with any classes.
    model.set_params(warm_start=False).fit(X, np.where(y == 2, 3, y))
    assert model.classes_.tolist() == [0, 1, 3]


def test_early_stopping_stratifies_two_classes_only_as_mlp_classifier():
    X = np.arange(40.0).reshape(20, 2)
    binary, three = np.r_[np.zeros(19), 1], np.r_[np.zeros(18), 1, 2]
    for Model in (DenseClassifier, MLPClassifier):
        with pytest.raises(ValueError, match=r"The least populated class.* only 1 member.*"
                                             r"Classes with too few members are: \['True'\]"):
            Model(early_stopping=True, validation_fraction=0.2).fit(X, binary)
        # More classes are split without stratifying: one sample of a class is fine.
        Model(early_stopping=True, validation_fraction=0.2, max_iter=2).fit(X, three)


def test_n_iter_no_change_inf_never_stops_early():
    X, y = small_data()
    model = DenseRegressor(hidden_layer_sizes=(3,), tol=1e9, n_iter_no_change=np.inf,
                           max_iter=40, random_state=0)
    with pytest.warns(ConvergenceWarning):
        model.fit(X, y)
    # No epoch after the first improved by tol: the count grew every epoch.
    assert model.n_iter_ == 40 and model._no_improvement_count == 39
    assert pickle.loads(pickle.dumps(model)).n_iter_no_change == np.inf


def test_loss_is_the_last_epochs_loss_as_mlps():
    X, y = small_data(n_samples=100)
    settings = dict(hidden_layer_sizes=(5,), max_iter=6, random_state=0)
    for Model, Peer in ((DenseRegressor, MLPRegressor), (DenseClassifier, MLPClassifier)):
        target = y if Model is DenseRegressor else y > 0
        ours, theirs = Model(**settings).fit(X, target), Peer(**settings).fit(X, target)
        for model in (ours, theirs):
            assert isinstance(model.loss_, float) and model.loss_ == model.loss_curve_[-1]
        ours.partial_fit(X, target)
        assert ours.loss_ == ours.loss_curve_[-1] and len(ours.loss_curve_) == 7
    # With early stopping: the last epoch's, not the best epoch's kept weights'.
    stopped = DenseRegressor(early_stopping=True, tol=1e9, n_iter_no_change=1,
                             **settings).fit(X, y)
    assert stopped.n_iter_ == 3 and stopped.loss_ == stopped.loss_curve_[-1]


@pytest.mark.parametrize("kind", ["binary", "multiclass", "multilabel"])
def test_predict_log_proba_is_the_log_of_predict_proba(kind):
    X, y = make_classification(n_samples=60, n_features=4, n_classes=3, n_informative=3,
                               n_redundant=0, random_state=0)
    target = {"binary": y > 0, "multiclass": y,
              "multilabel": np.column_stack([y == 0, y == 1, X[:, 0] > 0]).astype(int)}[kind]
    model = DenseClassifier(hidden_layer_sizes=(5,), max_iter=5, random_state=0)
    proba = model.fit(X, target).predict_proba(X)
    np.testing.assert_array_equal(model.predict_log_proba(X), np.log(proba))
    assert model.predict_log_proba(X).shape == (60, 2 if kind == "binary" else 3)


def mlp_lines(text):
    """Printed lines with the numbers that two MLPs may differ in blanked out."""
    return re.sub(r"(loss = |Validation score: )\S+", r"\1#", text).splitlines()


@pytest.mark.parametrize("settings", [
    # Every epoch fails to improve by tol: the rule fires after epoch 2, 4, ...
    dict(solver="sgd", learning_rate="adaptive", learning_rate_init=1e-5),
    dict(solver="adam", early_stopping=True, validation_fraction=0.2),
    dict(solver="sgd", learning_rate="invscaling"),
], ids=["adaptive", "early stopping", "invscaling"])
@pytest.mark.parametrize("Model, Peer", [(DenseRegressor, MLPRegressor),
                                         (DenseClassifier, MLPClassifier)])
def test_verbose_prints_the_lines_the_mlp_prints(Model, Peer, settings, capsys):
    X, y = small_data(n_samples=60)
    y = y if Model is DenseRegressor else y > 0
    common = dict(hidden_layer_sizes=(3,), tol=1e9, n_iter_no_change=1, max_iter=50,
                  random_state=0, verbose=True, **settings)
    peer = Peer(**common).fit(X, y)
    theirs = capsys.readouterr().out
    model = Model(**common).fit(X, y)
    ours = capsys.readouterr().out
    assert mlp_lines(ours) == mlp_lines(theirs)
    assert ours.count("Iteration") == model.n_iter_ and ours.endswith("Stopping.\n")
    assert f"Iteration 1, loss = {model.loss_curve_[0]:.8f}\n" in ours
    if not model.early_stopping:  # which partial_fit refuses
        # An epoch of its own, counted from 1, under the rule carried over.
        peer.partial_fit(X, y)
        theirs = capsys.readouterr().out
        model.partial_fit(X, y)
        ours = capsys.readouterr().out
        assert mlp_lines(ours) == mlp_lines(theirs) and ours.startswith("Iteration 1, loss = ")


def test_verbose_is_silent_by_default(capsys):
    X, y = small_data()
    DenseRegressor(hidden_layer_sizes=(3,), max_iter=3).fit(X, y).partial_fit(X, y)
    assert capsys.readouterr() == ("", "")


def test_binary_has_one_sigmoid_output_and_multilabel_one_per_label():
    X, y = make_classification(n_samples=60, n_features=4, random_state=0)
    binary = DenseClassifier(hidden_layer_sizes=(5,), max_iter=5, random_state=0)
    binary.fit(X, np.where(y, "yes", "no"))
    assert binary.coefs_[-1].shape == (5, 1) and binary.out_activation_ == "logistic"
    proba = binary.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1)
    assert set(binary.predict(X)) <= {"yes", "no"}
    Y = np.column_stack([y, 1 - y, X[:, 0] > 0]).astype(int)
    multilabel = DenseClassifier(hidden_layer_sizes=(5,), max_iter=5, random_state=0).fit(X, Y)
    assert multilabel.predict(X).shape == (60, 3) and multilabel.out_activation_ == "logistic"


def test_max_iter_without_convergence_warns():
    X, y = small_data()
    with pytest.warns(ConvergenceWarning, match="maximum iterations"):
        DenseRegressor(hidden_layer_sizes=(4,), max_iter=2, random_state=0).fit(X, y)


def test_early_stopping_keeps_the_best_epoch():
    X, y = small_data(n_samples=200)
    model = DenseRegressor(hidden_layer_sizes=(8,), early_stopping=True, max_iter=30,
                           learning_rate_init=0.01, random_state=0).fit(X, y)
    assert len(model.validation_scores_) == model.n_iter_
    assert model.best_validation_score_ == max(model.validation_scores_)
    assert model.best_loss_ is None
    with pytest.raises(ValueError, match="early_stopping"):
        model.partial_fit(X, y)


@pytest.mark.parametrize("solver, schedule", [("sgd", "constant"), ("sgd", "adaptive"),
                                              ("sgd", "invscaling"), ("adam", "adaptive")])
def test_stopping_rule_runs_as_many_epochs_as_sklearn(solver, schedule):
    # With a huge tol every epoch fails to improve: the count of epochs is then
    # set by n_iter_no_change and, for "adaptive" sgd, by the divisions of the rate.
    X, y = small_data()
    settings = dict(hidden_layer_sizes=(4,), solver=solver, learning_rate=schedule, tol=1e9,
                    n_iter_no_change=2, max_iter=100, random_state=0)
    ours = DenseRegressor(**settings).fit(X, y)
    theirs = MLPRegressor(**settings).fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_ < 100


@pytest.mark.parametrize("Model, Peer, targets, settings", [
    (DenseRegressor, MLPRegressor, 1, dict(solver="sgd", momentum=0.9)),
    (DenseRegressor, MLPRegressor, 3, dict(solver="sgd", momentum=0.9, nesterovs_momentum=False)),
    (DenseRegressor, MLPRegressor, 3, dict(solver="sgd", momentum=0.0, learning_rate="invscaling",
                                           learning_rate_init=0.05)),
    (DenseRegressor, MLPRegressor, 2, dict(solver="adam")),
    (DenseClassifier, MLPClassifier, 2, dict(solver="sgd", momentum=0.5)),
    (DenseClassifier, MLPClassifier, 3, dict(solver="adam")),
    # The ends of the ranges: momentum without decay, Adam without memory.
    (DenseRegressor, MLPRegressor, 2, dict(solver="sgd", momentum=1.0)),
    (DenseClassifier, MLPClassifier, 3, dict(solver="adam", beta_1=0.0, beta_2=0.0)),
])
def test_same_start_same_steps_as_sklearn(Model, Peer, targets, settings):
    # From the same weights, with batches of 16 (the last one of 2) and a large
    # L2 penalty, a few epochs leave the weights where scikit-learn's leave them.
    X, y = small_data(n_outputs=1 if Model is DenseClassifier else targets)
    if Model is DenseClassifier:
        y = np.digitize(y, np.quantile(y, np.linspace(0, 1, targets + 1)[1:-1]))
    common = dict(hidden_layer_sizes=(6, 5), activation="tanh", alpha=0.5, batch_size=16,
                  shuffle=False, warm_start=True, max_iter=1, random_state=0, **settings)
    ours, theirs = Model(**common).fit(X, y), Peer(**common).fit(X, y)
    theirs.coefs_ = [c.copy() for c in ours.coefs_]
    theirs.intercepts_ = [b.copy() for b in ours.intercepts_]
    ours.set_params(max_iter=3).fit(X, y)
    theirs.set_params(max_iter=3).fit(X, y)
    # scikit-learn's Adam adds epsilon to sqrt(v) before the bias correction,
    # densecore's (PyTorch's) after it: their steps differ by about epsilon.
    atol = 1e-5 if settings["solver"] == "adam" else 1e-9
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=0, atol=atol)
    # The L2 term of loss_curve_ is taken at the weights after the epoch, not
    # before each batch as scikit-learn does.
    np.testing.assert_allclose(ours.loss_curve_[1:], theirs.loss_curve_[1:], rtol=1e-2)


def test_pipeline_and_grid_search():
    X, y = make_classification(n_samples=150, n_features=6, random_state=0)
    X = X * 100 + 50  # unscaled: the pipeline's scaler matters
    pipeline = make_pipeline(StandardScaler(), DenseClassifier(hidden_layer_sizes=(8,),
                                                               max_iter=50, random_state=0))
    search = GridSearchCV(pipeline, {"denseclassifier__alpha": [1e-4, 1e-1],
                                     "denseclassifier__learning_rate_init": [1e-3, 1e-2]}, cv=3)
    search.fit(X, y)
    assert set(search.best_params_) == {"denseclassifier__alpha",
                                        "denseclassifier__learning_rate_init"}
    assert search.best_estimator_.score(X, y) > 0.8


def test_digits_accuracy_within_one_point_of_mlp_classifier():
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X / 16, y, test_size=0.3,
                                                        stratify=y, random_state=0)
    settings = dict(hidden_layer_sizes=(64,), solver="adam", max_iter=50, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = DenseClassifier(**settings).fit(X_train, y_train).score(X_test, y_test)
        theirs = MLPClassifier(**settings).fit(X_train, y_train).score(X_test, y_test)
    print(f"digits test accuracy: DenseClassifier {ours:.4f}, MLPClassifier {theirs:.4f}")
    assert abs(ours - theirs) <= 0.01


def test_regression_close_to_mlp_regressor():
    X, y = make_regression(n_samples=400, n_features=8, noise=5.0, random_state=0)
    X_train, X_test, y_train, y_test = train_test_split(X, y / np.std(y), random_state=0)
    settings = dict(hidden_layer_sizes=(32,), learning_rate_init=0.01, max_iter=100,
                    random_state=0)
    ours = make_pipeline(StandardScaler(), DenseRegressor(**settings))
    theirs = make_pipeline(StandardScaler(), MLPRegressor(**settings))
    ours_score = ours.fit(X_train, y_train).score(X_test, y_test)
    theirs_score = theirs.fit(X_train, y_train).score(X_test, y_test)
    print(f"regression test R^2: DenseRegressor {ours_score:.4f}, MLPRegressor {theirs_score:.4f}")
    assert ours_score > 0.9 and abs(ours_score - theirs_score) < 0.05


def test_docstring_examples_run():
    import doctest

    import densecore.sklearn

    assert doctest.testmod(densecore.sklearn).failed == 0


# -- pickles ------------------------------------------------------------------


def pickle_case(case):
    """An unfitted estimator, and data to fit it on, for each kind of target."""
    X, y = make_classification(n_samples=60, n_features=4, n_classes=3, n_informative=3,
                               n_redundant=0, random_state=0)
    settings = dict(hidden_layer_sizes=(5,), max_iter=4, learning_rate_init=0.01,
                    random_state=0)
    if case == "binary":  # string labels; SGD with momentum and the adaptive schedule
        return (DenseClassifier(**settings, solver="sgd", learning_rate="adaptive"), X,
                np.where(y == 1, "yes", "no"))
    if case == "multiclass":
        return DenseClassifier(**settings), X, y
    if case == "multilabel":
        Y = np.column_stack([y == 0, y == 1, X[:, 0] > 0]).astype(int)
        return DenseClassifier(**settings, solver="sgd", learning_rate="invscaling"), X, Y
    if case == "early stopping":
        return DenseClassifier(**settings, early_stopping=True, validation_fraction=0.3), X, y
    if case == "lbfgs":
        return DenseClassifier(**settings, solver="lbfgs"), X, y
    if case == "sparse":
        from scipy.sparse import csr_matrix
        return DenseClassifier(**settings), csr_matrix(np.where(X > 0.5, X, 0)), y
    X, Y = small_data(n_outputs=2)
    if case == "one target":
        return DenseRegressor(**settings), X, Y[:, 0]
    if case == "poisson":
        return DenseRegressor(**settings, loss="poisson"), X, np.round(np.exp(Y))
    settings["random_state"] = np.random.RandomState(0)
    return DenseRegressor(**settings, alpha=0.01), X, Y


PICKLE_CASES = ["binary", "multiclass", "multilabel", "early stopping", "one target",
                "two targets", "lbfgs", "poisson", "sparse"]


def estimator_class(name):
    module = pytest.importorskip("densecore.dask") if name.startswith("Dask") \
        else pytest.importorskip("densecore.sklearn")
    return getattr(module, name)


def assert_same_state(restored, model):
    """The same class, parameters, attributes, network and optimizer state, bit for bit."""
    from densecore._serialization import to_arrays

    assert type(restored) is type(model) and vars(restored).keys() == vars(model).keys()
    assert restored.get_params().keys() == model.get_params().keys()
    for name, value in {**model.get_params(), **vars(model)}.items():
        copied = getattr(restored, name)
        if name == "_network":
            # The optimizer's state too.
            np.testing.assert_equal(to_arrays(copied.state()), to_arrays(value.state()))
        elif name == "_binarizer":
            np.testing.assert_equal(vars(copied), vars(value))
        elif isinstance(value, np.random.RandomState):
            assert copied is not value
            np.testing.assert_equal(copied.get_state(), value.get_state())
        else:
            np.testing.assert_equal(copied, value, err_msg=name)
            assert type(copied) is type(value) or isinstance(value, float), name
            if isinstance(value, np.ndarray):
                assert copied.dtype == value.dtype and copied.flags.writeable, name


def pickled_globals(data):
    """The (module, name) of each global that loading the pickle ``data`` looks up."""
    found = []

    class Recorder(pickle.Unpickler):
        def find_class(self, module, name):
            found.append((module, name))
            return super().find_class(module, name)

    Recorder(io.BytesIO(data)).load()
    return found


@pytest.mark.parametrize("case", PICKLE_CASES)
def test_a_pickled_estimator_predicts_and_trains_on_as_the_original(case):
    model, X, y = pickle_case(case)
    model.fit(X, y)
    restored = pickle.loads(pickle.dumps(model))
    assert_same_state(restored, model)
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))
    if isinstance(model, DenseClassifier):
        np.testing.assert_array_equal(restored.predict_proba(X), model.predict_proba(X))
    # Training goes on exactly as without the round trip: the same optimizer
    # state, learning rate, stopping counts and random draws.
    if model.early_stopping or model.solver == "lbfgs":  # partial_fit refuses them
        model.set_params(warm_start=True).fit(X, y)
        restored.set_params(warm_start=True).fit(X, y)
    else:
        model.partial_fit(X, y)
        restored.partial_fit(X, y)
    assert model.n_iter_ == restored.n_iter_ > 0 and model.t_ == restored.t_
    assert_same_state(restored, model)


@pytest.mark.parametrize("dump, load", [
    (lambda model: model, copy.deepcopy),
    (lambda model: model, lambda model: pickle.loads(pickle.dumps(model, protocol=0))),
    (lambda model: joblib_bytes(model), lambda data: joblib.load(io.BytesIO(data))),
])
def test_copies_and_joblib_go_through_the_pickle(dump, load):
    model, X, y = pickle_case("multiclass")
    model.fit(X, y)
    copied = load(dump(model))
    assert_same_state(copied, model)
    assert_same_state(clone(model), clone(copied))  # clone copies the parameters only


def joblib_bytes(model):
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("name", ["DenseClassifier", "DenseRegressor", "DaskDenseClassifier",
                                  "DaskDenseRegressor"])
def test_an_unfitted_estimator_pickles_with_its_parameters(name):
    cls = estimator_class(name)
    model = cls(hidden_layer_sizes=[7, 3], activation="tanh", batch_size=16, alpha=0.5,
                random_state=None, shuffle=False, momentum=0, n_iter_no_change=3)
    restored = pickle.loads(pickle.dumps(model))
    assert type(restored) is cls and restored.get_params() == model.get_params()
    assert vars(restored) == vars(model)
    assert type(restored.hidden_layer_sizes) is list and type(restored.momentum) is int
    with pytest.raises(NotFittedError):
        restored.predict(np.zeros((1, 4)))


# The Dask estimators fit on a cluster only: test_dask pickles a fitted one.
@pytest.mark.parametrize("name, fitted", [
    ("DenseClassifier", False), ("DenseClassifier", True), ("DenseRegressor", False),
    ("DenseRegressor", True), ("DaskDenseClassifier", False), ("DaskDenseRegressor", False)])
def test_a_pickle_is_the_class_and_one_blob_of_arrays(name, fitted):
    cls = estimator_class(name)
    model = cls(hidden_layer_sizes=(3,), max_iter=2, random_state=np.random.RandomState(0))
    if fitted:
        model.fit(*make_classification(n_samples=30, n_features=4, random_state=0))
    # Protocols 0 to 2 pickle bytes through a codecs function of their own.
    for protocol in range(3, pickle.HIGHEST_PROTOCOL + 1):
        data = pickle.dumps(model, protocol=protocol)
        opcodes = [(op.name, arg) for op, arg, _ in pickletools.genops(data)]
        assert {op for op, _ in opcodes} <= {
            "PROTO", "FRAME", "SHORT_BINUNICODE", "BINUNICODE", "MEMOIZE", "BINPUT",
            "BINGET", "GLOBAL", "STACK_GLOBAL", "BINBYTES", "BINBYTES8", "TUPLE2", "REDUCE",
            "STOP"}, "no other objects, and no state set after the rebuild"
        assert sum(op in ("GLOBAL", "STACK_GLOBAL") for op, _ in opcodes) == 2
        assert pickled_globals(data) == [("densecore.sklearn", "_from_bytes"),
                                         (cls.__module__, name)]
        [blob] = [arg for _, arg in opcodes if isinstance(arg, bytes)]
        with np.load(io.BytesIO(blob), allow_pickle=False) as archive:
            members = archive.files
        assert {member.split("/")[0] for member in members} == (
            {"estimator", "network"} if fitted else {"estimator"})
        assert "estimator/params/random_state/RandomState/keys" in members
        assert_same_state(pickle.loads(data), model)


def test_a_random_state_instance_pickles_with_its_state():
    random_state = np.random.RandomState(7)
    random_state.standard_normal()  # leaves the second normal draw cached
    model = DenseRegressor(random_state=random_state)
    restored = pickle.loads(pickle.dumps(model)).random_state
    assert restored is not random_state
    np.testing.assert_array_equal(restored.standard_normal(3), random_state.standard_normal(3))
    np.testing.assert_array_equal(restored.randint(10**6, size=5),
                                  random_state.randint(10**6, size=5))


@pytest.mark.parametrize("change, message", [
    (dict(random_state=np.random.default_rng(0)),
     "parameter 'random_state' is a numpy.random._generator.Generator; densecore's format "
     "holds None, bools, ints, floats, strings"),
    (dict(random_state=np.random.RandomState(np.random.PCG64(0))),
     "parameter 'random_state' is a RandomState of bit generator PCG64, not MT19937"),
    (dict(hidden_layer_sizes=(3, "4")),
     r"parameter 'hidden_layer_sizes' is a tuple holding \['int', 'str'\]"),
    (dict(activation=print), "parameter 'activation' is a builtins.builtin_function_or_method"),
    (dict(tol=2**70), "parameter 'tol' is the int 1180591620717411303424, beyond 64 bits"),
])
@pytest.mark.parametrize("dump", [pickle.dumps, copy.deepcopy])
def test_values_the_format_cannot_hold_are_refused_when_pickling(change, message, dump):
    with pytest.raises(TypeError, match="cannot pickle DenseClassifier: " + message):
        dump(DenseClassifier(**change))


def test_attributes_outside_the_format_are_refused_when_pickling():
    model, X, y = pickle_case("multiclass")
    model.fit(X, y).notes = "not part of the model"
    with pytest.raises(TypeError, match=r"DenseClassifier with the attributes \['notes'\]"):
        pickle.dumps(model)
    # A failed fit can leave attributes that do not belong together.
    model = DenseClassifier(hidden_layer_sizes=(3,), max_iter=2).fit(X, y)
    with pytest.raises(ValueError, match="Unknown label type"):
        model.fit(np.ones((10, 7)), np.linspace(0, 1, 10))
    with pytest.raises(ValueError, match="do not belong together .*n_features_in_ is 7 but "
                                         "the network's is 4"):
        pickle.dumps(model)


def fitted_pickle_members(case="multiclass"):
    model, X, y = pickle_case(case)
    from densecore._serialization import read_arrays

    data = pickle.dumps(model.fit(X, y))
    [blob] = [arg for _, arg, _ in pickletools.genops(data) if isinstance(arg, bytes)]
    return dict(read_arrays(blob))


def load_members(members, cls=DenseClassifier):
    from densecore._serialization import arrays_to_bytes
    from densecore.sklearn import _from_bytes

    return _from_bytes(arrays_to_bytes(members), cls)


def test_the_members_of_a_pickle_load_back():
    # The corruptions below start from what loads.
    members = fitted_pickle_members()
    assert load_members(members).n_iter_ == 4
    assert members["estimator/params/hidden_layer_sizes/tuple"].tolist() == [5]
    assert members["estimator/fitted/classes_/array"].tolist() == [0, 1, 2]
    assert str(members["estimator/labels/y_type_/str"]) == "multiclass"
    assert members["network/format_version"] == 2
    assert "network/optimizer/slot_0_0" in members


V, P, F, L = "estimator/format_version", "estimator/params/", "estimator/fitted/", \
    "estimator/labels/"


@pytest.mark.parametrize("remove, add, message", [
    ([V], {}, f"missing member '{V}'"),
    ([], {V: np.array(2)}, f"{V} is 2, this densecore reads version 1"),
    ([], {V: np.array(1.0)}, f"'{V}' must be a 0-d array of integers"),
    ([], {"notes": np.array("hi")}, r"unexpected members \['notes'\]"),
    ([P + "alpha/float"], {}, r"missing parameters \['alpha'\] of DenseClassifier"),
    ([], {P + "gamma/float": np.array(1.0)}, r"DenseClassifier has no parameters \['gamma'\]"),
    ([P + "alpha/float"], {P + "alpha/float": np.array("0.1")},
     f"'{P}alpha/float' must be a 0-d array of dtype kind 'f', got a 0-d array of dtype <U3"),
    ([P + "alpha/float"], {P + "alpha/float": np.ones(2)}, "must be a 0-d array"),
    ([P + "alpha/float"], {P + "alpha/pickle": np.array(1.0)},
     f"'{P}alpha' must be one member of a kind in"),
    ([], {P + "alpha/int": np.array(1)}, f"'{P}alpha' must be one member"),
    ([P + "random_state/int"], {P + "random_state/RandomState/keys": np.zeros(624)},
     f"'{P}random_state' must be one member"),
    ([F + "t_/int"], {F + "t_/float": np.array(240.0)}, "t_ must be of type int, got float"),
    ([F + "t_/int"], {F + "t_/int": np.array(-1)}, "t_ must be >= 0, got -1"),
    ([F + "loss_curve_/list"], {F + "loss_curve_/list": np.arange(3)},
     "loss_curve_ must be a list of floats"),
    ([F + "n_outputs_/int"], {},
     r"a fitted DenseClassifier needs the attributes \['n_outputs_'\]"),
    ([], {F + "coefs_/none": np.zeros(0)}, "DenseClassifier has no fitted attribute 'coefs_'"),
    ([F + "n_features_in_/int"], {F + "n_features_in_/int": np.array(7)},
     "n_features_in_ is 7 but the network's is 4"),
    ([F + "out_activation_/str"], {F + "out_activation_/str": np.array("logistic")},
     "out_activation_ is 'logistic' but the network's is 'softmax'"),
    ([F + "classes_/array"], {F + "classes_/array": np.arange(4)},
     "4 classes of type 'multiclass' cannot have 3 outputs"),
    ([L + "y_type_/str"], {L + "y_type_/str": np.array("continuous")},
     "the label type must be one of"),
    ([L + "y_type_/str", L + "sparse_input_/bool"], {},
     "classes_ and the label binarizer come together"),
    ([L + "sparse_input_/bool"], {}, "the label binarizer must be y_type_ .* and sparse_input_"),
    ([F + "classes_/array", F + "n_features_in_/int"], {}, "a label binarizer needs classes_"),
    ([F + "n_iter_/int"], {F + "n_iter_/int": np.array(True)},
     f"'{F}n_iter_/int' must be a 0-d array of dtype kind 'iu', got a 0-d array of dtype bool"),
    ([], {F + "n_iter_/none": np.zeros(1)}, f"'{F}n_iter_' must be one member"),
    (["network/layers/0/weights"], {"network/layers/0/weights": np.ones((5, 4), np.float32)},
     "its network: 'layers/0/weights' must be float64 of shape"),
    (["network/format_version"], {"network/format_version": np.array(3)},
     "its network: format_version is 3, this densecore reads versions 1 and 2"),
    (["network/loss"], {"network/loss": np.array("mse")},
     "the network must have a 'softmax' output and the loss 'cross_entropy'"),
    (["network/optimizer/slot_0_0"], {}, "its network: optimizer state has slots"),
])
def test_a_corrupted_pickle_is_refused(remove, add, message):
    members = fitted_pickle_members()
    for name in remove:
        del members[name]
    members.update(add)
    with pytest.raises(ValueError, match=message):
        load_members(members)


def test_a_pickle_from_before_verbose_max_fun_and_loss_loads_with_their_defaults():
    members = fitted_pickle_members()
    assert members.pop(P + "verbose/bool") == False  # noqa: E712  (a numpy bool)
    assert members.pop(P + "max_fun/int") == 15000
    loss = float(members.pop(F + "loss_/float"))
    model = load_members(members)
    assert model.get_params()["verbose"] is False and model.max_fun == 15000
    assert not hasattr(model, "loss_") and model.loss_curve_[-1] == loss


def test_a_pickle_without_its_network_is_refused():
    members = {name: value for name, value in fitted_pickle_members().items()
               if not name.startswith("network/")}
    with pytest.raises(ValueError, match=r"the fitted attributes \['_learning_rate', "
                                         r"'_no_improvement_count', .* come with a network"):
        load_members(members)


def test_a_pickle_of_one_class_or_of_a_network_does_not_load_as_another():
    # Less the classifier's own parameter, so that its fitted attributes are what differs.
    members = {key: value for key, value in fitted_pickle_members().items()
               if "/class_weight/" not in key}
    with pytest.raises(ValueError, match="DenseRegressor has no fitted attribute 'classes_'"):
        load_members(members, DenseRegressor)
    regressor = fitted_pickle_members("one target")
    regressor[L + "y_type_/str"] = np.array("binary")
    with pytest.raises(ValueError, match="a DenseRegressor has no label binarizer"):
        load_members(regressor, DenseRegressor)
    from densecore import Network
    from densecore._serialization import arrays_to_bytes, from_bytes, to_bytes
    from densecore.sklearn import _from_bytes

    with pytest.raises(ValueError, match=f"missing member '{V}'"):
        _from_bytes(to_bytes(Network.from_sizes([4, 3]).state()), DenseClassifier)
    with pytest.raises(ValueError, match="missing member 'format_version'"):
        from_bytes(arrays_to_bytes(members), Network)
    with pytest.raises(ValueError, match="not a readable zip archive"):
        _from_bytes(b"not a zip", DenseClassifier)
    with pytest.raises(TypeError, match="cls must be a densecore.sklearn estimator class"):
        _from_bytes(arrays_to_bytes(members), Network)


@pytest.mark.parametrize("field, value, message", [
    ("keys", np.zeros(624, np.int64), "keys' must be uint32 of shape"),
    ("keys", np.zeros(623, np.uint32), "keys' must be uint32 of shape"),
    ("pos", np.array(625), "pos' must be a 0-d range"),
    ("has_gauss", np.array(2), "has_gauss' must be a 0-d range"),
    ("gauss", np.array(np.nan), "gauss' must be a 0-d finite float"),
])
def test_a_corrupted_random_state_is_refused(field, value, message):
    members = fitted_pickle_members("two targets")
    members[f"{P}random_state/RandomState/{field}"] = value
    with pytest.raises(ValueError, match=message):
        load_members(members, DenseRegressor)


def test_one_activation_per_hidden_layer():
    X, y = small_data()
    model = DenseRegressor(hidden_layer_sizes=(5, 4), activation=("logistic", "elu"),
                           max_iter=3, random_state=0).fit(X, y)
    assert model._network.activation_names == ["sigmoid", "elu", "identity"]
    restored = pickle.loads(pickle.dumps(model))
    assert restored.get_params()["activation"] == ("logistic", "elu")
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))
    with pytest.raises(ValueError, match=r"one per hidden layer \(2\)"):
        DenseRegressor(hidden_layer_sizes=(5, 4), activation=("relu",)).fit(X, y)
    with pytest.raises(ValueError, match="sequence of them"):
        DenseRegressor(hidden_layer_sizes=(5,), activation=("swish",)).fit(X, y)


def test_class_weight_is_scikit_learns_sample_weight_by_class():
    X_train, _, y_train, _ = digits_split()
    weight = np.random.default_rng(0).uniform(0.5, 2, len(y_train))
    settings = dict(hidden_layer_sizes=(8,), max_iter=3, random_state=0)
    for class_weight in ({0: 3.0, 5: 0.5}, "balanced"):
        from sklearn.utils.class_weight import compute_sample_weight

        by_class = DenseClassifier(**settings, class_weight=class_weight).fit(
            X_train, y_train, sample_weight=weight)
        by_sample = DenseClassifier(**settings).fit(
            X_train, y_train,
            sample_weight=weight * compute_sample_weight(class_weight, y_train))
        np.testing.assert_array_equal(by_class.coefs_[0], by_sample.coefs_[0])
    restored = pickle.loads(pickle.dumps(by_class))
    assert restored.get_params()["class_weight"] == "balanced"
    dict_model = pickle.loads(pickle.dumps(DenseClassifier(class_weight={0: 3.0, 5: 0.5})))
    assert dict_model.class_weight == {0: 3.0, 5: 0.5}
    with pytest.raises(ValueError, match="partial_fit takes a dict"):
        DenseClassifier(class_weight="balanced").partial_fit(X_train, y_train,
                                                             classes=np.arange(10))
