"""densecore.sklearn: scikit-learn's estimator checks and parity with its MLP."""
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.datasets import load_digits, make_classification, make_regression  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, train_test_split  # noqa: E402
from sklearn.neural_network import MLPClassifier, MLPRegressor  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import estimator_checks_generator  # noqa: E402
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
        expected = mlp.get_params()
        for name, value in dense.get_params().items():
            assert expected[name] == value, name


def test_lbfgs_is_refused_at_fit_not_before():
    X, y = small_data()
    model = DenseRegressor(solver="lbfgs")
    with pytest.raises(ValueError, match="lbfgs"):
        model.fit(X, y)


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
