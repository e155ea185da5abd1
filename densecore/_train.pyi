from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray
from typing_extensions import disjoint_base

_Float = TypeVar("_Float", np.float32, np.float64)

# An extension type: no class can derive from it and another such base.
@disjoint_base
class Trainer:
    step: int
    # Built by __cinit__: nothing is left for __init__ to take.
    def __new__(
        cls,
        layers: list[tuple[NDArray[_Float], NDArray[_Float], int, NDArray[_Float] | None,
                           NDArray[_Float] | None, list[NDArray[_Float]],
                           list[NDArray[_Float]]]],
        loss: int, n_targets: int, batch_size: int, optimizer: int,
        hyper_parameters: tuple[float, float, float, bool], alpha: float,
        l2_per_sample: bool, alpha_on_biases: bool, clip_norm: float,
        gradients: NDArray[_Float] | None, dropout: Sequence[float] | None = None,
        seed: int = 0,
    ) -> Trainer: ...
    def point_at(self, parameters: NDArray[_Float] | None = None) -> None: ...
    def loss_gradient(
        self, X: NDArray[_Float], Y: NDArray[_Float], weight: NDArray[_Float] | None = None
    ) -> float: ...
    def sparse_loss_gradient(
        self, data: NDArray[_Float], indices: NDArray[np.intc], indptr: NDArray[np.intp],
        Y: NDArray[_Float], weight: NDArray[_Float] | None = None,
    ) -> float: ...
    def epoch(
        self, X: NDArray[_Float], Y: NDArray[_Float], order: NDArray[np.intp],
        learning_rate: float, weight: NDArray[_Float] | None = None,
    ) -> tuple[float, float, float]: ...
    def sparse_epoch(
        self, data: NDArray[_Float], indices: NDArray[np.intc], indptr: NDArray[np.intp],
        Y: NDArray[_Float], order: NDArray[np.intp], learning_rate: float,
        weight: NDArray[_Float] | None = None,
    ) -> tuple[float, float, float]: ...

@disjoint_base
class Predictor:
    capacity: int
    serving_rows: int
    dtype: np.dtype
    def __new__(
        cls, layers: list[tuple[NDArray[_Float], NDArray[_Float], int]], capacity: int
    ) -> Predictor: ...
    def claim(self) -> bool: ...
    def release(self) -> None: ...
    def predict(self, X: NDArray[_Float], result: NDArray[_Float]) -> None: ...
    def serve(self, X: object, out: object) -> NDArray[_Float] | None: ...
    def forward(self, X: NDArray[_Float]) -> tuple[NDArray[_Float], NDArray[_Float]]: ...

def csr_forward(
    data: NDArray[_Float], indices: NDArray[np.intc], indptr: NDArray[np.intp], start: int,
    stop: int, W: NDArray[_Float], b: NDArray[_Float], activation: int,
) -> tuple[NDArray[_Float], NDArray[_Float]]: ...

def dropout_mask(
    seed: int, step: int, layer: int, size: int, rate: float, dtype: Any = ...,
) -> NDArray[Any]: ...
def philox4x32(counter: Sequence[int], key: int) -> list[int]: ...
