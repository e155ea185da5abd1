"""The main job, run as a user runs it."""
import re
import subprocess
import sys
from pathlib import Path

import pytest


def run(*arguments, cwd):
    return subprocess.run([sys.executable, "-m", "densecore", *arguments], cwd=cwd,
                          capture_output=True, text=True, check=True, timeout=120)


def test_train_with_defaults_reaches_the_target_accuracy(tmp_path):
    result = run("train", cwd=tmp_path)
    accuracy = float(re.search(r"test accuracy: ([0-9.]+)", result.stdout).group(1))
    assert accuracy >= 0.96
    assert "epoch" in result.stderr  # the per-epoch progress


def test_train_options(tmp_path):
    result = run("train", "--epochs", "2", "--batch-size", "16", "--learning-rate", "0.05",
                 "--hidden", "32", "--dtype", "float32", "--seed", "3", cwd=tmp_path)
    assert "sizes=[64, 32, 10]" in result.stdout and "float32" in result.stdout
    assert "after 2 epochs" in result.stdout


@pytest.mark.parametrize("arguments", [["train", "--hidden", "12,x"], ["train", "--dtype", "int8"],
                                       ["fly"], []])
def test_bad_arguments_exit_with_usage(tmp_path, arguments):
    result = subprocess.run([sys.executable, "-m", "densecore", *arguments], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "usage" in result.stderr


def test_console_script_is_installed(tmp_path):
    script = Path(sys.executable).with_name("densecore")
    result = subprocess.run([str(script), "train", "--epochs", "1"], cwd=tmp_path,
                            capture_output=True, text=True, check=True, timeout=120)
    assert "test accuracy" in result.stdout
