"""The uop-kernel recorder and cache: recorded once per signature, DRAM image correct, residency not reloaded,
ring eviction when uop SRAM is full."""

import numpy as np
import pytest

import vta
from vta import VTAError
from vta.isa import Load, MemId, Uop, decode_uops
from vta.jit import CommandStream, DramAllocator, KernelCache, KernelRecorder
from vta.jit.kernels import Loop, UopKernel


@pytest.fixture
def env():
    cfg = vta.load_config("small")          # uop depth 1024
    dram = np.zeros(1 << 16, np.uint8)
    return cfg, KernelCache(cfg, DramAllocator(1 << 16), dram), dram


def kernel_of(n, sig):
    return lambda: UopKernel(sig, tuple(Uop(i % 7, i % 5, i % 3) for i in range(n)))


def test_recorder_builds_loops_and_uops():
    r = KernelRecorder()
    r.loop_begin(4, dst=8, src=16)
    r.loop_begin(2, dst=1, wgt=3)
    r.push(1, 2, 3)
    r.push(4, 5)
    r.loop_end()
    r.loop_end()
    k = r.kernel("sig")
    assert k.uops == (Uop(1, 2, 3), Uop(4, 5, 0))
    assert k.loops == (Loop(4, 8, 16, 0), Loop(2, 1, 0, 3))
    assert k.index_ranges() == {"dst": (1, 4 + 24 + 1), "src": (2, 5 + 48), "wgt": (0, 3 + 3)}
    r2 = KernelRecorder()
    r2.loop_begin(2)
    r2.loop_begin(2)
    with pytest.raises(VTAError, match="at most 2"):
        r2.loop_begin(2)
    with pytest.raises(VTAError, match="left open"):
        r2.kernel("x")


def test_build_once_and_dram_image(env):
    cfg, kc, dram = env
    calls = []

    def build():
        calls.append(1)
        return kernel_of(5, "a")()
    k1 = kc.get("a", build)
    k2 = kc.get("a", build)
    assert k1 is k2 and len(calls) == 1 and (kc.builds, kc.hits) == (1, 1)
    s = CommandStream(cfg)
    p = kc.place(s, k1)
    (ld,) = s.insns
    assert isinstance(ld, Load) and ld.memory_type == MemId.UOP and ld.x_size == 5 and ld.sram_base == p.bgn
    words = dram[ld.dram_base * 4:(ld.dram_base + 5) * 4]
    assert decode_uops(cfg, words) == [Uop(i % 7, i % 5, i % 3) for i in range(5)]


def test_resident_kernel_is_not_reloaded(env):
    cfg, kc, _ = env
    s = CommandStream(cfg)
    k = kc.get("a", kernel_of(10, "a"))
    p1 = kc.place(s, k)
    p2 = kc.place(s, k)
    assert p1 == p2 and len(s) == 1 and kc.loads == 1


def test_ring_eviction(env):
    cfg, kc, _ = env
    s = CommandStream(cfg)
    ka = kc.get("a", kernel_of(600, "a"))
    kb = kc.get("b", kernel_of(300, "b"))
    kcc = kc.get("c", kernel_of(200, "c"))     # 600 + 300 + 200 > 1024: wraps to 0 and evicts a
    pa, pb, pc = kc.place(s, ka), kc.place(s, kb), kc.place(s, kcc)
    assert (pa.bgn, pb.bgn, pc.bgn) == (0, 600, 0)
    assert set(kc.resident) == {"b", "c"} and kc.evictions == 1
    pb2 = kc.place(s, kb)                     # still resident
    assert pb2.bgn == 600 and kc.loads == 3
    pa2 = kc.place(s, ka)                     # reloaded after c (200..800), evicting b
    assert pa2.bgn == 200 and set(kc.resident) == {"c", "a"} and kc.loads == 4
    image = kc.uop_image()
    assert image[:200] == list(kcc.uops) and image[200:800] == list(ka.uops)


def test_too_big_kernel_rejected(env):
    cfg, kc, _ = env
    with pytest.raises(VTAError, match="1025 micro-ops, the uop buffer holds 1024"):
        kc.get("big", kernel_of(1025, "big"))


def test_index_too_wide_for_uop_field(env):
    cfg, kc, _ = env
    with pytest.raises(vta.ISAError):
        kc.get("wide", lambda: UopKernel("wide", (Uop(cfg.acc_depth, 0, 0),)))


def test_abandoned_stream_does_not_count_as_loaded(env):
    cfg, kc, _ = env
    kc.begin_stream()
    ka = kc.get("a", kernel_of(10, "a"))
    kc.place(CommandStream(cfg), ka)
    kc.commit()                                   # this stream ran: "a" is resident
    kc.begin_stream()
    kb = kc.get("b", kernel_of(10, "b"))
    kc.place(CommandStream(cfg), kb)              # this stream is never run ...
    kc.begin_stream()                             # ... so the next one must not believe "b" is in uop SRAM
    assert set(kc.resident) == {"a"}
    s = CommandStream(cfg)
    kc.place(s, kb)
    assert len(s) == 1                            # reloaded


def test_lru_never_drops_a_kernel_of_the_stream_being_built():
    cfg = vta.load_config("small")
    dram = np.zeros(1 << 16, np.uint8)
    kc = KernelCache(cfg, DramAllocator(1 << 16), dram, max_kernels=2)
    kc.begin_stream()
    s = CommandStream(cfg)
    placed = [kc.place(s, kc.get(n, kernel_of(3 + k, n))) for k, n in enumerate("abc")]
    assert len(kc) == 3                           # over the limit, but all three are loaded by this stream
    words = [dram[i.dram_base * 4:(i.dram_base + i.x_size) * 4] for i in s.insns]
    assert [decode_uops(cfg, w) for w in words] == [list(p.kernel.uops) for p in placed]
    kc.commit()
    kc.begin_stream()
    kc.get("d", kernel_of(2, "d"))                # next stream: the oldest two go
    assert len(kc) == 2
