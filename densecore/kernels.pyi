from enum import IntEnum
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

__all__ = ["Activation", "Loss", "Optimizer", "forward", "backward", "gradients", "loss",
           "update", "CLIP_EPSILON", "FLOAT_DTYPES", "LEAKY_SLOPE"]

LEAKY_SLOPE: float
CLIP_EPSILON: float
FLOAT_DTYPES: tuple[np.dtype[np.float32], np.dtype[np.float64]]

# Every kernel takes and returns one dtype: float32 or float64 throughout.
_Float = TypeVar("_Float", np.float32, np.float64)

class Activation(IntEnum):
    IDENTITY = 0
    RELU = 1
    SIGMOID = 2
    TANH = 3
    LEAKY_RELU = 4
    SOFTMAX = 5
    ELU = 6
    EXP = 7

class Loss(IntEnum):
    MSE = 0
    CROSS_ENTROPY = 1
    BINARY_CROSS_ENTROPY = 2
    POISSON = 3

class Optimizer(IntEnum):
    SGD = 0
    ADAM = 1
    ADAMW = 2

def forward(
    x: NDArray[_Float], W: NDArray[_Float], b: NDArray[_Float], activation: int
) -> tuple[NDArray[_Float], NDArray[_Float]]: ...
def backward(
    delta_next: NDArray[_Float], W_next: NDArray[_Float], signal: NDArray[_Float],
    activation: int,
) -> NDArray[_Float]: ...
def gradients(
    x: NDArray[_Float], delta: NDArray[_Float]
) -> tuple[NDArray[_Float], NDArray[_Float]]: ...
def loss(
    loss_code: int, activation: int, signal: NDArray[_Float], out: NDArray[_Float],
    target: NDArray[_Float], weight: NDArray[_Float] | None = None,
) -> tuple[float, NDArray[_Float]]: ...
def update(
    optimizer: int, param: NDArray[_Float], grad: NDArray[_Float], slot_1: NDArray[_Float],
    slot_2: NDArray[_Float], learning_rate: float, alpha: float = 0.0, scale: float = 1.0,
    beta_1: float = 0.0, beta_2: float = 0.0, epsilon: float = 0.0, nesterov: bool = False,
    step: int = 1,
) -> None: ...
