"""A decision boundary: DenseClassifier on two interleaved half-moons drawn with
numpy, its probability of class 1 over the plane."""
import matplotlib.pyplot as plt
import numpy as np

from densecore.sklearn import DenseClassifier


def two_moons(n, noise, rng):
    """``n`` points on two interleaved half circles, with Gaussian noise."""
    angle = rng.uniform(0, np.pi, n)
    label = rng.integers(0, 2, n)
    x = np.where(label, 1 - np.cos(angle), np.cos(angle))
    y = np.where(label, 0.5 - np.sin(angle), np.sin(angle))
    return np.column_stack([x, y]) + noise * rng.standard_normal((n, 2)), label


X, y = two_moons(400, 0.15, np.random.default_rng(0))
model = DenseClassifier(hidden_layer_sizes=(32, 32), learning_rate_init=0.01, max_iter=300,
                        random_state=0).fit(X, y)

xx, yy = np.meshgrid(np.linspace(-1.6, 2.6, 200), np.linspace(-1.2, 1.7, 150))
probability = model.predict_proba(np.column_stack([xx.ravel(), yy.ravel()]))[:, 1]

figure, axes = plt.subplots(layout="constrained")
filled = axes.contourf(xx, yy, probability.reshape(xx.shape), levels=20, cmap="RdBu_r",
                       alpha=0.8)
axes.contour(xx, yy, probability.reshape(xx.shape), levels=[0.5], colors="k")
axes.scatter(X[:, 0], X[:, 1], c=y, cmap="RdBu_r", edgecolors="k", s=14)
axes.set(title=f"DenseClassifier(hidden_layer_sizes=(32, 32)), "
               f"training accuracy {model.score(X, y):.2f}", xticks=[], yticks=[])
figure.colorbar(filled, label="probability of class 1")
