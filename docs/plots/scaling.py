"""The data-parallel table as a plot: training throughput on 1 and 2 workers,
read from data-parallel-scaling.csv (the numbers the table on the same page shows)."""
import csv
from pathlib import Path

import matplotlib.pyplot as plt

# The plot directive runs this with the working directory set to docs/.
with Path("data-parallel-scaling.csv").open(newline="") as file:
    rows = list(csv.DictReader(file))

series = {}
for row in rows:
    sync = row["sync every"]
    label = row["trainer"] + (f", sync every {sync}" if sync not in ("-", "1") else "")
    series.setdefault(label, {})[int(row["workers"])] = int(row["samples/s"])

figure, axes = plt.subplots(figsize=(7, 4), layout="constrained")
width = 0.8 / len(series)
for i, (label, by_workers) in enumerate(series.items()):
    workers = sorted(by_workers)
    axes.bar([w + (i - (len(series) - 1) / 2) * width for w in workers],
             [by_workers[w] for w in workers], width, label=label)
axes.set(xticks=[1, 2], xlabel="worker processes (one BLAS thread each)",
         ylabel="training samples/s",
         title="784-512-256-10 float32, batch 128 per worker, 2-core machine")
axes.legend(fontsize="small")
