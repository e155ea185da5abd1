"""The estimators' section: densecore.sklearn's fit beside scikit-learn's MLP.

Each case fits `DenseClassifier`/`DenseRegressor` and `MLPClassifier`/
`MLPRegressor` with the same parameters on the same split, for the adam, sgd
and lbfgs solvers.  The stopping rule is switched off (``tol=0``,
``n_iter_no_change=max_iter``), so that both run exactly ``max_iter`` epochs
(or L-BFGS iterations) and do the same work.  Every fit runs in a fresh
process of its own, so that no other library's BLAS threads are alive and
spinning while it is timed; the time is that of ``fit`` alone, the median of
``repeats`` processes, and the score is that of the held-out quarter.
"""
import multiprocessing
import statistics
import sys
import time
from typing import NamedTuple

from benchmarks.report import columns, verdict

LABEL = "estimator fit"
# densecore over scikit-learn, by solver: the must-reach ratio of fit times.
MUST = {"adam": 2.0, "sgd": 2.0, "lbfgs": 1.3}
SCORE_TOLERANCE = 0.01  # the largest test-score gap allowed beside the ratio


class Case(NamedTuple):
    name: str
    task: str  # "classifier" or "regressor"
    samples: int
    features: int
    epochs: int  # of adam and sgd
    iterations: int  # of lbfgs


CASES = [Case("digits", "classifier", 1797, 64, 30, 100),
         Case("synthetic", "classifier", 100_000, 50, 3, 30),
         Case("synthetic", "regressor", 100_000, 50, 3, 30)]
QUICK = [case._replace(samples=min(case.samples, 2000), epochs=2, iterations=5)
         for case in CASES]


def data(case):
    """``(X_train, X_test, y_train, y_test)``, scaled, seed 0."""
    from sklearn.datasets import load_digits, make_classification, make_regression
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    if case.name == "digits":
        X, y = load_digits(return_X_y=True)
    elif case.task == "classifier":
        X, y = make_classification(case.samples, case.features, n_informative=20,
                                   n_classes=5, random_state=0)
    else:
        X, y = make_regression(case.samples, case.features, n_informative=20, noise=10,
                               random_state=0)
        y = y / y.std()
    X_train, X_test, y_train, y_test = train_test_split(X[:case.samples], y[:case.samples],
                                                        random_state=0)
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test


def estimator(library, case, solver):
    """The estimator of ``library`` ("densecore" or "sklearn") for the case and solver."""
    if library == "densecore":
        from densecore.sklearn import DenseClassifier as Classifier
        from densecore.sklearn import DenseRegressor as Regressor
    else:
        from sklearn.neural_network import MLPClassifier as Classifier
        from sklearn.neural_network import MLPRegressor as Regressor
    rounds = case.iterations if solver == "lbfgs" else case.epochs
    parameters = dict(hidden_layer_sizes=(100,), solver=solver, max_iter=rounds, tol=0.0,
                      n_iter_no_change=rounds, random_state=0, learning_rate_init=0.01)
    return (Classifier if case.task == "classifier" else Regressor)(**parameters)


def fit_once(library, case, solver):
    """``(seconds of fit, test score)``: run in a process of its own."""
    import warnings

    X_train, X_test, y_train, y_test = data(case)
    model = estimator(library, case, solver)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter is reached on purpose
        start = time.perf_counter()
        model.fit(X_train, y_train)
        seconds = time.perf_counter() - start
    return seconds, model.score(X_test, y_test)


def measure(case, solver, repeats):
    """``{library: (median seconds, median score)}``, the libraries alternating."""
    context = multiprocessing.get_context("spawn")
    runs = {"densecore": [], "sklearn": []}
    for round_ in range(repeats):
        for library in (list(runs) if round_ % 2 == 0 else list(runs)[::-1]):
            with context.Pool(1) as pool:
                runs[library].append(pool.apply(fit_once, (library, case, solver)))
    return {library: tuple(statistics.median(values) for values in zip(*results))
            for library, results in runs.items()}


def run(out, quick=False, repeats=3):
    """Measure every case and solver and print the table and the targets with ``out``."""
    header = ("case", "solver", "densecore s", "scikit-learn s", "densecore/sklearn",
              "densecore score", "scikit-learn score")
    rows, lines = [], []
    for case in QUICK if quick else CASES:
        label = f"{case.name} {case.samples}x{case.features} {case.task}"
        for solver in MUST:
            print(f"measuring {LABEL} {label} {solver}", file=sys.stderr)
            times = measure(case, solver, 1 if quick else repeats)
            (ours, our_score), (theirs, their_score) = times["densecore"], times["sklearn"]
            rows.append((label, solver, f"{ours:.3f}", f"{theirs:.3f}",
                         f"{theirs / ours:.2f}x", f"{our_score:.4f}", f"{their_score:.4f}"))
            same = abs(our_score - their_score) <= SCORE_TOLERANCE
            lines.append(verdict(f"{LABEL} {label} {solver}", theirs / ours, MUST[solver])
                         + ("" if same else f", test score differs by more than "
                                            f"{SCORE_TOLERANCE}: MISSED"))
    out(f"{LABEL}: hidden (100,), the same parameters on both sides, each fit in a process "
        "of its own")
    for line in [*columns(header, rows), "", *lines]:
        out(line)
