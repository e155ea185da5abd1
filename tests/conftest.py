import os
from pathlib import Path

import pytest

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


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    """A Dask client of a real LocalCluster: two worker processes, one thread each."""
    distributed = pytest.importorskip("distributed")
    pytest.importorskip("sklearn")  # densecore.dask wraps the estimators
    # Worker processes start in this folder, so that they import the installed
    # densecore and never the source tree beside the tests.
    here = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("workers"))
    try:
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                      dashboard_address=None) as cluster, \
                distributed.Client(cluster) as client:
            yield client
    finally:
        os.chdir(here)
