"""The compute stage: LOAD UOP/ACC/ACC_8BIT, GEMM, ALU and FINISH, ordered by the l2g/s2g/g2l/g2s tokens.

It owns the uop and acc SRAMs, reads inp and wgt (filled by the load stage) and writes out (drained by store).

GEMM and ALU (MUL included) run in an eight-stage pipeline at one uop per cycle, stalled only by a MUL hazard (below):

- G: the loop nest (`UopLoop`) presents a uop index to the uop SRAM; the uop takes the Q register (below);
- R: the uop word plus the loop offsets give dst/src/wgt indices, presented to the inp and wgt SRAMs;
- E1: the inp and wgt words come out of their SRAMs into registers;
- E2: the BATCH×BLOCK_OUT×BLOCK_IN products are formed (one multiplier each) into registers; the dst/src
  indices go to the acc SRAM's two read ports;
- P: `GemmCore`'s adder trees sum the products (the dot products, registered); the acc words come out of the SRAM
  into registers; the forwarding selects for E3 are decided;
- E3: the accumulate (acc + dot, or 0 for a reset) or the tensor ALU (`AluCore`) computes the new accumulator;
  MUL registers its operands (`MulCore`), forms 16×8 partial products in M1, sums them into two words in M2 and
  adds those in M3 before W (M1 … M{LATENCY}, `MulCore.LATENCY` = 3);
- W: the result is written to acc;
- O: the result, narrowed to out_width bits per lane, is written to out: its low bits, or for a word with the
  requant bit ``clamp(result >> Q.shift, Q.relu ? 0 : −2^(ow−1), 2^(ow−1) − 1)`` (docs/semantics.md). A stage of
  its own so the barrel shift and clamp stay off E3's loop and the acc write; nothing reads out before the pipeline
  has drained (loads, FINISH and token pushes wait for it, so a STORE never sees a stale out).

Registering every SRAM output keeps SRAM clock-to-out and its routing out of the arithmetic's cycle.

The Q register (shift 5 bits, relu 1) is cleared at launch and set by ALU SETQ, which the sequencer starts like any
GEMM/ALU (tokens, checks) but without starting the loop: it issues no uop. Each uop carries the requant bit of its
word and the Q it was issued with down the per-stage controls, so a SETQ affects only the words after it, even
while earlier ones drain.

Read-after-write hazards on acc: E3's operands were read from acc two cycles earlier (address in E2); the read
ports are transparent to the write port, so the read sees every write that landed in that cycle or before. The
two writes after it are forwarded: the one made while the uop is in P is merged into the operand register on the
way into E3, and the one made while it is in E3 (by the uop directly ahead) is selected in E3 by a comparison made
a cycle early, keeping index comparisons off E3's path (forwarding mux → arithmetic → W register). This holds as
long as every uop has written by the time the next one is in E3: true for one-cycle ops at one uop per cycle.

MUL writes LATENCY cycles later than the other ops, so a uop fewer than LATENCY + 1 cycles behind a MUL would miss
its result, and a one-cycle op that close would reach W in the same cycle as it or ahead of it. So a MUL in E1
waits (E1, R, the uop SRAM's output and the loop hold; E2 gets a bubble) while a MUL in one of the LATENCY stages
ahead of it (E2, P, E3 today) writes an acc entry it reads (dst, and src without an immediate) — decided from
registered indices, off the SRAM outputs. One-cycle ops never follow a MUL that closely: an instruction's uops are
all one op, and POP starts a non-MUL GEMM/ALU only once no MUL is left in R or E1. MULs on distinct entries — a
requantizing pass, an elementwise scale — issue one per cycle; a chain on one entry one every LATENCY + 1 = fourth
cycle. Every uop thus sees the result of every earlier uop, writes after it, and one op reaches W per cycle.

Checks (docs/semantics.md's errors, reported on ``fault``): the word's own rules (`InsnCheck`) and the token rules as
in `TokenStage`; and in R, per uop, the reserved bits of the uop word and ``uop field + loop offset`` against the
depth of the buffer it indexes (dst → acc; src → inp for GEMM, acc for ALU without an immediate; wgt → wgt; a reset
GEMM checks only dst). A uop that fails is reported from E1 and, like every uop after it until the next launch,
never reaches E2: nothing past the check writes acc or out. None of this adds a cycle.
"""

from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..isa.layouts import INSN_BITS, UOP_BITS
from ..isa.opcodes import AluOp, MemId, Opcode
from ..isa.stages import STAGE_POPS, STAGE_PUSHES
from .alu import AluCore
from .gemm import GemmCore
from .insn_check import InsnCheck
from .load_unit import LoadUnit
from .mul import MulCore
from .ports import CMD, NO_INDEX, ReadClientSignature, SRAMReadSignature, SRAMWriteSignature
from .regs import INDEX_BITS, MODULE_STATES, QUEUE_IDS, Fault
from .token_stage import stage_members
from .uop_loop import UopLoop

