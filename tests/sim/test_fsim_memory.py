"""FunctionalSim LOAD and STORE: round trips, 2-D strides, padding on every side, ACC_8BIT, no-ops, bytes moved."""

import zlib

import numpy as np
import pytest
from fsim_helpers import Image, assert_same_state, execute, load_uops, rand_tiles, read_elems

from vta.isa import Alu, AluOp, Finish, Load, MemId, Store, Uop
from vta.sim import FunctionalSim


def wrap8(x):
    return (np.asarray(x, dtype=np.int64) + 128) % 256 - 128


def test_acc_store_round_trip_truncates(cfg):
    """int32 data (6, 6, BATCH, BLOCK_OUT) → LOAD ACC → ALU SHR 0 (copy into out) → STORE: low 8 bits in DRAM."""
    rng = np.random.default_rng(1)
    data = rng.integers(-(1 << 31), 1 << 31, (6, 6, *cfg.acc_shape), dtype=np.int64)
    data[0, 0, 0, :4] = [127, 128, -129, 255]  # literal truncations: 127, -128, 127, -1
    img = Image(cfg)
    src = img.data("acc", data.reshape(36, *cfg.acc_shape))
    dst = img.reserve("out", 36)
    insns = [Load(memory_type=MemId.ACC, sram_base=0, dram_base=src, y_size=6, x_size=6, x_stride=6),
             load_uops(cfg, img, [Uop(u, u) for u in range(36)]),
             Alu(alu_opcode=AluOp.SHR, uop_bgn=0, uop_end=36, use_imm=True, imm=0),
             Store(sram_base=0, dram_base=dst, y_size=6, x_size=6, x_stride=6)]
    sim, stats, dram, ref, dram_ref = execute(cfg, img, insns)
    stored = read_elems(cfg, dram, "out", dst, 36).reshape(6, 6, *cfg.out_shape)
    np.testing.assert_array_equal(stored, wrap8(data))
    assert list(stored[0, 0, 0, :4]) == [127, -128, 127, -1]
    np.testing.assert_array_equal(sim.acc[:36], data.reshape(36, *cfg.acc_shape))  # SHR 0 is a copy
    assert_same_state(sim, ref, dram, dram_ref)


def test_load_acc_does_not_touch_out(cfg):
    img = Image(cfg)
    src = img.data("acc", np.full((4, *cfg.acc_shape), 7))
    sim, _, _, _, _ = execute(cfg, img, [Load(memory_type=MemId.ACC, sram_base=0, dram_base=src, y_size=1,
                                                   x_size=4, x_stride=4)])
    assert (sim.acc[:4] == 7).all()
    assert not sim.out.any()


PAD_CASES = {"none": (0, 0, 0, 0), "top": (2, 0, 0, 0), "bottom": (0, 3, 0, 0), "left": (0, 0, 1, 0),
             "right": (0, 0, 0, 2), "all": (1, 2, 3, 1), "max": (15, 1, 0, 15)}


@pytest.mark.parametrize("mem", ["INP", "ACC", "ACC_8BIT"])
@pytest.mark.parametrize("pads", list(PAD_CASES), ids=list(PAD_CASES))
@pytest.mark.parametrize("stride", ["dense", "gapped", "overlap"])
def test_padded_strided_load(cfg, mem, pads, stride):
    y0, y1, x0, x1 = PAD_CASES[pads]
    y_size, x_size = 3, 4
    x_stride = {"dense": x_size, "gapped": x_size + 3, "overlap": 2}[stride]
    kind = {"INP": "inp", "ACC": "acc", "ACC_8BIT": "out"}[mem]
    buf = "inp" if mem == "INP" else "acc"
    rng = np.random.default_rng(zlib.crc32(f"{mem}-{pads}-{stride}".encode()))
    n_src = (y_size - 1) * x_stride + x_size
    src = rand_tiles(cfg, rng, kind, n_src)
    rows, pitch = y0 + y_size + y1, x0 + x_size + x1
    sram_base = 5
    img = Image(cfg)
    base = img.data(kind, src)
    # Fill the target region with nonzero garbage first, so the padding really has to write zeros.
    garbage_kind = "inp" if buf == "inp" else "acc"
    garbage = img.data(garbage_kind, rand_tiles(cfg, rng, garbage_kind, rows * pitch, 1, 100))
    insns = [Load(memory_type=MemId[buf.upper()], sram_base=sram_base, dram_base=garbage, y_size=1,
                  x_size=rows * pitch, x_stride=rows * pitch),
             Load(memory_type=MemId[mem], sram_base=sram_base, dram_base=base, y_size=y_size, x_size=x_size,
                  x_stride=x_stride, y_pad_0=y0, y_pad_1=y1, x_pad_0=x0, x_pad_1=x1)]
    sim, stats, dram, ref, dram_ref = execute(cfg, img, insns)
    # Independent expectation: the strided block gathered row by row, then np.pad with zeros.
    block = np.stack([src[y * x_stride:y * x_stride + x_size] for y in range(y_size)])
    expect = np.pad(block, ((y0, y1), (x0, x1)) + ((0, 0),) * (block.ndim - 2))
    got = getattr(sim, buf)[sram_base:sram_base + rows * pitch].reshape(rows, pitch, *getattr(sim, buf).shape[1:])
    np.testing.assert_array_equal(got, expect)
    assert not getattr(sim, buf)[:sram_base].any()
    assert not getattr(sim, buf)[sram_base + rows * pitch:].any()
    assert_same_state(sim, ref)
    elem = cfg.elem_bytes[kind]
    assert stats.bytes[buf] == rows * pitch * cfg.elem_bytes[garbage_kind] + y_size * x_size * elem


