"""A stand-in for `vta.dse_eval.Evaluator` in the fast `vta dse` tests: made-up but monotone numbers (LUTs grow
and cycles shrink with MACs/cycle and bus width) and a record of every call, so a test can see what was measured."""

from vta.config import VTAConfig
from vta.dse import bram_lower_bound
from vta.errors import VTAError


class FakeEvaluator:
    """Counts calls; LUTs grow with MACs/cycle and buffers, cycles shrink with MACs/cycle and bus width."""

    def __init__(self, lut_limit=84000, fail_cycles=(), crash_cycles=(), interrupt_at=None):
        self.calls = []
        self.interrupt_at = interrupt_at      # raise KeyboardInterrupt (Ctrl-C) in this call (1-based)
        self.lut_limit, self.fail_cycles, self.crash_cycles = lut_limit, set(fail_cycles), set(crash_cycles)

    def _maybe_interrupt(self):
        if len(self.calls) == self.interrupt_at:
            raise KeyboardInterrupt

    def fingerprint(self, kind):
        return {"fake": 1}

    def synth(self, keys, name):
        self.calls.append(("synth", name))
        self._maybe_interrupt()
        cfg = VTAConfig.from_dict(keys)
        lut = 400 * cfg.macs_per_cycle + 10000 + cfg.log_inp_buff_size * 10 + cfg.bus_width * 20
        bram = bram_lower_bound(cfg, 0) // 18432 + 1
        pct = {"lut": round(100 * lut / self.lut_limit, 1), "ff": 10.0, "bram": round(100 * bram / 208, 1),
               "dsp": 0.0}
        return {"lut": lut, "ff": 8000, "bram": bram, "dsp": 0, "percent": pct, "fits": lut <= self.lut_limit}

    def cycles(self, keys, name):
        self.calls.append(("cycles", name))
        self._maybe_interrupt()
        if name in self.fail_cycles:
            raise VTAError(f"layer /3/Conv does not compile for {name}")
        if name in self.crash_cycles:
            raise RuntimeError("worker crashed")
        cfg = VTAConfig.from_dict(keys)
        return {"cycles": 4_000_000 // cfg.macs_per_cycle + 640_000 // cfg.bus_width, "exact": True}

    def pnr(self, keys, name):
        self.calls.append(("pnr", name))
        self._maybe_interrupt()
        return {"fmax_mhz": 50.0 - VTAConfig.from_dict(keys).macs_per_cycle / 16}


class DyingEvaluator(FakeEvaluator):
    """Its worker process exits abruptly in the first synthesis (as when killed or out of memory)."""

    def synth(self, keys, name):
        import os
        os._exit(3)
