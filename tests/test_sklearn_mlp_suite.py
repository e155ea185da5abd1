"""scikit-learn's own tests of its MLP, run against densecore's estimators.

The installed scikit-learn ships ``neural_network/tests/test_mlp.py``.  A copy
of it with one line changed, its import of ``MLPClassifier`` and
``MLPRegressor``, runs here on ``DenseClassifier`` and ``DenseRegressor``:
every test but the four that read the MLP's private attributes must pass.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

sklearn = pytest.importorskip("sklearn")

IMPORT = "from sklearn.neural_network import MLPClassifier, MLPRegressor"
DENSECORE = ("from densecore.sklearn import DenseClassifier as MLPClassifier, "
             "DenseRegressor as MLPRegressor")
# They read or write the MLP's internals: _optimizer, _loss_grad_lbfgs, coefs_ set whole.
PRIVATE = ["test_fit", "test_gradient", "test_learning_rate_warmstart",
           "test_adaptive_learning_rate"]


def test_scikit_learns_mlp_tests_pass_on_densecore(tmp_path):
    source = Path(sklearn.__file__).parent / "neural_network" / "tests" / "test_mlp.py"
    text = source.read_text()
    assert text.count(IMPORT) == 1, "the import line of test_mlp.py has changed"
    copy = tmp_path / "test_mlp_densecore.py"
    copy.write_text(text.replace(IMPORT, DENSECORE))
    deselect = [f"--deselect={copy.name}::{name}" for name in PRIVATE]
    # -p sklearn.conftest: its global_random_seed fixture; run where only the copy is.
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "sklearn.conftest", "-p",
         "no:cacheprovider", "--rootdir", str(tmp_path), *deselect, copy.name],
        cwd=tmp_path, capture_output=True, text=True, timeout=900,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    summary = done.stdout.strip().splitlines()[-1]
    assert done.returncode == 0, done.stdout[-5000:]
    # scikit-learn 1.9.1's module: 59 tests, 55 run; every one that runs passes.
    assert re.fullmatch(r"\d+ passed, 4 deselected(, \d+ warnings?)? in .*", summary), summary
