"""What block-diagonal packing costs: one depthwise 3×3 layer against a dense 3×3 convolution with the same useful
MACs, on the cycle-accurate RTL (or fsim, which counts no cycles).

    python benchmarks/group_conv.py [--device verilator] [--hw 28]

A depthwise layer packs BLOCK channels per GEMM block with zeros off the diagonal, so the GEMM core does BLOCK×
the useful work; the dense layer (BLOCK → BLOCK channels) fills every block. Utilisation = useful MACs /
(cycles · peak MACs per cycle).
"""

import argparse
import sys

import numpy as np


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="verilator")
    p.add_argument("--hw", type=int, default=28, help="feature map height = width")
    p.add_argument("--channels", type=int, default=256, help="depthwise channels")
    a = p.parse_args(argv)
    from vta.jit import Runtime
    rt = Runtime("default", device=a.device)
    cfg = rt.cfg
    rng = np.random.default_rng(0)
    c, hw, blk = a.channels, a.hw, cfg.block_out
    dense_c = int(round(np.sqrt(c)))
    x_dw = rng.integers(-128, 128, (1, c, hw, hw), dtype=np.int8)
    w_dw = rng.integers(-128, 128, (c, 1, 3, 3), dtype=np.int8)
    x_d = rng.integers(-128, 128, (1, dense_c, hw, hw), dtype=np.int8)
    w_d = rng.integers(-128, 128, (dense_c, dense_c, 3, 3), dtype=np.int8)
    rows = [("depthwise", rt.group_conv2d(x_dw, w_dw, None, groups=c, padding=1, shift=8)[1]),
            (f"dense {dense_c}→{dense_c}", rt.conv2d(x_d, w_d, None, padding=1, shift=8)[1])]
    print(f"3×3, {hw}×{hw}, config {cfg.name} ({cfg.macs_per_cycle} MACs/cycle, {blk}×{blk} blocks), "
          f"device {a.device}")
    print(f"{'layer':<16}{'useful MACs':>12}{'GEMM MACs':>12}{'cycles':>10}{'useful/cycle':>13}{'util':>7}")
    for name, st in rows:
        cyc = st.cycles
        per = st.useful_macs / cyc if cyc else float("nan")
        print(f"{name:<16}{st.useful_macs:>12}{st.macs:>12}{cyc if cyc else '-':>10}{per:>13.1f}"
              f"{100 * per / cfg.macs_per_cycle:>6.1f}%")
    rt.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
