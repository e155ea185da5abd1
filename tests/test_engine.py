"""The training engine: the session, the one epoch loop, schedules and stopping rules."""
import math

import numpy as np
import pytest

from densecore import Network, _train, training


def problem(seed=0, n=80):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4))
    return X, (X[:, 0] > 0).astype(int)


# -- schedules and stopping rules -----------------------------------------------

def test_invscaling_counts_the_samples_seen():
    schedule = training.InvScaling(0.5, power_t=0.5, samples_per_epoch=10, seen=30)
    assert schedule.rate == 0.5  # until the first epoch ends
    schedule.after_epoch()
    assert schedule.rate == 0.5 / 41 ** 0.5 and not schedule.reduce()


def test_adaptive_divides_by_five_down_to_its_floor():
    schedule = training.Adaptive(1e-5)
    assert schedule.reduce() and schedule.rate == pytest.approx(2e-6)
    assert schedule.reduce() and schedule.rate == pytest.approx(4e-7)
    assert not schedule.reduce() and schedule.rate == pytest.approx(4e-7)


def test_plateau_is_keras_rule():
    rule = training.Plateau("loss", patience=2, min_delta=0.1)
    assert [rule.update({"loss": value}) for value in (1.0, 0.95, 0.85, 0.9)] == [
        True, False, True, False]
    assert not rule.stalled
    rule.update({"loss": 0.8})  # better, but not by min_delta
    assert rule.stalled and rule.best == 0.85
    rule.reset()
    assert not rule.stalled


@pytest.mark.parametrize("maximize, values, counts", [
    (False, [1.0, 0.99995, 0.5, 0.5], [0, 1, 0, 1]),
    (True, [0.5, 0.50005, 0.9, 0.8], [0, 1, 0, 1]),
])
def test_no_improvement_is_scikit_learns_rule(maximize, values, counts):
    rule = training.NoImprovement("score", tol=1e-4, n_iter_no_change=1, maximize=maximize)
    seen = []
    for value in values:
        rule.update({"score": value})
        seen.append(rule.count)
    assert seen == counts and rule.best == (0.9 if maximize else 0.5)
    rule.update({"score": values[-1]})
    assert rule.stalled  # more than n_iter_no_change epochs without progress


# -- the loop -----------------------------------------------------------------

def test_train_stops_when_stalled_and_restores_the_best_checkpoint():
    weights = np.zeros(1)
    losses = iter([3.0, 1.0, 2.0, 2.0, 2.0, 0.0])

    def run_epoch(rate):
        weights[0] += 1
        return {"loss": next(losses)}

    trained = training.train(run_epoch, epochs=6, schedule=training.Constant(0.1),
                             rule=training.Plateau("loss", patience=2, min_delta=0),
                             stop_when_stalled=True, checkpoint=training.Checkpoint(weights))
    assert trained.stopped and trained.history["loss"] == [3.0, 1.0, 2.0, 2.0]
    assert trained.history["learning_rate"] == [0.1] * 4
    assert weights[0] == 2  # as after the best epoch, the second


def test_a_stall_lowers_an_adaptive_rate_instead_of_stopping():
    trained = training.train(lambda rate: {"loss": 1.0}, epochs=4,
                             schedule=training.Adaptive(1.0),
                             rule=training.Plateau("loss", patience=1, min_delta=0),
                             stop_when_stalled=True)
    assert not trained.stopped
    assert trained.history["learning_rate"] == [1.0, 1.0, 0.2, pytest.approx(0.04)]


def test_train_names_the_epoch_that_diverged():
    def run_epoch(rate):
        raise FloatingPointError("the loss became inf")

    with pytest.raises(FloatingPointError, match="diverged in epoch 1: the loss became inf"):
        training.train(run_epoch, epochs=2, schedule=training.Constant(0.1))


# -- the session ------------------------------------------------------------------

def test_a_session_rolls_back_a_diverged_epoch_in_place():
    net = Network.from_sizes([4, 5, 1], output_activation="identity", seed=0)
    net.reset_optimizer("adam")
    session = net.training_session(8)
    X, y = problem()
    X, Y = session.data(X, 1e200 * y)
    before = net.state()
    with pytest.raises(FloatingPointError, match="before that epoch"):
        session.epoch(X, Y, np.arange(len(X)), 0.1)
    after = net.state()
    np.testing.assert_array_equal(after["parameters"], before["parameters"])
    np.testing.assert_array_equal(after["optimizer"]["slots"], before["optimizer"]["slots"])
    assert after["optimizer"]["step"] == 0


def test_an_epoch_of_a_session_is_partial_fit():
    X, y = problem()
    nets = [Network.from_sizes([4, 6, 2], activation="tanh", seed=1) for _ in range(2)]
    nets[0].partial_fit(X, y, batch_size=16, shuffle=False, optimizer="adam")
    nets[1].reset_optimizer("adam")
    session = nets[1].training_session(16)
    tally = session.epoch(*session.data(X, y), np.arange(len(X)), 0.01)
    assert tally.samples == tally.answers == len(X) and 0 <= tally.right <= len(X)
    assert math.isfinite(tally.loss)
    np.testing.assert_array_equal(nets[1].parameters, nets[0].parameters)


@pytest.mark.filterwarnings("ignore:Stochastic optimizer")  # max_iter is small on purpose
def test_an_estimator_fit_builds_one_session_and_one_trainer(monkeypatch):
    pytest.importorskip("sklearn")
    from densecore.sklearn import DenseClassifier

    built = {"sessions": 0, "trainers": 0}
    session_init, trainer = training.Session.__init__, _train.Trainer

    def count_session(self, *args, **kwargs):
        built["sessions"] += 1
        session_init(self, *args, **kwargs)

    def count_trainer(*args):
        built["trainers"] += 1
        return trainer(*args)

    monkeypatch.setattr(training.Session, "__init__", count_session)
    monkeypatch.setattr(_train, "Trainer", count_trainer)
    X, y = problem()
    clf = DenseClassifier((6,), max_iter=7, n_iter_no_change=100, random_state=0).fit(X, y)
    assert clf.n_iter_ == 7 and built == {"sessions": 1, "trainers": 1}
