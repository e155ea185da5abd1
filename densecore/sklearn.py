"""scikit-learn estimators trained by densecore: DenseClassifier and DenseRegressor.

They take the parameters of :class:`~sklearn.neural_network.MLPClassifier` and
:class:`~sklearn.neural_network.MLPRegressor` and train the way those do (the
same mini-batches, L2 penalty, learning-rate schedules, stopping rules and
early stopping), through densecore's training session and epoch loop
(:mod:`densecore.training`).
Importing this module needs scikit-learn; ``import densecore`` does not.
"""
import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state, column_or_1d
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.validation import _num_samples, check_is_fitted, validate_data

from densecore import _serialization, activations, losses, optimizers, training
from densecore._validation import dropout_rates, sample_weights
from densecore.network import Network

__all__ = ["DenseClassifier", "DenseRegressor", "register_skl2onnx"]

# The one activation scikit-learn names otherwise ("logistic" for sigmoid).
SKLEARN_NAMES = {"sigmoid": "logistic"}
# The activations only the MLP's output layer has: softmax, and exp for "poisson".
OUTPUTS_ONLY = {"softmax", "exp"}
# scikit-learn's names for the hidden activations -> densecore's: every row of
# densecore's table but the outputs'.
ACTIVATIONS = {SKLEARN_NAMES.get(name, name): name for name in activations.ACTIVATIONS
               if name not in OUTPUTS_ONLY}
# The MLP's stochastic solvers, densecore's optimizers of the same names: the ones
# that step through mini-batches (partial_fit and the Dask estimators need one).
SOLVERS = ("sgd", "adam")
# The sparse formats the network's first layer takes (CSC becomes CSR once per call).
SPARSE = ["csr", "csc"]
# Seeds handed to densecore are drawn below this bound.
SEED_BOUND = np.iinfo(np.int32).max

# The members of an estimator's pickle (see _DenseBase.__reduce__).  Its layout
# has a version of its own: the network inside keeps the format_version of its
# file, read by the same code as a saved network, so either part can change,
# and an unknown version of either is refused, without the other.
PICKLE_FORMAT_VERSION = 1
VERSION = "estimator/format_version"
PARAMS = "estimator/params/"
FITTED = "estimator/fitted/"
LABELS = "estimator/labels/"
NETWORK = "network/"

_PARAMETERS = """
    Parameters
    ----------
    hidden_layer_sizes : int or tuple of int, default=(100,)
        The number of units of each hidden layer.
    activation : {"identity", "logistic", "tanh", "relu", "leaky_relu", "elu"} or tuple, \
default="relu"
        The hidden layers' activation ("logistic" is densecore's "sigmoid"), or
        one per hidden layer, e.g. ``("relu", "tanh")``.
    solver : {"sgd", "adam", "lbfgs"}, default="adam"
        :class:`densecore.SGD` with ``momentum`` and ``nesterovs_momentum``,
        :class:`densecore.Adam` with ``beta_1``, ``beta_2`` and ``epsilon``, or
        :class:`densecore.LBFGS` (scipy's L-BFGS-B on the whole training set,
        the loss and gradient computed by the compiled kernels) with
        ``max_iter``, ``max_fun`` and ``tol``; there is no ``partial_fit`` with
        it, as in MLPClassifier.
    alpha : float, default=0.0001
        L2 penalty as scikit-learn counts it: ``0.5 * alpha * ||W||^2`` per
        mini-batch, divided by the batch's size.
    batch_size : int or "auto", default="auto"
        Samples per mini-batch; "auto" is ``min(200, n_samples)``.
    learning_rate : {"constant", "invscaling", "adaptive"}, default="constant"
        The schedule of the step size, used by the "sgd" solver only:
        "invscaling" is ``learning_rate_init / (t + 1) ** power_t`` with ``t``
        the samples seen; "adaptive" divides the rate by 5 each time the
        stopping rule fires, and stops below 1e-6.
    learning_rate_init : float, default=0.001
        The initial step size.
    power_t : float, default=0.5
        The exponent of "invscaling".
    max_iter : int, default=200
        The most epochs a call to ``fit`` runs.
    shuffle : bool, default=True
        Whether each epoch visits the samples in a new random order.
    random_state : int, RandomState instance or None, default=None
        Draws the initial weights, the order of each epoch and the
        validation split: an int gives the same fit, bit for bit.
    tol : float, default=1e-4
        The improvement of the training loss (or of the validation score with
        ``early_stopping``) that counts as progress.
    verbose : bool or int, default=False
        Whether to print the MLP's progress lines to stdout: each epoch's
        loss, its validation score with ``early_stopping``, and why training
        stopped or "adaptive" lowered the rate.
    momentum : float, default=0.9
        The momentum of "sgd", in [0, 1] (1: the velocity sums every gradient).
    nesterovs_momentum : bool, default=True
        Whether "sgd" uses Nesterov's momentum (when ``momentum > 0``).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data, score it after
        each epoch, stop when the score stops improving and keep the best
        epoch's weights.  As the MLP's, the split is stratified for a
        classifier of two classes only (not for more, nor for multilabel
        targets), and a validation set of fewer than 2 samples is refused.
    validation_fraction : float, default=0.1
        The share of the data held out by ``early_stopping``, in [0, 1) (as
        the MLP's; with ``early_stopping``, scikit-learn's split refuses 0).
    beta_1, beta_2 : float, default=0.9 and 0.999
        Adam's decay rates of its moment estimates, in [0, 1).
    epsilon : float, default=1e-8
        Adam's guard against division by zero.
    n_iter_no_change : int or np.inf, default=10
        Epochs without progress of at least ``tol`` after which training stops
        (or "adaptive" lowers the rate); ``np.inf`` never stops early.
    warm_start : bool, default=False
        Whether ``fit`` goes on from the current weights instead of new ones.
        A classifier's warm start must see the classes it saw before.
    max_fun : int, default=15000
        The most loss evaluations of "lbfgs"; ``max_iter`` bounds its
        iterations and ``tol`` is its gradient tolerance (scipy's ``gtol``).
    dropout : float or sequence of float, default=0.0
        Inverted dropout in training: each hidden layer's outputs are zeroed
        with this probability (one rate for all, or one per hidden layer) and
        the others scaled by ``1 / (1 - rate)``; never in prediction, and
        refused by "lbfgs".  The masks' key is drawn from ``random_state``:
        an int ``random_state`` trains the same weights bit for bit.
"""

