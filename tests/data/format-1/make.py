"""Write the format-1 fixtures: run with densecore 0.1.0 installed, never a later version.

These are the files, pickles and expected outputs of densecore as it stood
before the one-engine redesign; tests/test_released_formats.py checks that every
later version reads them and trains on from them.
"""
import pickle
import numpy as np
import densecore
from densecore import Network, SGD
from densecore.sklearn import DenseClassifier, DenseRegressor

rng = np.random.default_rng(0)
X = rng.standard_normal((40, 6))
labels = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)
targets = X[:, :1] * 2 - X[:, 2:3]

adam = Network.from_sizes([6, 8, 3], activation="tanh", init="glorot", seed=0)
adam.partial_fit(X, labels, batch_size=8, learning_rate=0.01, optimizer="adam", seed=1)
adam.save("network-v1-adam-float64.npz")
sgd = Network.from_sizes([6, 5, 1], activation="relu", output_activation="identity",
                         dtype=np.float32, init="glorot", seed=2)
sgd.partial_fit(X, targets, batch_size=8, learning_rate=0.01,
                optimizer=SGD(0.9, nesterov=True), seed=3)
sgd.save("network-v1-sgd-float32.npz")
fresh = Network.from_sizes([6, 4, 4], activation="leaky_relu", output_activation="sigmoid", seed=4)
fresh.save("network-v1-untrained.npz")
with open("network-v1.pickle", "wb") as f:
    pickle.dump(adam, f)
clf = DenseClassifier((7,), max_iter=3, random_state=0).fit(X, labels)
reg = DenseRegressor((5,), solver="sgd", max_iter=3, random_state=0).fit(X, targets.ravel())
with open("classifier-v1.pickle", "wb") as f:
    pickle.dump(clf, f)
with open("regressor-v1.pickle", "wb") as f:
    pickle.dump(reg, f)

# What the reader must reproduce: predictions, and the state after one more pass.
expected = {"X": X, "labels": labels, "targets": targets}
for name, net, y in [("adam", adam, labels), ("sgd", sgd, targets), ("untrained", fresh, None)]:
    expected[f"{name}/predict"] = net.predict(X)
    if y is not None:
        net.partial_fit(X, y, batch_size=8, learning_rate=0.01, seed=5)
        for i, layer in enumerate(net.layers):
            expected[f"{name}/resumed/{i}/weights"] = layer.weights
            expected[f"{name}/resumed/{i}/bias"] = layer.bias.ravel()
expected["classifier/predict_proba"] = clf.predict_proba(X)
expected["regressor/predict"] = reg.predict(X)
clf.partial_fit(X, labels)
reg.partial_fit(X, targets.ravel())
expected["classifier/resumed/predict_proba"] = clf.predict_proba(X)
expected["regressor/resumed/predict"] = reg.predict(X)
np.savez("expected-v1.npz", **expected)
print(densecore.__version__, densecore.__file__)
