"""Learning curves: a 64-32-10 network trained on the embedded digits, loss and
accuracy per epoch on the training rows and on a held-out tenth (about a second)."""
import matplotlib.pyplot as plt

import densecore
from densecore.datasets import load_digits

X, y = load_digits()
net = densecore.Network.from_sizes([64, 32, 10], seed=0)
history = net.fit(X, y, epochs=40, batch_size=32, learning_rate=0.05, seed=0,
                  validation_split=0.1)
epochs = range(1, len(history["loss"]) + 1)

figure, (loss, accuracy) = plt.subplots(1, 2, layout="constrained")
for axes, key, title in [(loss, "loss", "cross-entropy loss"),
                         (accuracy, "accuracy", "accuracy")]:
    axes.plot(epochs, history[key], label="training")
    axes.plot(epochs, history[f"val_{key}"], label="validation")
    axes.set(xlabel="epoch", title=title)
loss.set_yscale("log")
accuracy.legend()