_ATTRIBUTES = """
    Attributes
    ----------
    coefs_ : list of ndarray of shape (n_in, n_out)
        Each layer's weights, in scikit-learn's orientation (densecore's
        ``(n_out, n_in)`` transposed); views, so writing them changes the model.
    intercepts_ : list of ndarray of shape (n_out,)
        Each layer's biases (views as well).
    network_ : densecore.Network
        The fitted network itself (not a copy).
    loss_ : float
        The mean training loss of the last epoch, L2 penalty included.
    loss_curve_ : list of float
        The mean training loss of each epoch, L2 penalty included.
    best_loss_ : float or None
        The smallest value in ``loss_curve_``; None with ``early_stopping``.
    validation_scores_ : list of float or None
        The score on the held-out data after each epoch, with ``early_stopping``.
    best_validation_score_ : float or None
        The best of ``validation_scores_``.
    n_iter_ : int
        The epochs run by the last call to ``fit`` or ``partial_fit``.
    t_ : int
        The training samples seen since the weights were initialised.
    n_features_in_ : int
        The number of features seen during fit.
    n_outputs_ : int
        The number of output units.
    n_layers_ : int
        The number of layers, the input layer included.
    out_activation_ : str
        The output activation, in scikit-learn's names."""


def _hidden_sizes(hidden_layer_sizes):
    """``hidden_layer_sizes`` as a list of positive ints, else ``ValueError``."""
    sizes = hidden_layer_sizes
    sizes = [sizes] if isinstance(sizes, numbers.Integral) else list(sizes)
    if not all(isinstance(size, numbers.Integral) and size > 0 for size in sizes):
        raise ValueError("hidden_layer_sizes must be positive integers, "
                         f"got {hidden_layer_sizes!r}")
    return sizes


def _has_stochastic_solver(estimator):
    """True for "sgd" and "adam"; ``AttributeError`` otherwise, which hides
    ``partial_fit`` (MLPClassifier's "lbfgs" has none)."""
    if estimator.solver not in SOLVERS:
        raise AttributeError(f"partial_fit needs a solver in {SOLVERS}, got "
                             f"solver={estimator.solver!r}")
    return True


