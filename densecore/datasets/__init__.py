"""Data sets that ship inside densecore, so that nothing is downloaded."""
from importlib import resources

import numpy as np

__all__ = ["load_digits"]


def load_digits():
    """The 1,797 8x8 images of handwritten digits (UCI optical recognition).

    Returns
    -------
    X : ndarray of float64, shape (1797, 64)
        Pixel intensities scaled from 0..16 to [0, 1], rows of the 8x8 image.
    y : ndarray of int64, shape (1797,)
        The digit, 0 to 9.

    Notes
    -----
    The test part of E. Alpaydin and C. Kaynak's "Optical Recognition of
    Handwritten Digits" (UCI Machine Learning Repository, 1998, CC BY 4.0), as
    scikit-learn ships it in ``sklearn.datasets.load_digits``.
    """
    with resources.files(__name__).joinpath("digits.npz").open("rb") as file, \
            np.load(file, allow_pickle=False) as data:
        return data["images"] / 16.0, data["labels"].astype(np.int64)
