"""One BLAS thread while the functional simulator runs.

The simulator's GEMMs are many small float32 products (a conv tile's im2col rows times a few weight tiles).
OpenBLAS hands a product to all its threads once M·N·K passes 2^18, and on a busy machine that hand-off costs
milliseconds for a sub-millisecond product (measured: (112×576)·(576×64) 3.5 ms threaded vs 0.3 ms on one
thread, on 2 shared cores). `one_blas_thread` limits BLAS to one thread for the duration of a run (threadpoolctl,
restored afterwards, about 60 µs per run); while it is active `active` is true and `vta.sim.compute` makes each
product one BLAS call. Without threadpoolctl, or with a BLAS it cannot limit, `active` stays false and
`vta.sim.compute` keeps every call below the threading threshold by itself (stacked row blocks, slower).
"""

import contextlib

__all__ = ["one_blas_thread", "active"]

active = False
_controller = None   # threadpoolctl's controller of the BLAS libraries numpy loaded, or False without one


def _blas():
    global _controller
    if _controller is None:
        try:
            from threadpoolctl import ThreadpoolController
            blas = ThreadpoolController().select(user_api="blas")
            _controller = blas if blas.lib_controllers else False
        except ImportError:
            _controller = False
    return _controller


@contextlib.contextmanager
def one_blas_thread():
    """Run the body with BLAS on one thread (``active`` set), when that can be arranged."""
    global active
    blas = _blas()
    if not blas or active:   # nothing to limit, or already limited by an enclosing run
        yield
        return
    with blas.limit(limits=1):
        active = True
        try:
            yield
        finally:
            active = False
