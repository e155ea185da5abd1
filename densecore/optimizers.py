"""The optimizers: one class each in :data:`OPTIMIZERS`, and the state they train with.

Each update rule is one fused kernel in ``_core.pyx``; a class here carries
its name, its kernel code, its hyper-parameters and their check, how many
arrays of state it keeps per parameter, and the check of a saved state.  The
formulas are PyTorch's, so that a model trains the same in both: with ``g``
the gradient (plus ``alpha * W`` for weights),

- SGD: ``v = momentum * v + g``; ``W -= lr * (g + momentum * v if nesterov else v)``
  (plain ``W -= lr * g`` without momentum);
- Adam: ``m = beta_1 m + (1 - beta_1) g``, ``s = beta_2 s + (1 - beta_2) g**2``,
  ``W -= lr * m_hat / (sqrt(s_hat) + epsilon)`` with bias-corrected
  ``m_hat = m / (1 - beta_1**t)`` and ``s_hat = s / (1 - beta_2**t)``.

:class:`State` is an optimizer's state for one network: its slots, one row of
the network's flat parameter layout per slot, and the steps taken.
"""
import math

import numpy as np

from densecore import kernels
from densecore._validation import finite_number, non_negative_int, positive_int

__all__ = ["Adam", "AdamW", "LBFGS", "OPTIMIZERS", "SGD", "State", "get"]


def _fraction(value, name, *, up_to_one=False):
    """``value`` as a float in [0, 1), or in [0, 1] if ``up_to_one``; else ``ValueError``."""
    value = float(value)
    if not (0 <= value <= 1 if up_to_one else 0 <= value < 1):
        interval = "[0, 1]" if up_to_one else "[0, 1)"
        raise ValueError(f"{name} must lie in {interval}, got {value}")
    return value


class _Optimizer:
    """What every optimizer has: equality and repr by its settings, and a check of
    its saved slots (any finite values, unless a subclass says more)."""

    def __eq__(self, other):
        return type(other) is type(self) and other.get_params() == self.get_params()

    def __repr__(self):
        settings = ", ".join(f"{key}={value!r}" for key, value in self.get_params().items())
        return f"{type(self).__name__}({settings})"

    # Whether the optimizer takes no mini-batch steps but minimizes the full-batch
    # loss itself (Session.minimize), without a kernel of its own.
    full_batch = False
    # The decay it applies to every parameter itself (AdamW's), in place of an L2
    # penalty in the gradient: the kernel's alpha for weights and biases alike.
    decoupled_decay = 0.0

    @property
    def plain(self):
        """Whether a step is ``W -= lr * g`` alone, which the compiled epoch fuses
        into the backward pass."""
        return False

    def check_slots(self, slots):
        """``ValueError`` if the saved ``slots`` ``(n_slots, n_parameters)`` cannot be
        this optimizer's."""


class SGD(_Optimizer):
    """Stochastic gradient descent, with optional (Nesterov) momentum.

    Parameters
    ----------
    momentum : float in [0, 1], default 0
        1 is the heavy ball without decay: the velocity sums every gradient.
    nesterov : bool, default False
        Needs ``momentum > 0``.
    """

    name = "sgd"
    code = kernels.Optimizer.SGD

    def __init__(self, momentum=0.0, nesterov=False):
        self.momentum = _fraction(momentum, "momentum", up_to_one=True)
        self.nesterov = bool(nesterov)
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov needs momentum > 0")

    @property
    def n_slots(self):
        """Arrays of state per parameter: the velocity, with momentum."""
        return 1 if self.momentum else 0

    @property
    def plain(self):
        return self.momentum == 0

    def get_params(self):
        return {"momentum": self.momentum, "nesterov": self.nesterov}

    def hyper_parameters(self):
        """``(beta_1, beta_2, epsilon, nesterov)`` as the kernel takes them."""
        return self.momentum, 0.0, 0.0, self.nesterov


class Adam(_Optimizer):
    """Adam (Kingma and Ba, 2015).

    Parameters
    ----------
    beta_1, beta_2 : float in [0, 1), default 0.9 and 0.999
        Decay rates of the first and second moment estimates; 0 keeps none of
        the past (the bias corrections are then 1).
    epsilon : float > 0, default 1e-8
    """

    name = "adam"
    code = kernels.Optimizer.ADAM
    n_slots = 2  # the moment estimates

    def __init__(self, beta_1=0.9, beta_2=0.999, epsilon=1e-8):
        self.beta_1 = _fraction(beta_1, "beta_1")
        self.beta_2 = _fraction(beta_2, "beta_2")
        self.epsilon = float(epsilon)
        if not (self.epsilon > 0 and math.isfinite(self.epsilon)):
            raise ValueError(f"epsilon must be a positive number, got {epsilon}")

    def get_params(self):
        return {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}

    def hyper_parameters(self):
        """``(beta_1, beta_2, epsilon, nesterov)`` as the kernel takes them."""
        return self.beta_1, self.beta_2, self.epsilon, False

    def check_slots(self, slots):
        if slots[1].min(initial=0) < 0:
            raise ValueError(f"Adam's second moments (slot 1) cannot be negative, got "
                             f"{slots[1].min()}")


