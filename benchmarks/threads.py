"""Two threads training two networks, against one thread training one.

``python -m benchmarks.threads`` (from the repository root, densecore installed).
The kernels release the GIL, so on two cores two independent fits should run
side by side: issue 6 asks for more than 1.5 times one thread's throughput.
Each fit gets one thread (``densecore.set_num_threads(1)``, which also holds BLAS
to one thread while it runs), so that a thread means a core;
repeats alternate between one and two threads and medians are compared.
"""
import statistics
import threading
import time

import numpy as np
from densecore import Network, set_num_threads

SIZES = [784, 512, 10]  # compute-bound: the products dominate a step
SAMPLES, BATCH, REPEATS = 4096, 128, 7


def samples_per_second(n_threads, X, y):
    nets = [Network.from_sizes(SIZES, seed=i) for i in range(n_threads)]
    threads = [threading.Thread(target=net.fit, args=(X, y),
                                kwargs=dict(epochs=1, batch_size=BATCH, shuffle=False))
               for net in nets]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return n_threads * len(X) / (time.perf_counter() - start)


def main():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((SAMPLES, SIZES[0])), rng.integers(0, SIZES[-1], SAMPLES)
    runs = {1: [], 2: []}
    set_num_threads(1)
    samples_per_second(2, X[:BATCH], y[:BATCH])  # warm-up
    for _ in range(REPEATS):
        for n_threads in runs:
            runs[n_threads].append(samples_per_second(n_threads, X, y))
    one, two = (statistics.median(runs[n]) for n in (1, 2))
    print(f"{'-'.join(map(str, SIZES))} float64, batch {BATCH}, {SAMPLES} samples per fit, "
          f"median of {REPEATS}")
    print(f"one thread, one network:   {one:10,.0f} samples/s")
    print(f"two threads, two networks: {two:10,.0f} samples/s")
    print(f"ratio: {two / one:.2f}x (target > 1.5x)")


if __name__ == "__main__":
    main()
