"""One BLAS thread while small products train: a second costs more than it gives.

With two OpenBLAS threads, 784-128-10 trained at batch 1 ran 2.4x slower than
with one: the threads wake and sync for every small product.  BLAS thread
counts are process-wide, so concurrent fits share one bound: the first that
needs it sets it and the last to leave restores what was there.
"""
import contextlib
import functools
import threading

from threadpoolctl import ThreadpoolController

# Below this many multiply-adds in a step's largest product, one thread.
SHARED_WORK = 2**21

_lock = threading.Lock()
_users = 0
_limiter = None


@functools.cache
def _controller():
    """threadpoolctl's view of the loaded BLAS libraries, made once."""
    return ThreadpoolController()


# Made at import, when the process holds the BLAS libraries that densecore calls
# and few others: threadpoolctl scans every loaded library, and in a process that
# had imported scikit-learn and more that scan took 20 ms of a first 60 ms fit.
_controller()


@contextlib.contextmanager
def threads_for(work):
    """A context that keeps BLAS on one thread for products of ``work`` multiply-adds."""
    global _users, _limiter
    if work >= SHARED_WORK:
        yield
        return
    with _lock:
        if _users == 0:
            _limiter = _controller().limit(limits=1, user_api="blas")
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                _limiter.restore_original_limits()