class LBFGS(_Optimizer):
    """L-BFGS-B through ``scipy.optimize.minimize``, on the loss and gradient of the
    whole training set (the compiled kernels compute them without the GIL).

    It suits small data sets, as in scikit-learn.  It keeps no state between
    fits: its curvature memory lives inside scipy for one run.

    Parameters
    ----------
    max_fun : int >= 1, default 15000
        The most loss evaluations in one fit.
    tol : float >= 0, default 1e-4
        Stop when the largest entry of the projected gradient falls below it
        (scipy's ``gtol``).
    """

    name = "lbfgs"
    code = None
    n_slots = 0
    full_batch = True

    def __init__(self, max_fun=15000, tol=1e-4):
        self.max_fun = positive_int(max_fun, "max_fun")
        self.tol = finite_number(tol, "tol", minimum=0)

    def get_params(self):
        return {"max_fun": self.max_fun, "tol": self.tol}

    def hyper_parameters(self):
        """No kernel takes them: zeros in the kernel's ``(beta_1, beta_2, epsilon,
        nesterov)``."""
        return 0.0, 0.0, 0.0, False


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter, 2019), PyTorch's
    ``torch.optim.AdamW``: each step first multiplies every weight and bias by
    ``1 - learning_rate * weight_decay``, then takes Adam's step on the gradient
    alone.  It takes no ``alpha`` (L2 penalty) beside it.

    Parameters
    ----------
    beta_1, beta_2, epsilon
        As :class:`Adam`'s.
    weight_decay : float >= 0, default 0.01 (PyTorch's)
    """

    name = "adamw"
    code = kernels.Optimizer.ADAMW

    def __init__(self, beta_1=0.9, beta_2=0.999, epsilon=1e-8, weight_decay=0.01):
        super().__init__(beta_1, beta_2, epsilon)
        self.weight_decay = finite_number(weight_decay, "weight_decay", minimum=0)

    @property
    def decoupled_decay(self):
        return self.weight_decay

    def get_params(self):
        return {**super().get_params(), "weight_decay": self.weight_decay}


OPTIMIZERS = {cls.name: cls for cls in (SGD, Adam, AdamW, LBFGS)}


def get(optimizer):
    """An optimizer object from a name (default settings) or an object."""
    if isinstance(optimizer, _Optimizer):
        return optimizer
    if isinstance(optimizer, str) and optimizer in OPTIMIZERS:
        return OPTIMIZERS[optimizer]()
    raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)} or an optimizer "
                     f"object (densecore.SGD, densecore.Adam, densecore.AdamW, "
                     f"densecore.LBFGS), got "
                     f"{optimizer!r}")


class State:
    """An optimizer's state for one network's flat parameters.

    Attributes
    ----------
    optimizer : SGD or Adam
    slots : ndarray of shape (optimizer.n_slots, n_parameters)
        Slot ``j`` of every parameter, laid out as the network's parameters are.
    step : int
        Optimizer steps taken (Adam's bias corrections count them).
    """

    def __init__(self, optimizer, n_parameters, dtype):
        self.optimizer = get(optimizer)
        self.slots = np.zeros((self.optimizer.n_slots, n_parameters), dtype)
        self.step = 0

    def reset(self):
        """Start afresh: zero slots, no step taken."""
        self.slots[...] = 0
        self.step = 0

    def to_dict(self):
        """``{"name", "settings", "step", "slots"}``: plain values and a copy of the slots."""
        return {"name": self.optimizer.name, "settings": self.optimizer.get_params(),
                "step": self.step, "slots": self.slots.copy()}

    @classmethod
    def from_dict(cls, state, n_parameters, dtype):
        """The state that :meth:`to_dict` gave, for ``n_parameters`` of ``dtype``;
        ``ValueError`` saying what is wrong with it otherwise."""
        try:
            optimizer = OPTIMIZERS[state["name"]](**state["settings"])
            step = non_negative_int(state["step"], "step")
            slots = np.asarray(state["slots"])
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"invalid optimizer state: {error!r}") from None
        expected = (optimizer.n_slots, n_parameters)
        if slots.shape != expected or slots.dtype.kind != "f":
            raise ValueError(f"the optimizer's slots must be a float array of shape "
                             f"{expected}, got {slots.dtype} {slots.shape}")
        if not np.isfinite(slots).all():
            # Non-finite state would turn the weights to NaN at the next step.
            raise ValueError("the optimizer's slots hold NaN or infinity")
        optimizer.check_slots(slots)
        restored = cls(optimizer, n_parameters, dtype)
        restored.slots[...] = slots
        restored.step = step
        return restored
