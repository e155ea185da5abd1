"""densecore's benchmark suite: ``python -m benchmarks`` from the repository root.

It measures the *installed* densecore.  ``python -m`` puts the working
directory first on ``sys.path``, and from the repository root that is the
source tree, whose ``densecore`` has no compiled extensions: drop it here,
before anything imports densecore (this package's own modules are already
found through ``__path__``).
"""
import os
import sys

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:] = [entry for entry in sys.path
               if os.path.abspath(entry or os.curdir) != _ROOT]
