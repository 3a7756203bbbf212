"""A quantized program and its one interpreter.

`Program` is what `vta.quant.build_program` makes of a graph under a quantization plan: a list of typed steps
(`vta.compiler.steps`) with every scale, shift and int8 weight decided. `run_program` executes it either entirely
in numpy (the bit-exact simulation the quantization search scores) or with its VTA steps lowered onto a device
(a `vta.compiler.lower.VTAExecutor`); host steps run on the host either way.
"""

import dataclasses
import time

__all__ = ["Program", "run_program"]


@dataclasses.dataclass
class Program:
    steps: list
    exps: dict            # tensor → exponent of its int8 form
    outputs: list         # float keys of the graph outputs
    inputs: list
    n_nodes: int
    offsets: dict = dataclasses.field(default_factory=dict)   # tensor → offset: its int8 q stands for (q + offset)·2^e


def run_program(prog, feeds, consts, executor=None, start=0, env=None, snapshots=None):
    """Execute ``prog``; ``executor`` (a `VTAExecutor`) runs the VTA steps on its device, ``None`` in numpy.
    Returns the environment (all keys); with an executor, every step's wall time goes to `VTAExecutor.timed`.
    ``start``/``env`` resume from a cached prefix; ``snapshots`` (a dict) receives a shallow copy of the
    environment before each node's first step, by step index."""
    env = dict(feeds) if env is None else env
    last = None
    for i in range(start, len(prog.steps)):
        st = prog.steps[i]
        if snapshots is not None and st.order != last:
            snapshots[i] = dict(env)
            last = st.order
        if executor is None:
            st.compute(env, consts)
            continue
        t = time.perf_counter()
        if st.on_vta:
            st.lower(executor, env, consts)
        else:
            st.compute(env, consts)
        executor.timed(st, time.perf_counter() - t)
    return env
