"""The main job, run as a user runs it."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

from densecore import Network


def run(*arguments, cwd, check=True):
    return subprocess.run([sys.executable, "-m", "densecore", *arguments], cwd=cwd,
                          capture_output=True, text=True, check=check, timeout=120)


def accuracy(output):
    return float(re.search(r"test accuracy: ([0-9.]+)", output).group(1))


def fails_cleanly(result, message):
    """Exit status 2 with ``message`` on stderr, and no traceback."""
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_train_with_defaults_reaches_the_target_accuracy(tmp_path):
    result = run("train", cwd=tmp_path)
    assert accuracy(result.stdout) >= 0.96
    assert "validation accuracy" in result.stdout  # 10 % of the training digits held out
    assert "epoch" in result.stderr  # the per-epoch progress


def test_train_options(tmp_path):
    result = run("train", "--epochs", "2", "--batch-size", "16", "--learning-rate", "0.05",
                 "--hidden", "32", "--dtype", "float32", "--seed", "3", cwd=tmp_path)
    assert "sizes=[64, 32, 10]" in result.stdout and "float32" in result.stdout
    assert "after 2 epochs" in result.stdout


@pytest.mark.parametrize("arguments", [["train", "--hidden", "12,x"], ["train", "--dtype", "int8"],
                                       ["train", "--optimizer", "rmsprop"],
                                       ["train", "--validation-split", "1"],
                                       ["evaluate"], ["fly"], []])
def test_bad_arguments_exit_with_usage(tmp_path, arguments):
    result = subprocess.run([sys.executable, "-m", "densecore", *arguments], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "usage" in result.stderr


def test_console_script_is_installed(tmp_path):
    script = Path(sys.executable).with_name("densecore")
    result = subprocess.run([str(script), "train", "--epochs", "1"], cwd=tmp_path,
                            capture_output=True, text=True, check=True, timeout=120)
    assert "test accuracy" in result.stdout


def test_train_saves_and_plots_and_evaluate_reads_the_model(tmp_path):
    trained = run("train", "--epochs", "3", "--optimizer", "adam", "--dtype", "float32",
                  "--save", "model.npz", "--plot", "curves.png", cwd=tmp_path)
    assert "saved the model to model.npz" in trained.stdout
    assert (tmp_path / "curves.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    evaluated = run("evaluate", "model.npz", cwd=tmp_path)
    assert "dtype=float32" in evaluated.stdout
    assert accuracy(evaluated.stdout) == accuracy(trained.stdout)


def test_plot_without_matplotlib_fails_before_training(tmp_path):
    # The working folder comes first on sys.path under python -m: this hides matplotlib.
    (tmp_path / "matplotlib.py").write_text("raise ImportError('no matplotlib here')\n")
    result = run("train", "--plot", "curves.png", cwd=tmp_path, check=False)
    fails_cleanly(result, "--plot needs matplotlib: pip install 'densecore[plot]'")
    assert "training on" not in result.stdout


@pytest.mark.parametrize("option", ["--save", "--plot"])
def test_outputs_in_a_missing_folder_fail_before_training(tmp_path, option):
    result = run("train", option, "missing/out", cwd=tmp_path, check=False)
    fails_cleanly(result, f"{option}: the folder of 'missing/out' does not exist")


def test_evaluate_refuses_what_it_cannot_use(tmp_path):
    fails_cleanly(run("evaluate", "nothing.npz", cwd=tmp_path, check=False),
                  "No such file or directory")
    (tmp_path / "noise.npz").write_bytes(b"not a model")
    fails_cleanly(run("evaluate", "noise.npz", cwd=tmp_path, check=False),
                  "'noise.npz' is not a valid densecore model: not a readable zip archive")
    Network.from_sizes([3, 4, 2], seed=0).save(tmp_path / "small.npz")
    fails_cleanly(run("evaluate", "small.npz", cwd=tmp_path, check=False),
                  "'small.npz' is not a digits classifier")