def test_acc_8bit_sign_extends(cfg):
    lanes = int(np.prod(cfg.out_shape))
    vals = np.arange(-128, 128, dtype=np.int64)
    n = -(-vals.size // lanes)
    data = np.resize(vals, n * lanes).reshape(n, *cfg.out_shape)
    img = Image(cfg)
    base = img.data("out", data)
    sim, stats, *_ = execute(cfg, img, [Load(memory_type=MemId.ACC_8BIT, sram_base=0, dram_base=base, y_size=1,
                                             x_size=n, x_stride=n)])
    np.testing.assert_array_equal(sim.acc[:n], data)  # -128 stays -128, not 128
    assert sim.acc.dtype == np.int32 and sim.acc[:n].min() == -128
    assert stats.bytes["acc"] == n * cfg.out_elem_bytes


@pytest.mark.parametrize("x_stride", [3, 7])
def test_uop_and_wgt_strided_load(cfg, x_stride):
    rng = np.random.default_rng(x_stride)
    img = Image(cfg)
    w = rand_tiles(cfg, rng, "wgt", 2 * x_stride)
    wbase = img.data("wgt", w)
    uops = [Uop(int(rng.integers(cfg.acc_depth)), int(rng.integers(cfg.inp_depth)), int(rng.integers(cfg.wgt_depth)))
            for _ in range(2 * x_stride)]
    ubase = img.uops(uops)
    insns = [Load(memory_type=MemId.WGT, sram_base=1, dram_base=wbase, y_size=2, x_size=3, x_stride=x_stride),
             Load(memory_type=MemId.UOP, sram_base=2, dram_base=ubase, y_size=2, x_size=3, x_stride=x_stride)]
    sim, *_ = execute(cfg, img, insns)
    np.testing.assert_array_equal(sim.wgt[1:7], np.concatenate([w[0:3], w[x_stride:x_stride + 3]]))
    words = np.array([[(u.dst_idx | u.src_idx << cfg.isa.field("uop", "src_idx").offset
                        | u.wgt_idx << cfg.isa.field("uop", "wgt_idx").offset) for u in uops]], dtype=np.uint32)[0]
    np.testing.assert_array_equal(sim.uop[2:8], np.concatenate([words[0:3], words[x_stride:x_stride + 3]]))


@pytest.mark.parametrize("x_stride", [4, 6, 1, 2], ids=["dense", "gapped", "overlap1", "overlap2"])
def test_store_strided(cfg, x_stride):
    """STORE rows at x_stride; gaps keep their DRAM bytes; overlapping rows: later rows win (program order)."""
    rng = np.random.default_rng(x_stride)
    y_size, x_size = 3, 4
    img = Image(cfg)
    acc = rand_tiles(cfg, rng, "acc", y_size * x_size, -1000, 1000)
    span = (y_size - 1) * x_stride + x_size
    dst = img.reserve("out", span + 2, fill=0x5A)
    insns = [Load(memory_type=MemId.ACC, sram_base=0, dram_base=img.data("acc", acc), y_size=1, x_size=12,
                  x_stride=12),
             load_uops(cfg, img, [Uop(u, u) for u in range(12)]),
             Alu(alu_opcode=AluOp.MAX, uop_bgn=0, uop_end=12, use_imm=True, imm=-(1 << 15)),  # out = low 8 bits
             Store(sram_base=0, dram_base=dst, y_size=y_size, x_size=x_size, x_stride=x_stride)]
    sim, stats, dram, ref, dram_ref = execute(cfg, img, insns)
    expect = np.full((span + 2, *cfg.out_shape), np.int8(0x5A), dtype=np.int64)
    for y in range(y_size):
        for x in range(x_size):
            expect[y * x_stride + x] = wrap8(acc[y * x_size + x])
    np.testing.assert_array_equal(read_elems(cfg, dram, "out", dst, span + 2), expect)
    assert_same_state(sim, ref, dram, dram_ref)
    assert stats.bytes["out"] == y_size * x_size * cfg.out_elem_bytes


@pytest.mark.parametrize("mem", ["UOP", "WGT", "INP", "ACC", "ACC_8BIT"])
def test_empty_load_is_a_noop(cfg, mem):
    """y_size or x_size 0: nothing is written, pads are ignored (even on UOP/WGT), no bytes counted."""
    img = Image(cfg)
    insns = [Load(memory_type=MemId[mem], sram_base=0, dram_base=0, y_size=0, x_size=5, x_stride=5, y_pad_0=2,
                  x_pad_1=3),
             Load(memory_type=MemId[mem], sram_base=0, dram_base=0, y_size=5, x_size=0, x_stride=5, x_pad_0=1)]
    sim, stats, *_ = execute(cfg, img, insns)
    for buf in ("uop", "inp", "wgt", "acc", "out"):
        assert not getattr(sim, buf).any(), buf
    assert stats.insns["LOAD"] == 2
    assert sum(v for k, v in stats.bytes.items() if k != "insn") == 0


def test_random_load_store_programs_match_reference(cfg):
    """Seeded random mixes of padded/strided loads and strided stores against the loop reference."""
    rng = np.random.default_rng(1234)
    for _trial in range(6):
        img = Image(cfg)
        pools = {k: img.data(k, rand_tiles(cfg, rng, k, 64, -300, 300) if k == "acc" else rand_tiles(cfg, rng, k, 64))
                 for k in ("inp", "acc", "out")}
        dst = img.reserve("out", 64)
        insns = [load_uops(cfg, img, [Uop(u, u) for u in range(48)])]
        for _ in range(8):
            mem = rng.choice(["INP", "ACC", "ACC_8BIT"])
            kind = {"INP": "inp", "ACC": "acc", "ACC_8BIT": "out"}[mem]
            y, x = int(rng.integers(1, 4)), int(rng.integers(1, 5))
            stride = int(rng.integers(1, 8))
            pads = [int(rng.integers(0, 3)) for _ in range(4)]
            insns.append(Load(memory_type=MemId[mem], sram_base=int(rng.integers(0, 8)),
                              dram_base=pools[kind] + int(rng.integers(0, 8)), y_size=y, x_size=x, x_stride=stride,
                              y_pad_0=pads[0], y_pad_1=pads[1], x_pad_0=pads[2], x_pad_1=pads[3]))
        insns.append(Alu(alu_opcode=AluOp.ADD, uop_bgn=0, uop_end=48, use_imm=True, imm=1))
        for _ in range(3):
            y, x = int(rng.integers(1, 4)), int(rng.integers(1, 5))
            insns.append(Store(sram_base=int(rng.integers(0, 16)), dram_base=dst + int(rng.integers(0, 8)),
                               y_size=y, x_size=x, x_stride=int(rng.integers(1, 8))))
        sim, stats, dram, ref, dram_ref = execute(cfg, img, insns)
        assert_same_state(sim, ref, dram, dram_ref)


def test_dram_at_nonzero_offset_and_unaligned_view(cfg):
    """A DRAM image whose instructions sit at a high address; dram being a slice of a bigger buffer."""
    img = Image(cfg, start=4096)
    data = np.arange(8 * int(np.prod(cfg.inp_shape))).reshape(8, *cfg.inp_shape) % 256 - 128
    base = img.data("inp", data)
    insns = [Load(memory_type=MemId.INP, sram_base=0, dram_base=base, y_size=2, x_size=4, x_stride=4)]
    addr, count = img.insns(insns + [Finish()])
    raw = img.build()
    big = np.zeros(raw.size + 1, dtype=np.uint8)
    dram = big[1:]  # not 4-byte aligned in memory
    dram[:] = raw
    sim = FunctionalSim(cfg)
    sim.run(dram, addr, count)
    np.testing.assert_array_equal(sim.inp[:8], data)