__all__ = ["Compute", "REQUANT"]

# How a uop's out write is narrowed (docs/semantics.md): ``on`` is its word's requant bit, ``shift``/``relu`` the Q
# register (set by ALU SETQ) at the time the uop was issued.
REQUANT = data.StructLayout({"on": 1, "shift": 5, "relu": 1})


class Compute(wiring.Component):
    """``finished`` rises when FINISH has executed (``clear`` drops it for a new run). ``busy``: holding an
    instruction; ``stall``: waiting for a token (``wait_l2g``/``wait_s2g`` say which)."""

    def __init__(self, cfg):
        self.cfg = cfg
        bw = cfg.bus_width
        super().__init__({
            **stage_members("compute"),     # cmd, l2g, s2g, g2l, g2s, busy, stall, wait_l2g, wait_s2g
            "clear": In(1),
            "finished": Out(1),
            "gemm_active": Out(1),
            "alu_active": Out(1),
            "inp_rd": Out(SRAMReadSignature(cfg.log_inp_depth, cfg.inp_elem_bits)),
            "wgt_rd": Out(SRAMReadSignature(cfg.log_wgt_depth, cfg.wgt_elem_bits)),
            "out_wr": Out(SRAMWriteSignature(cfg.log_out_depth, cfg.out_elem_bits)),
            "uop_bus": Out(ReadClientSignature(bw)),
            "acc_bus": Out(ReadClientSignature(bw)),
            "acc8_bus": Out(ReadClientSignature(bw)),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        bw = cfg.bus_width
        acc_bits, acc_w = cfg.acc_elem_bits, cfg.log_acc_depth

        # -- SRAMs ------------------------------------------------------------------------------------------------
        m.submodules.uop_mem = uop_mem = Memory(shape=cfg.uop_elem_bits, depth=cfg.uop_depth, init=[])
        m.submodules.acc_mem = acc_mem = Memory(shape=acc_bits, depth=cfg.acc_depth, init=[])
        uop_wr = uop_mem.write_port()
        uop_rd = uop_mem.read_port()
        acc_wr = acc_mem.write_port()
        acc_rd_dst = acc_mem.read_port(transparent_for=(acc_wr,))
        acc_rd_src = acc_mem.read_port(transparent_for=(acc_wr,))

        # -- loads into uop / acc ---------------------------------------------------------------------------------
        m.submodules.uop_load = uop_load = LoadUnit(elem_bits=cfg.uop_elem_bits, bus_width=bw,
                                                    addr_width=cfg.log_uop_depth)
        m.submodules.acc_load = acc_load = LoadUnit(elem_bits=acc_bits, bus_width=bw, addr_width=acc_w)
        m.submodules.acc8_load = acc8_load = LoadUnit(elem_bits=cfg.out_elem_bits, bus_width=bw, addr_width=acc_w)
        wiring.connect(m, wiring.flipped(self.uop_bus), uop_load.bus)
        wiring.connect(m, wiring.flipped(self.acc_bus), acc_load.bus)
        wiring.connect(m, wiring.flipped(self.acc8_bus), acc8_load.bus)
        m.d.comb += [uop_wr.addr.eq(uop_load.wr.addr), uop_wr.data.eq(uop_load.wr.data),
                     uop_wr.en.eq(uop_load.wr.en)]

        insn = Signal(INSN_BITS)
        index = Signal(INDEX_BITS)          # the held instruction's position in the stream
        cmd = data.View(CMD, self.cmd.payload)
        m.submodules.check = check = InsnCheck(cfg, "compute")
        # The check sees the command queue's head until the word is taken, then the held word while in POP (as in
        # `TokenStage`): its verdict is the held word's once the same word has been presented for its latency.
        in_pop, cont = Signal(), Signal()
        seen = Signal(range(InsnCheck.LATENCY + 1))
        m.d.comb += [check.insn.eq(Mux(in_pop, insn, cmd.insn)), check.dma_base.eq(self.dma_base),
                     check.dma_limit.eq(self.dma_limit)]
        m.d.sync += seen.eq(Mux(cont, Mux(seen == InsnCheck.LATENCY, seen, seen + 1), 0))
        verdict = (seen != 0) & (~check.slow | (seen == InsnCheck.LATENCY))
        bad, bad_early, bad_code, bad_field = check.error, check.early, check.code, check.field
        pos = Signal.like(self.pos)
        m.d.sync += self.pos.eq(pos)   # registered: the peers compare against it (at most one cycle stale)
        kill = Signal()    # the held instruction is at or after a fault: drop it
        m.d.comb += kill.eq(self.halt.halted & (index >= self.halt.index))
        mem = data.View(cfg.isa.mem, insn)
        gemm_f = data.View(cfg.isa.gemm, insn)
        alu_f = data.View(cfg.isa.alu, insn)
        hdr = data.View(cfg.isa.header, insn[:cfg.isa.header.size])
        for unit in (uop_load, acc_load, acc8_load):
            unit.connect_fields(m, mem)
        is_alu = Signal()
        m.d.comb += is_alu.eq(hdr.opcode == Opcode.ALU)

        # -- uop loop (stage G) -----------------------------------------------------------------------------------
        m.submodules.loop = loop = UopLoop(cfg)
        m.d.comb += [
            loop.uop_bgn.eq(gemm_f.uop_bgn), loop.uop_end.eq(gemm_f.uop_end),
            loop.iter_out.eq(gemm_f.iter_out), loop.iter_in.eq(gemm_f.iter_in),
            uop_rd.addr.eq(loop.uop_addr),
            loop.abort.eq(kill),
        ]
        with m.If(is_alu):
            m.d.comb += [
                loop.dst_factor_out.eq(alu_f.dst_factor_out), loop.dst_factor_in.eq(alu_f.dst_factor_in),
                loop.src_factor_out.eq(alu_f.src_factor_out), loop.src_factor_in.eq(alu_f.src_factor_in),
            ]
        with m.Else():
            m.d.comb += [
                loop.dst_factor_out.eq(gemm_f.dst_factor_out), loop.dst_factor_in.eq(gemm_f.dst_factor_in),
                loop.src_factor_out.eq(gemm_f.src_factor_out), loop.src_factor_in.eq(gemm_f.src_factor_in),
                loop.wgt_factor_out.eq(gemm_f.wgt_factor_out), loop.wgt_factor_in.eq(gemm_f.wgt_factor_in),
            ]

        # Per-stage copy of the instruction's datapath controls, so the next GEMM/ALU can enter the pipeline while
        # the previous one drains. ``rq`` (the out write's requantization) takes the Q register as the uop is issued
        # (G), so a SETQ started after the word's last uop changes only later words.
        lane_fields = {"alu": 1, "reset": 1, "op": AluOp, "use_imm": 1, "imm": cfg.isa.alu["imm"].shape}
        ctl_layout = data.StructLayout({**lane_fields, "rq": REQUANT})
        qreg = Signal(data.StructLayout({"shift": 5, "relu": 1}))   # the Q register: cleared at launch, set by SETQ
        g_ctl = Signal(ctl_layout)
        m.d.comb += [g_ctl.alu.eq(is_alu), g_ctl.reset.eq(gemm_f.reset_reg), g_ctl.op.eq(alu_f.alu_opcode),
                     g_ctl.use_imm.eq(alu_f.use_imm), g_ctl.imm.eq(alu_f.imm), g_ctl.rq.on.eq(gemm_f.requant),
                     g_ctl.rq.shift.eq(qreg.shift), g_ctl.rq.relu.eq(qreg.relu)]
        r_ctl = Signal(ctl_layout)
        w_alu = Signal()
        # ``hold`` (decided in E1, below): the MUL in E1 must wait for a MUL ahead of it. E1 and R keep their uops
        # (R its registers and the uop SRAM's output: its read is disabled), the loop keeps its step and E2 gets a
        # bubble.
        hold = Signal()
        m.d.comb += [loop.advance.eq(~hold), uop_rd.en.eq(~hold)]
        with m.If(~hold):
            m.d.sync += r_ctl.eq(g_ctl)

        # -- stage R ----------------------------------------------------------------------------------------------
        r_valid = Signal()
        r_index = Signal(INDEX_BITS)
        r_dst_off = Signal.like(loop.dst_off)
        r_src_off = Signal.like(loop.src_off)
        r_wgt_off = Signal.like(loop.wgt_off)
        with m.If(~hold):
            m.d.sync += [r_valid.eq(loop.valid), r_index.eq(index), r_dst_off.eq(loop.dst_off),
                         r_src_off.eq(loop.src_off), r_wgt_off.eq(loop.wgt_off)]
        uop = data.View(cfg.isa.uop, uop_rd.data)
        d = Signal(acc_w)
        s = Signal(loop.src_width)
        w = Signal(cfg.log_wgt_depth)
        m.d.comb += [
            d.eq(uop.dst_idx + r_dst_off),
            s.eq(uop.src_idx + r_src_off),
            w.eq(uop.wgt_idx + r_wgt_off),
            self.inp_rd.addr.eq(s),
            self.wgt_rd.addr.eq(w),
        ]
        # The uop's checks, registered into E1 (off the SRAM address path). ``uop field + offset ≥ depth`` is
        # checked as ``uop field ≥ depth − offset``, the right side computed from the loop's offset a cycle ahead
        # (`_room`), so the uop SRAM's output meets one short compare instead of an add and a wide compare (27 logic
        # levels from the SRAM to ``e1_bad`` on the ULX3S).
        def room(name, off, depth, width):
            lim = Signal(width + 1, name=f"r_room_{name}")
            with m.If(~hold):
                m.d.sync += lim.eq(_room(off, depth, width))
            return lim

        dst_room = room("dst", loop.dst_off, cfg.acc_depth, len(uop.dst_idx))
        src_room_acc = room("src_acc", loop.src_off, cfg.acc_depth, len(uop.src_idx))
        src_room_inp = room("src_inp", loop.src_off, cfg.inp_depth, len(uop.src_idx))
        wgt_room = room("wgt", loop.wgt_off, cfg.wgt_depth, len(uop.wgt_idx))
        reserved = ~cfg.isa.used_mask["uop"] & ((1 << UOP_BITS) - 1)
        reads_src = ~r_ctl.reset & (~r_ctl.alu | ~r_ctl.use_imm)
        src_over = Mux(r_ctl.alu, uop.src_idx >= src_room_acc, uop.src_idx >= src_room_inp)
        r_checks = [   # highest priority first
            ((uop_rd.data & reserved).any(), Fault.UOP_RESERVED),
            (uop.dst_idx >= dst_room, Fault.DST_RANGE),
            (reads_src & src_over, Fault.SRC_RANGE),
            (~r_ctl.alu & ~r_ctl.reset & (uop.wgt_idx >= wgt_room), Fault.WGT_RANGE),
        ]
        e1_bad = Signal()
        e1_code = Signal.like(self.fault.code)
        e1_index = Signal(INDEX_BITS)
        poisoned = Signal()   # a uop failed its check: no uop enters E2 until the next launch
        with m.If(~hold):
            m.d.sync += [e1_bad.eq(r_valid & Cat(*(c for c, _ in r_checks)).any()), e1_index.eq(r_index)]
            for cond, code in reversed(r_checks):
                with m.If(cond):
                    m.d.sync += e1_code.eq(code)
        with m.If(e1_bad):
            m.d.sync += poisoned.eq(1)
        with m.If(self.clear):
            m.d.sync += poisoned.eq(0)

        def carry(name, valid, d, s, ctl, enable=1):
            """A uop's valid bit, acc dst and src indices and controls, registered into pipeline stage ``name``
            (in cycles where ``enable`` is high)."""
            regs = (Signal(name=f"{name}_valid"), Signal(acc_w, name=f"{name}_d"), Signal(acc_w, name=f"{name}_s"),
                    Signal(ctl_layout, name=f"{name}_ctl"))
            with m.If(enable):
                m.d.sync += [reg.eq(value) for reg, value in zip(regs, (valid, d, s, ctl))]
            return regs

        # -- stage E1: inp/wgt data out of their SRAMs (registered at its end) ------------------------------------
        e1_valid, e1_d, e1_s, e1_ctl = carry("e1", r_valid, d, s, r_ctl, enable=~hold)

        # -- stage E2: the products (registered in `GemmCore`); acc read addresses presented ---------------------
        e2_valid, e2_d, e2_s, e2_ctl = carry("e2", e1_valid & ~hold & ~e1_bad & ~poisoned, e1_d, e1_s, e1_ctl)
        # On an FPGA (elaborated for a platform) the inp word is kept in one register copy per output lane
        # (``keep``, like E3's controls): each copy drives only its lane's multipliers (`GemmCore` ``inp_per_lane``;
        # one shared register bit was routed 16.3 ns to a far lane on the ULX3S). Without a platform (the Verilator
        # model, Amaranth's simulator) one register feeds every lane: the copies hold the same value in every cycle,
        # and Verilator simulates GEMM runs about 1.5× faster without them (benchmarks/rtl.py).
        per_lane = platform is not None
        e2_inps = [Signal(cfg.inp_elem_bits, name=f"e2_inp_{o}", attrs={"keep": 1})
                   for o in range(cfg.block_out if per_lane else 1)]
        e2_wgt = Signal(cfg.wgt_elem_bits)
        m.d.sync += [*(c.eq(self.inp_rd.data) for c in e2_inps), e2_wgt.eq(self.wgt_rd.data)]
        # `GemmCore` with a zero accumulator gives the wrapped dot products; the accumulate is done in E3.
        m.submodules.gemm = gemm = GemmCore(cfg, pipelined=True, inp_per_lane=per_lane)
        m.d.comb += [gemm.inp.eq(Cat(*e2_inps)), gemm.wgt.eq(e2_wgt), gemm.acc.eq(0), gemm.reset.eq(0)]
        m.d.comb += [acc_rd_dst.addr.eq(e2_d), acc_rd_src.addr.eq(e2_s)]

        # -- stage P: the adder tree over the registered products; acc data out of its SRAM -----------------------
        p_valid, p_d, p_s, p_ctl = carry("p", e2_valid, e2_d, e2_s, e2_ctl)

        # -- stage E3: forwarding, accumulate (GEMM) or tensor ALU; MUL's first cycle ------------------------------
        e_valid, e_d, e_s, e_ctl = carry("e", p_valid, p_d, p_s, p_ctl)
        e_dot = Signal(acc_bits)
        m.d.sync += e_dot.eq(gemm.result)
        e_mul = Signal()
        m.d.comb += e_mul.eq(_is_mul(e_ctl))
        # M1 … M{LATENCY} (M3 today): MUL's further cycles (MUL uops only), a shift chain of valid bit and dst index;
        # `m_valid`/`m_d` are its last stage, `m_valid_into_last` what enters that stage.
        m_valids, m_stages = [], []
        m_valid, m_d, m_rq = e_valid & e_mul, e_d, e_ctl.rq
        for i in range(MulCore.LATENCY):
            m_valid_into_last = m_valid
            stage_valid, stage_d = Signal(name=f"m{i + 1}_valid"), Signal(acc_w, name=f"m{i + 1}_d")
            stage_rq = Signal(REQUANT, name=f"m{i + 1}_rq")
            m.d.sync += [stage_valid.eq(m_valid), stage_d.eq(m_d), stage_rq.eq(m_rq)]
            m_valid, m_d, m_rq = stage_valid, stage_d, stage_rq
            m_valids.append(stage_valid)
            m_stages.append((stage_valid, stage_d))
        # The MUL hold (see the module docstring): a MUL in E1 waits while a MUL fewer than LATENCY + 1 cycles ahead
        # of it (E2, P, E3 today) writes an acc entry it reads. Indices and controls all come from registers, so the
        # hold is two compares and an OR deep before it fans out to the E1, R and loop registers.
        e1_mul = _is_mul(e1_ctl)
        e1_src_read = e1_mul & ~e1_ctl.use_imm
        ahead = [(e2_valid & _is_mul(e2_ctl), e2_d), (p_valid & _is_mul(p_ctl), p_d), (e_valid & e_mul, e_d),
                 *m_stages]
        hazards = [valid & ((dst == e1_d) | (e1_src_read & (dst == e1_s))) for valid, dst in ahead[:MulCore.LATENCY]]
        m.d.comb += hold.eq(e1_valid & e1_mul & ~e1_bad & ~poisoned & Cat(*hazards).any())
        # A one-cycle op must reach E3 at least LATENCY + 1 cycles after the last MUL ahead of it (W in order, one
        # write per cycle). Within an instruction all uops are the same op; the next instruction's first uop enters
        # G at the earliest the cycle after POP starts it, five cycles before its E3 — so POP starts a non-MUL
        # GEMM/ALU only once no MUL is in R or E1 (every MUL is in E2 or beyond, in E3 within two cycles).
        assert MulCore.LATENCY <= 3, "a longer MulCore needs POP to wait for MULs in E2 too"
        mul_near = (r_valid & _is_mul(r_ctl)) | (e1_valid & e1_mul)
        # W is fed by E3 (every op but MUL) or by the last M stage; the MUL hold and POP's wait keep them apart.
        w_valid = Signal()
        w_d = Signal(acc_w)
        w_result = Signal(acc_bits)
        w_rq = Signal(REQUANT)
        next_w_valid = (e_valid & ~e_mul) | m_valid
        next_w_d = Mux(m_valid, m_d, e_d)
        # Forwarding. The acc words read in E2 miss the two writes that land after that read: the one in W while
        # the uop is in P (its value is at hand: merged into the operand register here) and the one in W while
        # the uop is in E3 (the uop directly ahead: forwarded in E3, selected by a comparison made here against
        # the write now entering W).
        #
        # E3 is the core's tightest loop (W → forwarding mux → arithmetic → W), so each lane gets its own copy of
        # every register that steers it (forwarding selects, datapath controls, M-valid): one control net per
        # lane instead of one driving the whole BATCH×BLOCK_OUT×32-bit datapath. The copies carry the ``keep``
        # attribute so synthesis does not merge them back (the FPGA flow turns it into a keep on the flip-flops).
        aw = cfg.acc_width
        lanes = cfg.batch * cfg.block_out
        held = {}
        for name, idx, port in (("dst", p_d, acc_rd_dst), ("src", p_s, acc_rd_src)):
            held[name] = Signal(acc_bits, name=f"e_{name}")
            m.d.sync += held[name].eq(Mux(w_valid & (w_d == idx), w_result, port.data))
        results = []
        for k in range(lanes):
            ctl = Signal(data.StructLayout(lane_fields), name=f"e_ctl_{k}", attrs={"keep": 1})
            from_w = {name: Signal(name=f"fwd_{name}_{k}", attrs={"keep": 1}) for name in ("dst", "src")}
            from_m = Signal(name=f"m_valid_{k}", attrs={"keep": 1})
            m.d.sync += [getattr(ctl, name).eq(getattr(p_ctl, name)) for name in lane_fields]
            m.d.sync += [from_m.eq(m_valid_into_last),
                         from_w["dst"].eq(next_w_valid & (next_w_d == p_d)),
                         from_w["src"].eq(next_w_valid & (next_w_d == p_s))]
            w_lane = w_result.word_select(k, aw)
            dst_val = Mux(from_w["dst"], w_lane, held["dst"].word_select(k, aw))
            src_val = Mux(from_w["src"], w_lane, held["src"].word_select(k, aw))
            m.submodules[f"alu{k}"] = alu = AluCore(cfg, lanes=1)
            m.submodules[f"mul{k}"] = mul = MulCore(cfg, lanes=1)
            for core in (alu, mul):
                m.d.comb += [core.use_imm.eq(ctl.use_imm), core.imm.eq(ctl.imm), core.dst.eq(dst_val),
                             core.src.eq(src_val)]
            m.d.comb += alu.op.eq(ctl.op)
            accumulated = (dst_val + e_dot.word_select(k, aw))[:aw]
            results.append(Mux(from_m, mul.result, Mux(ctl.alu, alu.result, Mux(ctl.reset, 0, accumulated))))

        # -- stage W ----------------------------------------------------------------------------------------------
        m.d.sync += [w_valid.eq(next_w_valid), w_d.eq(next_w_d), w_alu.eq(m_valid | e_ctl.alu),
                     w_result.eq(Cat(*results)), w_rq.eq(Mux(m_valid, m_rq.as_value(), e_ctl.rq.as_value()))]
        m.d.comb += [
            self.gemm_active.eq(e_valid & ~e_ctl.alu & ~e_ctl.reset),
            self.alu_active.eq(w_valid & w_alu),
        ]

        # -- stage O: the out write, narrowed to out_width bits per lane (requantized or truncated) ---------------
        # A stage of its own, so the shift and clamp never share a cycle with E3's loop or the acc write.
        o_valid, o_d, o_result = Signal(), Signal(acc_w), Signal(acc_bits)
        m.d.sync += [o_valid.eq(w_valid), o_d.eq(w_d), o_result.eq(w_result)]
        ow = cfg.out_width
        narrowed = []
        for k in range(lanes):
            rq = Signal(REQUANT, name=f"o_rq_{k}", attrs={"keep": 1})   # per lane, like E3's controls
            m.d.sync += rq.eq(w_rq)
            narrowed.append(_narrow(m, o_result.word_select(k, aw), rq, ow, k))
        m.d.comb += [self.out_wr.addr.eq(o_d), self.out_wr.data.eq(Cat(*narrowed)), self.out_wr.en.eq(o_valid)]
        # The acc write port: the pipeline, or one of the acc loads (never at the same time). Which load is chosen
        # by the held instruction's memory type, not by the loads' write enables: a load unit writes only while its
        # LOAD is held (RUN waits for it), and the enables come through the AXI read handshake — as the select of the
        # 256-bit data mux they put that handshake on the way to acc's block RAM data pins (20.9 and 21.5 ns paths
        # on the ULX3S). Only the enable still depends on them.
        widened = Cat(*[Cat(lane, lane[ow - 1].replicate(aw - ow))
                        for lane in (acc8_load.wr.data.word_select(k, ow) for k in range(lanes))])
        acc8_held = Signal()
        m.d.comb += acc8_held.eq(mem.memory_type == MemId.ACC_8BIT)
        with m.If(w_valid):
            m.d.comb += [acc_wr.addr.eq(w_d), acc_wr.data.eq(w_result), acc_wr.en.eq(1)]
        with m.Elif(acc8_held):
            m.d.comb += [acc_wr.addr.eq(acc8_load.wr.addr), acc_wr.data.eq(widened), acc_wr.en.eq(acc8_load.wr.en)]
        with m.Else():
            m.d.comb += [acc_wr.addr.eq(acc_load.wr.addr), acc_wr.data.eq(acc_load.wr.data),
                         acc_wr.en.eq(acc_load.wr.en)]

        # -- instruction sequencing -------------------------------------------------------------------------------
        # The compute stage's token flags, by queue (`vta.isa.stages`: pops l2g and s2g, pushes g2l and g2s).
        pops = {q: getattr(hdr, flag) for flag, q in STAGE_POPS["compute"].items()}
        pushes = {q: getattr(hdr, flag) for flag, q in STAGE_PUSHES["compute"].items()}
        is_load = hdr.opcode == Opcode.LOAD
        is_finish = hdr.opcode == Opcode.FINISH
        is_tensor = (hdr.opcode == Opcode.GEMM) | is_alu
        pipe_busy = (loop.valid | r_valid | e1_valid | e2_valid | p_valid | e_valid | Cat(*m_valids).any() | w_valid
                     | o_valid)
        no_push = ~Cat(*pushes.values()).any()
        with m.If(self.clear):
            m.d.sync += self.finished.eq(0)
        is_setq = is_alu & (alu_f.alu_opcode == AluOp.SETQ)
        is_mul_insn = is_alu & (alu_f.alu_opcode == AluOp.MUL)

        # The index compares of the token rules, registered (as in `TokenStage`): against the index held next cycle,
        # the pushed index at each popped queue's head next cycle, and the peers' (registered) positions.
        next_index = Signal.like(index)
        m.d.comb += next_index.eq(index)
        late_token = {q: Signal(name=f"late_token_{q}") for q in pops}
        peer_past = {q: Signal(name=f"peer_past_{q}") for q in (*pops, *pushes)}
        m.d.sync += [late_token[q].eq(getattr(self, q).oldest_next >= next_index) for q in pops]
        m.d.sync += [peer_past[q].eq(getattr(self, f"peer_{q}") > next_index) for q in peer_past]
        # POP's kill, registered likewise (as in `TokenStage`); stale only in a cycle after the halt state changed
        # (``halt.fresh``), in which POP waits. RUN/PUSH and the loop's abort keep the combinational ``kill``.
        pop_kill = Signal()
        m.d.sync += pop_kill.eq(self.halt.halted & (next_index >= self.halt.index))

        def consumer_past(q):
            """The stage consuming queue ``q`` is past this instruction: a full ``q`` cannot drain before it."""
            return peer_past[q]

        full_forever = Cat(*(need & ~getattr(self, q).ready & consumer_past(q) for q, need in pushes.items()))
        overflow_field = Signal.like(self.fault.field)
        for q in reversed(pushes):
            with m.If(pushes[q] & ~getattr(self, q).ready & consumer_past(q)):
                m.d.comb += overflow_field.eq(QUEUE_IDS[q])
        fsm_valid, fsm_code, fsm_field = Signal(), Signal.like(self.fault.code), Signal.like(self.fault.field)
        m.d.comb += [getattr(self, q).index.eq(index) for q in pushes]

        def report(code, field):
            m.d.comb += [fsm_valid.eq(1), fsm_code.eq(code), fsm_field.eq(field), cont.eq(0)]
            m.next = "IDLE"

        def push(m):
            """Push the tokens of the completed instruction and return to IDLE, or wait in PUSH for room."""
            with m.If(kill):
                m.next = "IDLE"
            with m.Elif(Cat(*(~need | getattr(self, q).ready for q, need in pushes.items())).all()):
                m.d.comb += [getattr(self, q).push.eq(need) for q, need in pushes.items()]
                with m.If(is_finish):
                    m.d.sync += self.finished.eq(1)
                m.next = "IDLE"
            with m.Elif(full_forever.any()):
                report(Fault.QUEUE_OVERFLOW, overflow_field)
            with m.Else():
                m.next = "PUSH"

        # The module state this cycle (`vta.hw.regs.MODULE_STATES`), for the counters and the trace probe.
        code = {name: i for i, name in enumerate(MODULE_STATES["compute"])}
        loading = uop_load.busy | acc_load.busy | acc8_load.busy
        writing = uop_load.wr.en | acc_load.wr.en | acc8_load.wr.en
        push_wait = code["busy"]       # the first push queue without room (PUSH)
        for q in reversed(pushes):
            push_wait = Mux(pushes[q] & ~getattr(self, q).ready, code[f"wait_{q}"], push_wait)
        m.d.comb += self.held.eq(index)

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.state.eq(Mux(pipe_busy, code["busy"], code["idle"]))
                m.d.comb += [self.cmd.ready.eq(1), self.busy.eq(pipe_busy),
                             pos.eq(Mux(self.cmd.valid, cmd.index, NO_INDEX)), cont.eq(self.cmd.valid)]
                with m.If(self.cmd.valid):
                    m.d.comb += next_index.eq(cmd.index)
                    m.d.sync += [insn.eq(cmd.insn), index.eq(cmd.index)]
                    m.next = "POP"
            with m.State("POP"):
                m.d.comb += [self.busy.eq(1), pos.eq(index), in_pop.eq(1), cont.eq(1)]
                waits = [getattr(self, f"wait_{q}") for q in pops]
                m.d.comb += [w.eq(need & ~getattr(self, q).valid) for w, (q, need) in zip(waits, pops.items())]
                # A pop program order finds empty: the token at hand was pushed by a later instruction, or there is
                # none and the producer is past this instruction.
                never_q = {q: need & Mux(getattr(self, q).valid, late_token[q], peer_past[q])
                           for q, need in pops.items()}
                never = Cat(*never_q.values())
                never_field = Signal.like(self.fault.field)
                for q in reversed(pops):
                    with m.If(never_q[q]):
                        m.d.comb += never_field.eq(QUEUE_IDS[q])
                pop_wait = code["busy"]        # the first popped queue without a token
                for q, wq in reversed(list(zip(pops, waits))):
                    pop_wait = Mux(wq, code[f"wait_{q}"], pop_wait)
                m.d.comb += self.state.eq(Mux(self.stall, pop_wait, code["busy"]))
                with m.If(pop_kill):
                    m.d.comb += cont.eq(0)
                    m.next = "IDLE"
                with m.Elif(self.halt.fresh):
                    pass   # ``pop_kill`` may be stale: decide next cycle (only after a fault, or at launch)
                with m.Elif(~verdict):
                    pass   # the check's verdict on this word is not out yet
                with m.Elif(bad & bad_early):
                    report(bad_code, bad_field)
                with m.Elif(never.any()):
                    report(Fault.DEADLOCK, never_field)
                with m.Elif(Cat(*waits).any()):
                    m.d.comb += self.stall.eq(1)
                with m.Elif(full_forever.any()):
                    report(Fault.QUEUE_OVERFLOW, overflow_field)
                with m.Elif(bad):
                    report(bad_code, bad_field)
                with m.Elif(~is_tensor & pipe_busy):
                    pass  # loads and FINISH wait for the previous GEMM/ALU to drain
                with m.Elif(is_tensor & ~is_mul_insn & mul_near):
                    pass  # a one-cycle op waits until the last MUL is past E1 (see ``mul_near``)
                with m.Elif(self.halt.pending):
                    pass  # a fault is on its way to the latch: start nothing until it is latched
                with m.Else():
                    m.d.comb += cont.eq(0)
                    m.d.comb += [getattr(self, q).pop.eq(need) for q, need in pops.items()]
                    m.d.comb += [
                        uop_load.start.eq(is_load & (mem.memory_type == MemId.UOP)),
                        acc_load.start.eq(is_load & (mem.memory_type == MemId.ACC)),
                        acc8_load.start.eq(is_load & (mem.memory_type == MemId.ACC_8BIT)),
                        loop.start.eq(is_tensor & ~is_setq),
                    ]
                    with m.If(is_setq):   # no uops: it only sets Q, seen by the uops issued from now on
                        m.d.sync += [qreg.shift.eq(alu_f.imm[:5]), qreg.relu.eq(alu_f.imm[5])]
                    m.next = "RUN"
            with m.State("RUN"):
                m.d.comb += [self.busy.eq(1), pos.eq(index), cont.eq(self.cmd.valid),
                             self.state.eq(Mux(loading & ~writing, code["dram"], code["busy"]))]
                with m.If(is_tensor & no_push & ~loop.valid):
                    m.next = "IDLE"  # nothing to push: let the pipeline drain under the next instruction
                with m.Elif(~uop_load.busy & ~acc_load.busy & ~acc8_load.busy & ~pipe_busy):
                    push(m)
            with m.State("PUSH"):
                m.d.comb += [self.busy.eq(1), pos.eq(index), cont.eq(self.cmd.valid), self.state.eq(push_wait)]
                push(m)

        with m.If(self.clear):
            m.d.sync += qreg.eq(0)

        # One fault port: a uop's fault belongs to an instruction no later than the one the FSM holds.
        with m.If(e1_bad):
            m.d.comb += [self.fault.valid.eq(1), self.fault.code.eq(e1_code), self.fault.field.eq(0),
                         self.fault.index.eq(e1_index)]
        with m.Else():
            m.d.comb += [self.fault.valid.eq(fsm_valid), self.fault.code.eq(fsm_code),
                         self.fault.field.eq(fsm_field), self.fault.index.eq(index)]
        return m


def _is_mul(ctl):
    """A pipeline stage's controls say ALU MUL."""
    return ctl.alu & (ctl.op == AluOp.MUL)


def _room(off, depth, width):
    """``clamp(depth − off, 0, 2^width)``: for every ``width``-bit ``idx``, ``idx + off ≥ depth`` iff
    ``idx ≥ _room(off, depth, width)`` (an offset at or past the depth fails every index; a room of 2^width none)."""
    diff = (depth - off)[:max(depth.bit_length(), 1)]      # only used when off < depth: then 0 < diff ≤ depth
    return Mux(off >= depth, 0, Mux(diff >= (1 << width), 1 << width, diff))


def _narrow(m, x, rq, ow, k):
    """The ``ow``-bit out lane of the int32 result ``x``: its low bits, or with ``rq.on``
    ``clamp(x >> rq.shift, rq.relu ? 0 : −2^(ow−1), 2^(ow−1) − 1)``. The shifted value has x's sign (the shift is
    below 32), so the sign, and with it the relu case, is known without the shift; the shifted value fits iff its
    bits from ow−1 up all equal the sign."""
    sh = Signal(signed(len(x)), name=f"o_shifted_{k}")
    m.d.comb += sh.eq(x.as_signed() >> rq.shift)
    neg = x[-1]
    top = sh[ow - 1:]
    over, under = ~neg & top.any(), neg & ~top.all()
    hi, lo = (1 << (ow - 1)) - 1, 1 << (ow - 1)   # 2^(ow−1) − 1 and −2^(ow−1), as ow-bit patterns
    clamped = Mux(neg & rq.relu, 0, Mux(over, hi, Mux(under, lo, sh[:ow])))
    return Mux(rq.on, clamped, x[:ow])
