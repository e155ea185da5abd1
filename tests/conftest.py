from pathlib import Path

import densecore

SOURCE_TREE = Path(__file__).resolve().parents[1] / "densecore"


def pytest_report_header(config):
    return f"densecore {densecore.__version__} from {Path(densecore.__file__).parent}"


def pytest_configure(config):
    # The tests are of the built, installed package: a source tree without its
    # compiled modules must never stand in for it.
    if Path(densecore.__file__).resolve().parent == SOURCE_TREE:
        raise RuntimeError(
            f"densecore was imported from the source tree {SOURCE_TREE}; install it "
            "(pip install .) and run pytest, not python -m pytest, from the repository"
        )
