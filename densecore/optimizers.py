"""Optimizer settings: which update rule the compiled epoch applies, and with what.

Each rule is one fused kernel in ``_core.pyx``; these classes only carry and
check the hyper-parameters.  The formulas are PyTorch's, so that a model trains
the same in both: with ``g`` the gradient (plus ``alpha * W`` for weights),

- SGD: ``v = momentum * v + g``; ``W -= lr * (g + momentum * v if nesterov else v)``
  (plain ``W -= lr * g`` without momentum);
- Adam: ``m = beta_1 m + (1 - beta_1) g``, ``s = beta_2 s + (1 - beta_2) g**2``,
  ``W -= lr * m_hat / (sqrt(s_hat) + epsilon)`` with bias-corrected
  ``m_hat = m / (1 - beta_1**t)`` and ``s_hat = s / (1 - beta_2**t)``.
"""
import math

from densecore.kernels import Optimizer

__all__ = ["SGD", "Adam", "get"]


def _fraction(value, name, *, low_open=False):
    value = float(value)
    if not (0 < value < 1 if low_open else 0 <= value < 1):
        interval = "(0, 1)" if low_open else "[0, 1)"
        raise ValueError(f"{name} must lie in {interval}, got {value}")
    return value


class _Optimizer:
    def __eq__(self, other):
        return type(other) is type(self) and other.get_params() == self.get_params()

    def __repr__(self):
        settings = ", ".join(f"{key}={value!r}" for key, value in self.get_params().items())
        return f"{type(self).__name__}({settings})"


class SGD(_Optimizer):
    """Stochastic gradient descent, with optional (Nesterov) momentum.

    Parameters
    ----------
    momentum : float in [0, 1), default 0
    nesterov : bool, default False
        Needs ``momentum > 0``.
    """

    name = "sgd"
    code = Optimizer.SGD

    def __init__(self, momentum=0.0, nesterov=False):
        self.momentum = _fraction(momentum, "momentum")
        self.nesterov = bool(nesterov)
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov needs momentum > 0")

    @property
    def n_slots(self):
        """Arrays of state per parameter: the velocity, with momentum."""
        return 1 if self.momentum else 0

    def get_params(self):
        return {"momentum": self.momentum, "nesterov": self.nesterov}

    def hyper_parameters(self):
        """``(beta_1, beta_2, epsilon, nesterov)`` as the kernel takes them."""
        return self.momentum, 0.0, 0.0, self.nesterov


class Adam(_Optimizer):
    """Adam (Kingma and Ba, 2015).

    Parameters
    ----------
    beta_1, beta_2 : float in (0, 1), default 0.9 and 0.999
        Decay rates of the first and second moment estimates.
    epsilon : float > 0, default 1e-8
    """

    name = "adam"
    code = Optimizer.ADAM
    n_slots = 2  # the moment estimates

    def __init__(self, beta_1=0.9, beta_2=0.999, epsilon=1e-8):
        self.beta_1 = _fraction(beta_1, "beta_1", low_open=True)
        self.beta_2 = _fraction(beta_2, "beta_2", low_open=True)
        self.epsilon = float(epsilon)
        if not (self.epsilon > 0 and math.isfinite(self.epsilon)):
            raise ValueError(f"epsilon must be a positive number, got {epsilon}")

    def get_params(self):
        return {"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}

    def hyper_parameters(self):
        return self.beta_1, self.beta_2, self.epsilon, False


OPTIMIZERS = {cls.name: cls for cls in (SGD, Adam)}


def get(optimizer):
    """An optimizer object from a name (default settings) or an object."""
    if isinstance(optimizer, _Optimizer):
        return optimizer
    if isinstance(optimizer, str) and optimizer in OPTIMIZERS:
        return OPTIMIZERS[optimizer]()
    raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)} or an optimizer "
                     f"object (densecore.SGD, densecore.Adam), got {optimizer!r}")
