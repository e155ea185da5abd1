"""The threads of densecore's compiled products: a team of its own, BLAS on one.

A product of at least ``TEAM_WORK`` multiply-adds runs in fixed blocks of its
rows or columns shared by a team of OpenMP threads (``densecore._core``), each
block one call of single-threaded BLAS: the blocks never depend on the thread count,
so neither do the results.  So while the compiled epoch or a large prediction
runs, BLAS is held to one thread (threadpoolctl), which is also what small
products want: with two OpenBLAS threads, 784-128-10 trained at batch 1 ran
2.4x slower than with one.  BLAS thread counts are process-wide, so concurrent
calls share one bound (the first sets it, the last restores what was there) and
share the cores (each gets its part of the team).
"""
import contextlib
import functools
import numbers
import os
import threading

from threadpoolctl import ThreadpoolController

# OpenMP's idle threads spin briefly for the next product, then sleep, unless the
# user chose otherwise.  Training 784-512-256-10 float32 at 2 threads on a quiet
# 2-core machine: 1.58x one thread when they sleep at once (a wake-up per
# product), 1.82x after SPINS spins (tens of microseconds); under load the short
# spin did no worse than sleeping, where spinning without end (libgomp's
# OMP_WAIT_POLICY=ACTIVE) made two threads 4-8x slower than one.  libgomp reads
# the variable once, as _core loads it; it is gone again after, so that no child
# process inherits it.
SPINS = "100000"
_POLICY_CHOSEN = "OMP_WAIT_POLICY" in os.environ or "GOMP_SPINCOUNT" in os.environ
if not _POLICY_CHOSEN:
    os.environ["GOMP_SPINCOUNT"] = SPINS
try:
    from densecore import _core
finally:
    if not _POLICY_CHOSEN:
        del os.environ["GOMP_SPINCOUNT"]

TEAM_WORK = _core.TEAM_WORK_MULTIPLY_ADDS

_lock = threading.Lock()
_users = 0  # runs of compiled products in progress
_holds = 0  # contexts holding BLAS to one thread
_limiter = None
_requested = 0  # set_num_threads' count; 0: OpenMP's


@functools.cache
def _controller():
    """threadpoolctl's view of the loaded BLAS libraries, made once."""
    return ThreadpoolController()


# Made at import, when the process holds the BLAS libraries that densecore calls
# and few others: threadpoolctl scans every loaded library, and in a process that
# had imported scikit-learn and more that scan took 20 ms of a first 60 ms fit.
_controller()


def _cores():
    """The cores this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _publish():
    """Hand the team's bounds to the compiled products."""
    _core.set_team(_requested, _cores(), _users)


_publish()


def set_num_threads(n):
    """Set the number of threads of densecore's compiled products.

    Parameters
    ----------
    n : int
        At least 1.  The team never exceeds OpenMP's own count (``OMP_NUM_THREADS``,
        or a ``threadpoolctl.threadpool_limits(..., user_api="openmp")`` in force)
        nor the cores the process may run on, and fits or predictions running at
        once in several Python threads share it.

    Notes
    -----
    Results do not depend on the number of threads: see the README's "Threads".
    """
    global _requested
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"n must be an int, got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    with _lock:
        _requested = int(n)
        _publish()


def get_num_threads():
    """Return the number of threads a fit or prediction started now would run on.

    Returns
    -------
    int
        OpenMP's count for the calling thread (``OMP_NUM_THREADS``, threadpoolctl's
        "openmp" limits), lowered by ``set_num_threads`` and by the cores available
        to the process (``os.sched_getaffinity``); 1 where densecore was built
        without OpenMP.  Fits and predictions running at once share it.
    """
    return _core.thread_count()


@contextlib.contextmanager
def blas_on_one_thread():
    """A context in which BLAS runs on one thread; nested and concurrent ones share
    one bound, set by the first and restored by the last."""
    global _holds, _limiter
    with _lock:
        if _holds == 0:
            _limiter = _controller().limit(limits=1, user_api="blas")
        _holds += 1
    try:
        yield
    finally:
        with _lock:
            _holds -= 1
            if _holds == 0:
                _limiter.restore_original_limits()


@contextlib.contextmanager
def compiled_products():
    """A context for a run of compiled products: BLAS on one thread, the team's
    cores shared with the other runs in progress."""
    global _users
    with blas_on_one_thread():
        with _lock:
            _users += 1
            _publish()
        try:
            yield
        finally:
            with _lock:
                _users -= 1
                _publish()