class _DenseBase(BaseEstimator):
    """What DenseClassifier and DenseRegressor share: parameters and the training loop."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    # scikit-learn's parameter validation (run by _fit_context): the MLP's ranges,
    # with densecore's hidden activations.
    _parameter_constraints = {
        "hidden_layer_sizes": ["array-like", Interval(numbers.Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS)), tuple, list],
        "solver": [StrOptions({*SOLVERS, "lbfgs"})],
        "alpha": [Interval(numbers.Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(numbers.Integral, 1, None, closed="left")],
        "learning_rate": [StrOptions(set(training.SCHEDULES))],
        "learning_rate_init": [Interval(numbers.Real, 0, None, closed="neither")],
        "power_t": [Interval(numbers.Real, 0, None, closed="left")],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(numbers.Real, 0, 1, closed="both")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="left")],
        "beta_1": [Interval(numbers.Real, 0, 1, closed="left")],
        "beta_2": [Interval(numbers.Real, 0, 1, closed="left")],
        "epsilon": [Interval(numbers.Real, 0, None, closed="neither")],
        "n_iter_no_change": [Interval(numbers.Integral, 1, None, closed="left"),
                             Options(numbers.Real, {np.inf})],
        "max_fun": [Interval(numbers.Integral, 1, None, closed="left")],
        "dropout": [Interval(numbers.Real, 0, 1, closed="left"), "array-like"],
    }

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10,
                 warm_start=False, max_fun=15000, dropout=0.0):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.warm_start = warm_start
        self.max_fun = max_fun
        self.dropout = dropout

    # -- fitted parameters, read from the network -------------------------

    @property
    def coefs_(self):
        return [layer.weights.T for layer in self._network.layers]

    @property
    def intercepts_(self):
        return [layer.bias[:, 0] for layer in self._network.layers]

    @property
    def network_(self):
        """The fitted :class:`~densecore.Network` itself, not a copy: what
        ``predict`` runs and :func:`densecore.onnx.to_onnx` exports."""
        return self._network

    def save_onnx(self, path, *, opset=None, dtype=None):
        """Write the fitted estimator to ``path`` as an ONNX model (needs the ``onnx``
        extra): see :func:`densecore.onnx.to_onnx` for ``opset``, ``dtype`` and the
        model's outputs."""
        from densecore import onnx

        onnx.save(self, path, opset=opset, dtype=dtype)

    # -- pickles ----------------------------------------------------------

    # The fitted attributes a pickle holds as they are, with their types; the
    # network, its optimizer and a classifier's LabelBinarizer are held as
    # arrays and rebuilt.  A failed fit may leave the first few without a
    # network; a network comes with all but n_iter_, loss_ (which pickles
    # written before it existed lack) and feature_names_in_.
    _FITTED = {"n_features_in_": (int,), "feature_names_in_": (np.ndarray,),
               "n_outputs_": (int,), "n_layers_": (int,), "out_activation_": (str,),
               "t_": (int,), "n_iter_": (int,), "loss_": (float,), "loss_curve_": (list,),
               "best_loss_": (float, type(None)), "validation_scores_": (list, type(None)),
               "best_validation_score_": (float, type(None)),
               "_no_improvement_count": (int,), "_learning_rate": (float,)}
    _FITTED_WITHOUT_NETWORK = {"n_features_in_", "feature_names_in_"}
    _FITTED_OPTIONAL = {"n_iter_", "loss_", "feature_names_in_"}
    _REBUILT = {"_network"}
    # Parameters added since the first pickles of this format, which lack them:
    # such a pickle loads with their defaults.
    _NEWER_PARAMETERS = {"verbose", "max_fun", "loss", "dropout", "class_weight"}

    def __reduce__(self):
        # A pickle (joblib, Dask, copy.deepcopy) is the class and one blob in the
        # array format of Network.save, and no other Python object state:
        # - estimator/format_version: PICKLE_FORMAT_VERSION;
        # - estimator/params/<name>/<kind>: get_params(deep=False), and
        #   estimator/fitted/<name>/<kind>: the attributes in _FITTED that are
        #   set, each as _serialization.values_to_arrays writes it;
        # - estimator/labels/<name>/<kind>: a classifier's LabelBinarizer less
        #   its classes_ (which are classes_);
        # - network/<member>: the network's file, optimizer state included.
        return _from_bytes, (_serialization.arrays_to_bytes(self._to_arrays()), type(self))

    def _to_arrays(self):
        """The members of this estimator's pickle.

        ``TypeError`` if it holds a value or an attribute that they cannot,
        ``ValueError`` if its attributes do not belong together (after a
        failed fit): what is written must be readable.
        """
        name = type(self).__name__
        params = self.get_params(deep=False)
        fitted = {key: value for key, value in vars(self).items() if key in self._FITTED}
        unknown = set(vars(self)) - set(params) - set(fitted) - self._REBUILT
        if unknown:
            raise TypeError(f"cannot pickle {name} with the attributes {sorted(unknown)}: its "
                            "pickle holds the parameters and the fitted state only")
        try:
            self._check_state()
        except ValueError as error:
            raise ValueError(f"cannot pickle {name}, whose attributes do not belong together "
                             f"(after a failed fit?): {error}") from None
        arrays = {VERSION: np.array(PICKLE_FORMAT_VERSION)}
        try:
            arrays.update(_serialization.values_to_arrays(params, PARAMS, "parameter"))
            arrays.update(_serialization.values_to_arrays(fitted, FITTED, "attribute"))
            arrays.update(_serialization.values_to_arrays(self._label_state(), LABELS,
                                                          "label binarizer's"))
        except TypeError as error:
            raise TypeError(f"cannot pickle {name}: {error}") from None
        if hasattr(self, "_network"):
            network = _serialization.to_arrays(self._network.state())
            arrays.update({NETWORK + key: value for key, value in network.items()})
        return arrays

    @classmethod
    def _from_arrays(cls, arrays):
        """The estimator whose pickle's members are ``arrays``, after checking them all."""
        _serialization.check_version(arrays, VERSION, PICKLE_FORMAT_VERSION)
        unexpected = [key for key in arrays if key != VERSION
                      and not key.startswith((PARAMS, FITTED, LABELS, NETWORK))]
        if unexpected:
            raise ValueError(f"unexpected members {sorted(unexpected)}")
        params = _serialization.values_from_arrays(arrays, PARAMS)
        names = cls._get_param_names()
        if missing := sorted(set(names) - set(params) - cls._NEWER_PARAMETERS):
            raise ValueError(f"missing parameters {missing} of {cls.__name__}")
        if extra := sorted(set(params) - set(names)):
            raise ValueError(f"{cls.__name__} has no parameters {extra}")
        estimator = cls(**params)
        fitted = _serialization.values_from_arrays(arrays, FITTED)
        for key, value in fitted.items():
            cls._check_fitted_value(key, value)
        vars(estimator).update(fitted)
        estimator._restore_labels(_serialization.values_from_arrays(arrays, LABELS))
        network = {key.removeprefix(NETWORK): value
                   for key, value in arrays.items() if key.startswith(NETWORK)}
        if network:
            try:
                estimator._network = Network.from_state(
                    _serialization.state_from_arrays(network))
            except ValueError as error:
                raise ValueError(f"its network: {error}") from None
        estimator._check_state()
        return estimator

    @classmethod
    def _check_fitted_value(cls, name, value):
        """``ValueError`` unless ``value`` is of a type that fitted attribute ``name`` holds."""
        if name not in cls._FITTED:
            raise ValueError(f"{cls.__name__} has no fitted attribute {name!r}")
        types = cls._FITTED[name]
        if type(value) not in types:
            raise ValueError(f"{name} must be of type {' or '.join(t.__name__ for t in types)}, "
                             f"got {type(value).__name__}")
        if isinstance(value, int) and value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
        if isinstance(value, list) and not all(type(x) is float for x in value):
            raise ValueError(f"{name} must be a list of floats")
        if isinstance(value, np.ndarray) and value.ndim != 1:
            raise ValueError(f"{name} must be one-dimensional, got shape {value.shape}")

    def _check_state(self):
        """``ValueError`` unless the fitted attributes and the network belong together."""
        state = vars(self)
        fitted = set(state) & set(self._FITTED)
        if "_network" not in state:
            if extra := sorted(fitted - self._FITTED_WITHOUT_NETWORK):
                raise ValueError(f"the fitted attributes {extra} come with a network")
            self._check_labels()
            return
        if missing := sorted(set(self._FITTED) - self._FITTED_OPTIONAL - fitted):
            raise ValueError(f"a fitted {type(self).__name__} needs the attributes {missing}")
        self._check_labels()
        network, output = self._network, self._output_activation()
        expected = {"n_features_in_": network.sizes[0], "n_outputs_": network.sizes[-1],
                    "n_layers_": len(network.sizes), "out_activation_": _sklearn_name(output)}
        for key, value in expected.items():
            if state[key] != value:
                raise ValueError(f"{key} is {state[key]!r} but the network's is {value!r}")
        if (network.activation_names[-1], network.loss) != (output, losses.default(output)):
            raise ValueError(f"the network must have a {output!r} output and the loss "
                             f"{losses.default(output)!r}, got a "
                             f"{network.activation_names[-1]!r} output and the loss "
                             f"{network.loss!r}")

    def _label_state(self):
        """What a pickle holds of the labels besides ``classes_`` (a classifier's binarizer)."""
        return {}

    def _restore_labels(self, state):
        if state:
            raise ValueError(f"a {type(self).__name__} has no label binarizer, got "
                             f"{sorted(state)}")

    def _check_labels(self):
        pass

    # -- public API -------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Train for up to ``max_iter`` epochs (or L-BFGS iterations) on ``(X, y)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The training samples.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights, as the MLP's: each sample's loss and gradient
            count so many times, every mean is the weighted mean (the
            early-stopping score too), and a mini-batch whose weights are all 0
            takes no step.

        Returns
        -------
        self : object
            The fitted estimator.

        Raises
        ------
        sklearn.utils._param_validation.InvalidParameterError
            A ``ValueError``, for a parameter outside the range that the MLP
            takes (scikit-learn's parameter validation, as the fit starts).
        ValueError
            For training that produced non-finite weights (after ``max_iter``
            epochs, as the MLP).
        """
        return self._fit(X, y, sample_weight, incremental=False)

    def _predict_outputs(self, X):
        """The network's outputs for ``X``, ``(n_samples, n_outputs_)``."""
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse=SPARSE, dtype=(np.float64, np.float32),
                          reset=False)
        return self._network.predict(X)

    # -- training ---------------------------------------------------------

    def _sample_weights(self, y, sample_weight, dtype, *, incremental):
        """``sample_weight`` checked (None stays None); a classifier's class weights
        multiply it."""
        return sample_weights(sample_weight, _num_samples(y), dtype)

    def _check_settings(self):
        """``ValueError`` for what the parameter constraints leave open, before any
        attribute changes: each hidden layer's size, per-layer activations, and the
        dropout rates (one per hidden layer, none with "lbfgs")."""
        self._hidden_activations()
        rates = dropout_rates(self.dropout, len(_hidden_sizes(self.hidden_layer_sizes)))
        if self.solver == "lbfgs" and any(rates):
            raise ValueError(f"solver 'lbfgs' minimizes one deterministic full-batch loss: it "
                             f"takes no dropout, got dropout={self.dropout!r}")

    def _hidden_activations(self):
        """densecore's names of the hidden layers' activations, one per layer."""
        sizes = _hidden_sizes(self.hidden_layer_sizes)
        names = ([self.activation] * len(sizes) if isinstance(self.activation, str)
                 else list(self.activation))
        if len(names) != len(sizes) or not all(
                isinstance(name, str) and name in ACTIVATIONS for name in names):
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)} or a sequence "
                             f"of them, one per hidden layer ({len(sizes)}), got "
                             f"{self.activation!r}")
        return [ACTIVATIONS[name] for name in names]

    def _fit(self, X, y, sample_weight, *, incremental):
        self._check_settings()
        if incremental and self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True")
        reset = not hasattr(self, "_network") or not (incremental or self.warm_start)
        X, Y, y = self._validate_training_data(X, y, reset=reset, incremental=incremental)
        weight = self._sample_weights(y, sample_weight, X.dtype, incremental=incremental)
        rng = check_random_state(self.random_state)
        if reset:
            self._initialize(X.shape[1], Y.shape[1], X.dtype, rng)
        self._set_dropout()
        if reset or not incremental:
            self._start_optimizer()
        if self.solver == "lbfgs":
            self._fit_lbfgs(X, Y, weight)
        else:
            self._train(X, Y, y, weight, rng, incremental=incremental)
        return self

    def _initialize(self, n_features, n_outputs, dtype, rng):
        """A new network with Glorot weights and the bookkeeping of a first fit."""
        output = self._output_activation()
        sizes = [n_features, *_hidden_sizes(self.hidden_layer_sizes), n_outputs]
        self._network = Network.from_sizes(
            sizes, activation=self._hidden_activations(), output_activation=output,
            dtype=dtype, init="glorot", seed=rng.randint(SEED_BOUND))
        self.n_outputs_ = n_outputs
        self.n_layers_ = len(sizes)
        self.out_activation_ = _sklearn_name(output)
        self.t_ = 0
        self.loss_curve_ = []
        self.best_loss_ = None if self.early_stopping else np.inf
        self.validation_scores_ = [] if self.early_stopping else None
        self.best_validation_score_ = -np.inf if self.early_stopping else None
        self._no_improvement_count = 0

    def _set_dropout(self):
        """Give the network's hidden layers the rates of ``dropout`` (a warm start or
        partial_fit takes the current ones)."""
        layers = self._network.layers
        for layer, rate in zip(layers, dropout_rates(self.dropout, len(layers) - 1)):
            layer.dropout = rate

    def _dropout_seed(self, rng):
        """The key of this run's dropout masks, drawn from ``rng`` where the network
        drops (nothing is drawn otherwise, so runs without dropout are unchanged)."""
        if not any(self._network.dropout):
            return 0
        return int(rng.randint(2 ** 64, dtype=np.uint64))

    def _start_optimizer(self):
        """Fresh optimizer settings and state, and the initial learning rate."""
        self._network.reset_optimizer(self._new_optimizer())
        self._learning_rate = float(self.learning_rate_init)

    def _new_optimizer(self):
        """The densecore optimizer that the parameters describe."""
        if self.solver == "lbfgs":
            return optimizers.LBFGS(max_fun=self.max_fun, tol=self.tol)
        if self.solver == "sgd":
            return optimizers.SGD(momentum=self.momentum,
                                  nesterov=self.nesterovs_momentum and self.momentum > 0)
        return optimizers.Adam(beta_1=self.beta_1, beta_2=self.beta_2,
                              epsilon=self.epsilon / self._gradient_scale())

    def _gradient_scale(self):
        """How much smaller densecore's loss gradient is than scikit-learn's.

        densecore's mse averages over outputs as well as samples, so its
        gradient is ``n_outputs`` times smaller than scikit-learn's, which
        averages over samples only; the cross-entropies agree.
        """
        return 1

    def _fit_lbfgs(self, X, Y, weight):
        """Minimize the loss of the whole of ``(X, Y)`` by L-BFGS, as the MLP."""
        # scikit-learn's L2 term is alpha over the summed weight.
        session = self._network.training_session(
            min(X.shape[0], training.FULL_BATCH_ROWS), alpha=self.alpha / self._gradient_scale(),
            l2_per_sample=True, rollback=False)
        X, Y = session.data(X, Y)
        callbacks = [_ProgressLines()] if self.verbose else []
        result = training.minimize(session, X, Y, max_iter=self.max_iter, sample_weight=weight,
                                   callbacks=callbacks).result
        self.n_iter_ = min(int(result.nit), self.max_iter)
        samples = X.shape[0] if weight is None else float(weight.sum())
        self.loss_ = self._penalized(self._network.evaluate(X, Y, weight)["loss"], samples, 1)
        if result.status != 0:
            warnings.warn(f"lbfgs failed to converge after {self.n_iter_} iteration(s) "
                          f"(status={result.status}): {result.message}. Increase the number "
                          f"of iterations (max_iter={self.max_iter}) or of loss evaluations "
                          f"(max_fun={self.max_fun}), or scale the data.", ConvergenceWarning)
        self._check_finite()

    def _train(self, X, Y, y, weight, rng, *, incremental):
        """One epoch, or up to ``max_iter`` with scikit-learn's stopping rules."""
        validation = None
        if self.early_stopping:
            (X, Y, y, weight), validation = self._split_validation(X, Y, y, weight, rng)
        batch_size = self._batch_size(X.shape[0])
        # scikit-learn's L2 term is alpha over each batch's size (or summed weight).
        session = self._network.training_session(
            batch_size, alpha=self.alpha / self._gradient_scale(), l2_per_sample=True,
            rollback=False, dropout_seed=self._dropout_seed(rng))
        X, Y = session.data(X, Y)

        def run_epoch(rate):
            order = rng.permutation(X.shape[0]) if self.shuffle else np.arange(X.shape[0])
            tally = session.epoch(X, Y, order, self._step_rate(rate), weight)
            mean = tally.loss / tally.samples if tally.samples else np.nan
            return {"loss": self._penalized(mean, tally.samples, -(-X.shape[0] // batch_size))}

        self._run_epochs(run_epoch, X.shape[0], validation, incremental=incremental)

    def _split_validation(self, X, Y, y, weight, rng):
        """``((X, Y, y, weight) to train on, (X_val, y_val, weight_val))``, the
        weights None where none are given, split as the MLP splits them."""
        arrays = [X, Y, y] + ([] if weight is None else [weight])
        split = train_test_split(*arrays, random_state=rng, test_size=self.validation_fraction,
                                 stratify=self._stratify(Y))
        kept, held_out = split[0::2] + [None] * 4, split[1::2] + [None] * 4
        if held_out[0].shape[0] < 2:
            raise ValueError(f"The validation set is too small: {held_out[0].shape[0]} sample(s), "
                             "2 at least; increase validation_fraction or give more samples")
        return tuple(kept[:4]), (held_out[0], held_out[2], held_out[3])

    def _run_epochs(self, run_epoch, n_samples, validation, *, incremental):
        """Run ``run_epoch(learning_rate) -> {"loss": ...}`` for one epoch, or up to
        ``max_iter``, under scikit-learn's schedule and stopping rule, carried over
        from earlier calls in the fitted attributes; score ``validation`` (X, y)
        after each epoch with ``early_stopping``."""
        schedule = self._schedule(n_samples)
        if self.early_stopping:
            rule = training.NoImprovement("validation_score", self.tol, self.n_iter_no_change,
                                          maximize=True, best=self.best_validation_score_,
                                          count=self._no_improvement_count)
            checkpoint = training.Checkpoint(self._network.parameters)
            checkpoint.save()

            def validate():
                return {"validation_score": self._score_outputs(*validation)}
        else:
            rule = training.NoImprovement("loss", self.tol, self.n_iter_no_change,
                                          best=self.best_loss_, count=self._no_improvement_count)
            checkpoint = validate = None
        callbacks = [_ProgressLines(schedule, rule, self._stall_message())] if self.verbose \
            else []
        trained = training.train(run_epoch, epochs=1 if incremental else self.max_iter,
                                 schedule=schedule, rule=rule, stop_when_stalled=True,
                                 checkpoint=checkpoint, validate=validate, callbacks=callbacks)
        history = trained.history
        self.n_iter_ = len(history["loss"])
        self.t_ += self.n_iter_ * n_samples
        self.loss_ = history["loss"][-1]
        self.loss_curve_ += history["loss"]
        if self.early_stopping:
            self.validation_scores_ += history["validation_score"]
            self.best_validation_score_ = rule.best
        else:
            self.best_loss_ = rule.best
        self._no_improvement_count = rule.count
        self._learning_rate = schedule.rate
        if not (incremental or trained.stopped):
            warnings.warn(f"Stochastic optimizer: maximum iterations ({self.max_iter}) "
                          "reached and the optimization hasn't converged yet.",
                          ConvergenceWarning)
        self._check_finite()

    def _check_finite(self):
        """The MLP's ``ValueError`` if training left non-finite weights."""
        if not np.isfinite(self._network.parameters).all():
            raise ValueError("Solver produced non-finite parameter weights. The input data "
                             "may contain large values and need to be preprocessed.")

    def _stall_message(self):
        """The MLP's words for a stalled stopping rule."""
        monitored = "Validation score" if self.early_stopping else "Training loss"
        return (f"{monitored} did not improve more than tol={self.tol:f} for "
                f"{self.n_iter_no_change} consecutive epochs.")

    def _schedule(self, n_samples):
        """scikit-learn's schedule of the rate, from the current rate: the "sgd" solver's
        "invscaling" or "adaptive", else constant."""
        if self.solver == "sgd" and self.learning_rate == "invscaling":
            return training.InvScaling(self._learning_rate, initial=self.learning_rate_init,
                                       power_t=self.power_t, samples_per_epoch=n_samples,
                                       seen=self.t_)
        if self.solver == "sgd" and self.learning_rate == "adaptive":
            return training.Adaptive(self._learning_rate)
        return training.Constant(self._learning_rate)

    def _batch_size(self, n_samples):
        if self.batch_size == "auto":
            return min(200, n_samples)
        if self.batch_size > n_samples:
            warnings.warn(f"batch_size={self.batch_size} is larger than the {n_samples} "
                          "training samples; it is clipped to them")
        return min(self.batch_size, n_samples)

    def _step_rate(self, rate):
        """The rate densecore steps with: ``rate`` times the gradient scale for "sgd"
        (Adam's steps do not depend on the scale)."""
        return rate * (self._gradient_scale() if self.solver == "sgd" else 1)

    def _penalized(self, mean_loss, samples, n_batches):
        """An epoch's mean loss with scikit-learn's L2 term: ``0.5 * alpha * ||W||^2``
        over each of ``n_batches`` batches' size (or summed weight), weighted by the
        batch's share of the ``samples`` (a count, or a summed weight)."""
        squares = sum(float(np.vdot(w, w)) for w in self.coefs_)
        return float(mean_loss + 0.5 * self.alpha * squares * n_batches / samples)

    def _score_outputs(self, X, y, sample_weight=None):
        """The validation score of the network's outputs for ``X`` (NaN if not finite)."""
        outputs = self._network.predict(X)
        if not np.isfinite(outputs).all():
            return np.nan
        return float(self._validation_score(y, outputs, sample_weight))


class _ProgressLines:
    """The MLP's verbose lines, printed to stdout after each epoch (a callback of
    :func:`densecore.training.train`, which calls it once the stopping rule has
    ruled): the epoch's loss, its validation score, and ``stall_message`` with
    what the rule did, when it stalled."""

    def __init__(self, schedule=None, rule=None, stall_message=""):
        self.schedule, self.rule, self.stall_message = schedule, rule, stall_message

    def on_epoch_end(self, epoch, logs):
        print(f"Iteration {epoch + 1}, loss = {logs['loss']:.8f}")
        if "validation_score" in logs:
            print(f"Validation score: {logs['validation_score']:f}")
        adaptive = isinstance(self.schedule, training.Adaptive)
        if adaptive and self.schedule.rate < logs["learning_rate"]:
            print(f"{self.stall_message} Setting learning rate to {self.schedule.rate:f}")
        elif self.rule is not None and self.rule.stalled:  # training stops
            reason = " Learning rate too small." if adaptive else ""
            print(f"{self.stall_message}{reason} Stopping.")


def _sklearn_name(activation):
    """scikit-learn's name of a densecore activation."""
    return SKLEARN_NAMES.get(activation, activation)


def _first_binarizer(y, classes):
    """The label binarizer of a first ``partial_fit``: fitted on ``classes``, or on a
    multilabel ``y``'s columns."""
    if type_of_target(y).startswith("multilabel"):
        return LabelBinarizer().fit(y)
    if classes is None:
        raise ValueError("classes must be given on the first call to partial_fit")
    return LabelBinarizer().fit(classes)


def _from_bytes(data, cls):
    """The estimator of class ``cls`` that ``_DenseBase.__reduce__`` wrote into ``data``.

    Nothing is unpickled: ``ValueError`` for bytes that are not a complete,
    consistent pickle of a ``cls`` of a known format version.
    """
    if not (isinstance(cls, type) and issubclass(cls, _DenseBase)):
        raise TypeError(f"cls must be a densecore.sklearn estimator class, got {cls!r}")
    return cls._from_arrays(_serialization.read_arrays(data))


class DenseClassifier(ClassifierMixin, _DenseBase):
    __doc__ = f"""A multi-layer perceptron classifier trained by densecore.

    The parameters, fitted attributes and training are those of
    :class:`~sklearn.neural_network.MLPClassifier`.  Two classes train one
    sigmoid output with binary cross-entropy, more classes a softmax output
    with cross-entropy, and a multilabel indicator matrix one sigmoid output
    per label.
    {_PARAMETERS}    class_weight : dict, "balanced" or None, default=None
        Each sample's weight is also its class's (scikit-learn's definition, as
        in ``LogisticRegression``): ``{{label: weight}}``, or "balanced",
        ``n_samples / (n_classes * count of the class)``, multiplying
        ``sample_weight``.  MLPClassifier has no such parameter; ``partial_fit``
        takes a dict only.
{_ATTRIBUTES}
    classes_ : ndarray of shape (n_classes,)
        The class labels (for multilabel targets, the label columns).

    See Also
    --------
    DenseRegressor : The same network for regression.
    densecore.Network : The network underneath.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from densecore.sklearn import DenseClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = DenseClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.01,
    ...                       max_iter=300, random_state=0).fit(X, y)
    >>> clf.predict_proba(X[:2]).shape
    (2, 3)
    """

    _parameter_constraints = {**_DenseBase._parameter_constraints,
                              "class_weight": [dict, StrOptions({"balanced"}), None]}

    # MLPClassifier's signature, and class_weight, which it lacks.
    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10,
                 warm_start=False, max_fun=15000, dropout=0.0, class_weight=None):
        super().__init__(
            hidden_layer_sizes, activation, solver=solver, alpha=alpha, batch_size=batch_size,
            learning_rate=learning_rate, learning_rate_init=learning_rate_init,
            power_t=power_t, max_iter=max_iter, shuffle=shuffle, random_state=random_state,
            tol=tol, verbose=verbose, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping, validation_fraction=validation_fraction,
            beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, n_iter_no_change=n_iter_no_change,
            warm_start=warm_start, max_fun=max_fun, dropout=dropout)
        self.class_weight = class_weight

    def _sample_weights(self, y, sample_weight, dtype, *, incremental):
        """The sample weights times the class weights, scikit-learn's definition
        (``compute_sample_weight``: a dict of labels to weights, or "balanced")."""
        if self.class_weight is None:
            return super()._sample_weights(y, sample_weight, dtype, incremental=incremental)
        if incremental and self.class_weight == "balanced":
            raise ValueError("class_weight='balanced' needs every class of the data at once: "
                             "partial_fit takes a dict of class weights instead")
        by_class = compute_sample_weight(self.class_weight, y)
        if sample_weight is not None:
            by_class = by_class * sample_weights(sample_weight, _num_samples(y), np.float64)
        return sample_weights(by_class, _num_samples(y), dtype)

    @available_if(_has_stochastic_solver)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """Train for one epoch on ``(X, y)``, going on from the current state.

        Only with solver "sgd" or "adam", as MLPClassifier's.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The training samples.
        y : array-like of shape (n_samples,) or (n_samples, n_labels)
            The labels, or a multilabel indicator matrix; no class outside
            ``classes_``.
        sample_weight : array-like of shape (n_samples,), default=None
            As ``fit``'s.
        classes : array-like of shape (n_classes,), default=None
            Every class that ``y`` may hold over all calls: needed on the first
            call (unless ``y`` is multilabel: its columns are the classes) and
            optional afterwards, when it must be ``classes_`` (else
            ``ValueError``, as the MLP's).

        Returns
        -------
        self : object
            The updated estimator.
        """
        binarizer = self._binarizer if hasattr(self, "classes_") else _first_binarizer(y, classes)
        if classes is not None and not np.array_equal(unique_labels(classes), binarizer.classes_):
            raise ValueError(f"classes must be the classes of the first call to partial_fit (or "
                             f"fit), {binarizer.classes_}, got {unique_labels(classes)}")
        self._binarizer, self.classes_ = binarizer, binarizer.classes_
        return self._fit(X, y, sample_weight, incremental=True)

    def predict(self, X):
        """The predicted class of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The samples.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_labels)
            The classes, or a multilabel indicator matrix.
        """
        outputs = self._predict_outputs(X)
        return self._binarizer.inverse_transform(outputs)

    def predict_proba(self, X):
        """The probability of each class for each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The samples.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns in the order of ``classes_``; for multilabel targets, each
            label's own probability.
        """
        outputs = self._predict_outputs(X)
        if self._binarizer.y_type_ == "binary":
            return np.hstack([1 - outputs, outputs])
        return outputs

    def predict_log_proba(self, X):
        """The logarithm of :meth:`predict_proba`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The samples.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            ``log(predict_proba(X))``: ``-inf`` where a probability is 0.
        """
        return np.log(self.predict_proba(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags

    def _validate_training_data(self, X, y, *, reset, incremental):
        """``(X, Y, y)``: checked samples, the target matrix and the checked labels."""
        X, y = validate_data(self, X, y, accept_sparse=SPARSE, multi_output=True, reset=reset,
                             dtype=(np.float64, np.float32))
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if self._new_classes(incremental):
            self._binarizer = LabelBinarizer().fit(y)
            self.classes_ = self._binarizer.classes_
        else:
            self._check_classes(y, same=self.warm_start and not incremental)
        dtype = X.dtype if reset else self._network.dtype
        return X.astype(dtype, copy=False), self._binarizer.transform(y).astype(dtype), y

    def _new_classes(self, incremental):
        """Whether this fit sets ``classes_`` afresh, as the MLP decides: unless a
        warm start or a later ``partial_fit`` goes on with the classes it has."""
        return not hasattr(self, "classes_") or not (self.warm_start or incremental)

    def _check_classes(self, y, *, same):
        """``ValueError`` unless the labels ``y`` suit ``classes_``, as the MLP checks
        them: the ``same`` classes (a warm start's fit), else no new one; a
        multilabel model takes indicator matrices of its number of labels."""
        if self._binarizer.y_type_.startswith("multilabel"):
            if y.ndim != 2 or y.shape[1] != len(self.classes_):
                raise ValueError(f"y must be an indicator matrix of {len(self.classes_)} "
                                 f"labels, got shape {y.shape}")
            return
        classes = unique_labels(y)
        if same and set(classes) != set(self.classes_):
            raise ValueError("warm_start can only be used where `y` has the same classes as "
                             f"in the previous call to fit. Previously got {self.classes_}, "
                             f"`y` has {classes}")
        if len(unknown := np.setdiff1d(classes, self.classes_)):
            raise ValueError(f"y has classes {unknown} that are not in classes_ "
                             f"{self.classes_}")

    def _output_activation(self):
        return "softmax" if self._binarizer.y_type_ == "multiclass" else "sigmoid"

    def _stratify(self, Y):
        # As the MLP: the binarized labels when they are one column (two classes);
        # it splits more classes, and multilabel targets, without stratifying.
        return Y.astype(bool) if Y.shape[1] == 1 else None

    def _validation_score(self, y, outputs, sample_weight=None):
        return accuracy_score(y, self._binarizer.inverse_transform(outputs),
                              sample_weight=sample_weight)

    # -- pickles: the label binarizer (see _DenseBase.__reduce__) ----------

    _FITTED = {**_DenseBase._FITTED, "classes_": (np.ndarray,)}
    _FITTED_WITHOUT_NETWORK = _DenseBase._FITTED_WITHOUT_NETWORK | {"classes_"}
    _REBUILT = _DenseBase._REBUILT | {"_binarizer"}
    # What LabelBinarizer.fit sets besides classes_; the label types it can have
    # in a fitted classifier, with the number of outputs of n classes.
    _LABELS = {"y_type_": str, "sparse_input_": bool}
    _OUTPUTS = {"binary": lambda n: 1 if n <= 2 else None,
                "multiclass": lambda n: n if n > 2 else None,
                "multilabel-indicator": lambda n: n}

    def _label_state(self):
        if not hasattr(self, "_binarizer"):
            return {}
        return {key: getattr(self._binarizer, key) for key in self._LABELS}

    def _restore_labels(self, state):
        if not state:
            return
        if sorted(state) != sorted(self._LABELS) or not all(
                type(state[key]) is kind for key, kind in self._LABELS.items()):
            raise ValueError("the label binarizer must be y_type_ (a str) and sparse_input_ "
                             f"(a bool), got {state!r}")
        if not hasattr(self, "classes_"):
            raise ValueError("a label binarizer needs classes_")
        self._binarizer = LabelBinarizer()
        vars(self._binarizer).update(state, classes_=self.classes_)

    def _check_labels(self):
        if hasattr(self, "classes_") != hasattr(self, "_binarizer"):
            raise ValueError("classes_ and the label binarizer come together")
        if hasattr(self, "_network"):
            y_type, n_classes = self._binarizer.y_type_, len(self.classes_)
            if y_type not in self._OUTPUTS:
                raise ValueError(f"the label type must be one of {sorted(self._OUTPUTS)}, "
                                 f"got {y_type!r}")
            if self._network.sizes[-1] != self._OUTPUTS[y_type](n_classes):
                raise ValueError(f"{n_classes} classes of type {y_type!r} cannot have "
                                 f"{self._network.sizes[-1]} outputs")


class DenseRegressor(RegressorMixin, _DenseBase):
    __doc__ = f"""A multi-layer perceptron regressor trained by densecore.

    The parameters, fitted attributes and training are those of
    :class:`~sklearn.neural_network.MLPRegressor`: one output per target
    column, an identity output with half the squared error, or an exp output
    (the log link) with half the Poisson deviance.

    Parameters
    ----------
    loss : {{"squared_error", "poisson"}}, default="squared_error"
        "poisson" is for non-negative counts: an exp output, whose predictions
        are positive, trained on half the Poisson deviance.
    {_PARAMETERS.split("----------", 1)[1].lstrip()}{_ATTRIBUTES}

    See Also
    --------
    DenseClassifier : The same network for classification.
    densecore.Network : The network underneath.

    Examples
    --------
    >>> import numpy as np
    >>> from densecore.sklearn import DenseRegressor
    >>> X = np.linspace(-1, 1, 50).reshape(-1, 1)
    >>> reg = DenseRegressor(hidden_layer_sizes=(16,), learning_rate_init=0.05,
    ...                      random_state=0).fit(X, X.ravel() ** 2)
    >>> reg.predict(X[:3]).shape
    (3,)
    """

    _parameter_constraints = {**_DenseBase._parameter_constraints,
                              "loss": [StrOptions({"squared_error", "poisson"})]}

    # The MLPRegressor's signature: loss first, then the base's parameters.
    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *,
                 solver="adam", alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10,
                 warm_start=False, max_fun=15000, dropout=0.0):
        super().__init__(
            hidden_layer_sizes, activation, solver=solver, alpha=alpha, batch_size=batch_size,
            learning_rate=learning_rate, learning_rate_init=learning_rate_init,
            power_t=power_t, max_iter=max_iter, shuffle=shuffle, random_state=random_state,
            tol=tol, verbose=verbose, momentum=momentum,
            nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
            validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change, warm_start=warm_start,
            max_fun=max_fun, dropout=dropout)
        self.loss = loss

    @available_if(_has_stochastic_solver)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """Train for one epoch on ``(X, y)``, going on from the current state.

        Only with solver "sgd" or "adam" (MLPRegressor means so too, but its
        check of it is a no-op).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The training samples.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            The targets.
        sample_weight : array-like of shape (n_samples,), default=None
            As ``fit``'s.

        Returns
        -------
        self : object
            The updated estimator.
        """
        return self._fit(X, y, sample_weight, incremental=True)

    def predict(self, X):
        """The predicted targets of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The samples.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_targets)
            The predictions; one-dimensional for a single target.
        """
        outputs = self._predict_outputs(X)
        return outputs.ravel() if outputs.shape[1] == 1 else outputs

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _validate_training_data(self, X, y, *, reset, incremental):
        """``(X, Y, y)``: checked samples, the target matrix and the checked targets."""
        X, y = validate_data(self, X, y, accept_sparse=SPARSE, multi_output=True,
                             y_numeric=True, reset=reset,
                             dtype=(np.float64, np.float32))
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        Y = y.reshape(len(y), -1)
        if not reset and Y.shape[1] != self.n_outputs_:
            raise ValueError(f"y has {Y.shape[1]} targets, the model {self.n_outputs_}")
        dtype = X.dtype if reset else self._network.dtype
        return X.astype(dtype, copy=False), Y.astype(dtype), y

    def _output_activation(self):
        return "exp" if self.loss == "poisson" else "identity"

    def _gradient_scale(self):
        # The Poisson deviance is summed over outputs, as scikit-learn's: no scale.
        return 1 if self.loss == "poisson" else self.n_outputs_

    def _stratify(self, Y):
        return None

    def _validation_score(self, y, outputs, sample_weight=None):
        return r2_score(y, outputs.ravel() if outputs.shape[1] == 1 else outputs,
                        sample_weight=sample_weight)


def register_skl2onnx():
    """Register densecore's estimators with skl2onnx (needs skl2onnx and the
    ``onnx`` extra).

    After this call ``skl2onnx.to_onnx`` (and ``convert_sklearn``) converts
    :class:`DenseClassifier`, :class:`DenseRegressor` and every subclass of
    them defined so far (the Dask estimators, once :mod:`densecore.dask` is
    imported), alone or as the last step of a pipeline, through the graph of
    :func:`densecore.onnx.to_onnx`.  A classifier has skl2onnx's MLPClassifier
    outputs and options: ``label`` and ``probabilities``, which is a ZipMap (a
    list of dicts; float32 only, in onnxruntime) by default and a tensor with
    ``options={"zipmap": False}``; ``nocl`` and ``output_class_labels`` as
    skl2onnx defines them.  Calling it again changes nothing.

    Registration is explicit, not done on import: importing skl2onnx imports
    onnx and is slow, which fitting an estimator need not pay.
    """
    from densecore import onnx

    for base in (DenseClassifier, DenseRegressor):
        for estimator in _with_subclasses(base):
            onnx.register_converter(estimator, classifier=base is DenseClassifier)


def _with_subclasses(cls):
    """``cls`` and every subclass of it defined so far."""
    return [cls, *(sub for child in cls.__subclasses__() for sub in _with_subclasses(child))]
