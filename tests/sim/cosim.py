"""Co-simulation test helpers: compare a program on the functional simulator and Verilator, and on a mismatch
minimise it, write a waveform of the minimised program and fail with its path and disassembly.

Waveforms go to ``build/waves/`` at the repository root (or ``$VTA_WAVE_DIR``).
"""

import os
from pathlib import Path

import pytest

from vta.isa import AluOp, decode_program, encode_program
from vta.isa.insn import Alu
from vta.sim.diffcheck import compare, format_program, minimise, write_waveform
from vta.sim.verilator import VerilatorSim

WAVE_DIR = Path(os.environ.get("VTA_WAVE_DIR") or Path(__file__).resolve().parents[2] / "build" / "waves")


def failure_report(program, vsim, *, wave_dir=WAVE_DIR, max_checks=150, tag="cosim"):
    """Minimise a failing ``program``, write its waveform; the text to fail with (report, path, disassembly)."""
    first = compare(program, vsim)
    small = minimise(program, vsim, max_checks=max_checks)
    mismatch = compare(small, vsim) or first
    path = Path(wave_dir) / f"{tag}-{program.cfg.name}-seed{program.seed}.fst"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_waveform(small, program.cfg, str(path), stall_window=vsim.stall_window,
                   max_cycles=vsim.max_cycles)
    print(f"waveform: {path}")
    return (f"functional vs Verilator mismatch\n{first.report()}\n\nminimised ({small.insn_count} instructions):\n"
            f"{mismatch.report()}\n{format_program(small)}\n\nwaveform: {path}")


def assert_cosim_matches(programs, vsim, **kwargs):
    """Every program gives the same final DRAM on both simulators; otherwise fail with the first one minimised."""
    failing = [p for p in programs if compare(p, vsim) is not None]
    if failing:
        seeds = ", ".join(str(p.seed) for p in failing)
        pytest.fail(f"{len(failing)}/{len(programs)} programs differ (seeds {seeds})\n"
                    + failure_report(failing[0], vsim, **kwargs), pytrace=False)


class MinIsMaxVerilator(VerilatorSim):
    """A deliberately broken device for testing the checker: the RTL runs every ALU MIN as MAX."""

    def run(self, dram, insn_addr, insn_count):
        end = insn_addr + 16 * insn_count
        original = dram[insn_addr:end].copy()
        insns = [i.replace(alu_opcode=AluOp.MAX) if isinstance(i, Alu) and i.alu_opcode == AluOp.MIN else i
                 for i in decode_program(self.cfg, original)]
        dram[insn_addr:end] = encode_program(self.cfg, insns)
        try:
            return super().run(dram, insn_addr, insn_count)
        finally:
            dram[insn_addr:end] = original
