"""Programs the functional simulator has decoded, kept for the next run of the same bytes.

A compiled model runs the same instruction streams image after image (the runtime caches them,
`vta.jit.stream_cache`), so `FunctionalSim` keeps what it derived from a program that depends on nothing but the
program's bytes and the DRAM size: the decoded fields of each instruction, its stage's token queues, the checks of
its static fields (buffer and DRAM bounds of a LOAD or STORE) — done once, at the instruction's first execution,
so an error still surfaces exactly where it did — and the `RunStats` counts of a complete run (every complete
run executes the same instructions: all of them up to the first FINISH). What depends on the machine state —
dependency tokens, the uop words a GEMM/ALU reads — is checked on every run as before.
"""

import collections
import copy

from .decode import InsnStream

__all__ = ["Program", "ProgramCache"]


class Program:
    """One decoded image: ``stream`` (`InsnStream`), ``steps[k]`` what the simulator prepared for instruction k
    and ``moves[k]`` (a LOAD/STORE) its checked data movement (both None until it first runs), ``stats`` the
    counts of a complete run (None until one completed)."""

    def __init__(self, cfg, image):
        self.stream = InsnStream(cfg, image)
        self.count = self.stream.count
        self.steps = [None] * self.count
        self.moves = [None] * self.count
        self.stats = None

    def counted(self, stats):
        """Keep a complete run's counts (without its wall time)."""
        self.stats = copy.deepcopy(stats)

    def recount(self):
        """Fresh `RunStats` holding the counts of a complete run."""
        return copy.deepcopy(self.stats)


class ProgramCache:
    """`Program`s by (image bytes, DRAM size), the most recently used up to ``max_insns`` instructions in all."""

    def __init__(self, max_insns=1 << 18):
        self.max_insns = max_insns
        self._programs = collections.OrderedDict()
        self._insns = 0

    def get(self, cfg, image, dram_size):
        """The `Program` of ``image`` (an ``np.uint8`` array) run against a DRAM of ``dram_size`` bytes."""
        key = (image.tobytes(), dram_size)
        prog = self._programs.get(key)
        if prog is not None:
            self._programs.move_to_end(key)
            return prog
        prog = Program(cfg, image)
        if prog.count <= self.max_insns:
            self._programs[key] = prog
            self._insns += prog.count
            while self._insns > self.max_insns:
                _, old = self._programs.popitem(last=False)
                self._insns -= old.count
        return prog

    def clear(self):
        self._programs.clear()
        self._insns = 0

    def __len__(self):
        return len(self._programs)
