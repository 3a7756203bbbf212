import pytest

from vta import VTAError
from vta.jit import DramAllocator, OutOfDramError


def test_alignment_and_disjoint():
    a = DramAllocator(1 << 16)
    bufs = [a.alloc(n, align=al) for n, al in ((5, 16), (100, 256), (3, 64), (1000, 4096), (7, 1))]
    for b, al in zip(bufs, (16, 256, 64, 4096, 1)):
        assert b.addr % al == 0
    spans = sorted((b.addr, b.end) for b in bufs)
    for (_s0, e0), (s1, _e1) in zip(spans, spans[1:]):
        assert e0 <= s1
    assert all(0 <= s and e <= 1 << 16 for s, e in spans)
    assert a.in_use == 5 + 100 + 3 + 1000 + 7


def test_free_reuses_and_merges():
    a = DramAllocator(4096, default_align=16)
    x, y, z = a.alloc(1024), a.alloc(1024), a.alloc(1024)
    a.free(y)
    small = a.alloc(512)
    assert small.addr == y.addr                 # first fit goes into the hole
    a.free(x)
    a.free(z)
    assert a.in_use == 512
    b = a.alloc(2048)                           # needs the merged tail beyond the 512-byte block
    assert b.addr >= y.addr + 512
    a.free(b)
    a.free(small)
    assert a.holes == [(0, 4096)]               # everything merged back into one region


def test_out_of_memory_names_sizes():
    a = DramAllocator(1000, default_align=1)
    a.alloc(600)
    with pytest.raises(OutOfDramError, match=r"needs 500 bytes.*largest free region is 400 bytes.*400 of 1000"):
        a.alloc(500, name="weights")
    with pytest.raises(OutOfDramError, match="weights"):
        a.alloc(500, name="weights")


def test_bad_requests():
    a = DramAllocator(1000)
    with pytest.raises(VTAError, match="power of two"):
        a.alloc(10, align=24)
    with pytest.raises(VTAError, match="positive"):
        a.alloc(0)
    b = a.alloc(10)
    a.free(b)
    with pytest.raises(VTAError, match="double free"):
        a.free(b)
    with pytest.raises(VTAError, match="DRAM size"):
        DramAllocator(0)


def test_elem_index_alignment():
    a = DramAllocator(1 << 12)
    b = a.alloc(256, align=256)
    assert b.elem(256) * 256 == b.addr
    c = a.alloc(16, align=16)
    if c.addr % 256:
        with pytest.raises(VTAError, match="not aligned"):
            c.elem(256)
