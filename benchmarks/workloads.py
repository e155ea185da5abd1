"""The workloads: what every peer runs, with the same data and sizes."""
from dataclasses import dataclass, field

import numpy as np

LEARNING_RATE = 0.01


@dataclass(frozen=True)
class Workload:
    """One row group of the table.

    ``targets`` maps a peer to ``(must reach, goal)`` ratios densecore/peer.
    """
    name: str
    sizes: tuple
    dtype: str
    batch: int
    samples: int
    train: bool = True
    targets: dict = field(default_factory=dict)

    @property
    def label(self):
        net = "-".join(map(str, self.sizes))
        return f"{self.name} {net} {self.dtype} b{self.batch}"

    @property
    def flops_per_sample(self):
        """Multiply-adds x 2 of the matrix products one sample costs.

        Forward, then for training the weight gradients of every layer and
        the deltas of every layer but the first.
        """
        products = [n_in * n_out for n_in, n_out in zip(self.sizes, self.sizes[1:])]
        if not self.train:
            return 2 * sum(products)
        return 2 * (2 * sum(products) + sum(products[1:]))

    def data(self, samples=None):
        """``(X, labels)``: standard normal inputs and uniform labels, seed 0."""
        rng = np.random.default_rng(0)
        samples = samples or self.samples
        X = rng.standard_normal((samples, self.sizes[0])).astype(self.dtype)
        return X, rng.integers(0, self.sizes[-1], samples)


WORKLOADS = [
    Workload("online SGD", (784, 128, 10), "float64", 1, 600,
             targets={"numpy": (5, 10), "torch": (5, 10)}),
    Workload("online SGD", (64, 32, 10), "float64", 1, 2_000,
             targets={"numpy": (10, 15), "torch": (30, 50)}),
    Workload("small-batch SGD", (64, 32, 10), "float64", 32, 16_384,
             targets={"numpy": (3, 5), "torch": (10, 20)}),
    Workload("mini-batch SGD", (784, 512, 256, 10), "float32", 128, 8_192,
             targets={"torch": (1.0, 1.15)}),
    Workload("mini-batch SGD", (784, 512, 256, 10), "float64", 128, 8_192,
             targets={"torch": (1.0, 1.15)}),
    Workload("inference", (784, 512, 256, 10), "float32", 1024, 8_192, train=False,
             targets={"torch": (1.0, 1.1)}),
]
# The goal on the share of the GEMM rate, by workload name.
GEMM_GOALS = {"mini-batch SGD": 0.85, "inference": 0.90}
