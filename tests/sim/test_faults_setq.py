"""`vta.sim.faults`' extension mutation on the functional simulator alone: a malformed SETQ in a program generated
with the extension is rejected where it stands, by the simulator and the static verifier alike (the RTL side:
tests/sim/test_verilator_faults.py)."""

import dataclasses

import numpy as np

from vta.errors import ProgramError
from vta.isa import Alu, AluOp
from vta.isa.verify import ERROR, verify
from vta.sim import FunctionalSim
from vta.sim.faults import EXTENSION_MUTATIONS, MUTATIONS, mutate
from vta.sim.randprog import SIZES, generate

EXT = dataclasses.replace(SIZES["small"], extension=True)
UPSTREAM = dataclasses.replace(SIZES["small"], extension=False)


def test_malformed_setq_faults_name_their_instruction():
    rng = np.random.default_rng(4)
    seen = set()
    for seed in range(60):
        program = generate("small", seed, EXT)
        for _ in range(30):
            fault = mutate(program, rng)
            if fault is not None and fault.kind == "setq_malformed":
                break
        else:
            continue
        k = fault.index
        bad = fault.program.insns[k]
        assert isinstance(bad, Alu) and bad.alu_opcode == AluOp.SETQ
        rule = "use_imm" if not bad.use_imm else "requant" if bad.requant else "imm[15:6]"
        seen.add(rule)
        try:
            FunctionalSim("small").run(fault.program.fresh_dram(), fault.program.insn_addr, fault.program.insn_count)
        except ProgramError as e:
            assert e.index == k and f"ALU SETQ: {rule} must be" in str(e), (seed, e)
        else:
            raise AssertionError(f"seed {seed}: the malformed SETQ at {k} ran")
        errors = [p for p in verify(fault.program.cfg, fault.program.insns) if p.severity == ERROR]
        assert errors and errors[0].index == k and f"ALU SETQ: {rule} must be" in errors[0].message
    assert seen == {"use_imm", "requant", "imm[15:6]"}


def test_upstream_programs_get_only_upstream_mutations():
    rng = np.random.default_rng(0)
    kinds = {f.kind for f in (mutate(generate("small", s, UPSTREAM), rng) for s in range(80)) if f is not None}
    assert kinds <= {*MUTATIONS, "uop_reserved"} and not kinds & set(EXTENSION_MUTATIONS)
