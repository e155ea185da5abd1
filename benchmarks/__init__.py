"""densecore's benchmark suite: ``python -m benchmarks`` from the repository root.

It measures the *installed* densecore.  ``python -m`` puts the working
directory first on ``sys.path``, and from the repository root that is the
source tree, whose ``densecore`` has no compiled extensions: move it last,
before anything imports densecore, so that the installed one is found first.
It stays on the path for the processes the suite spawns (multiprocessing's
``spawn`` hands them this ``sys.path``), which import this package by name.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:] = [entry for entry in sys.path
               if os.path.abspath(entry or os.curdir) != ROOT] + [ROOT]
