"""ResNet-18 convolution layers (C1–C11, upstream's benchmark shapes) through `vta.jit.Runtime`.

For each layer: MACs, the result checked against a numpy reference, the default schedule, instructions, DRAM
bytes moved, device wall time, and — on Verilator — cycles and GEMM utilisation (MACs / (cycles × MACs per
cycle)) with latency hiding off (1 virtual thread) and on (2 virtual threads), same tiles otherwise. ``--rows R``
runs a reduced-height slice (the input rows that the first R output rows need) instead of the full layer; the
table says so. ``--plot FILE.png`` draws a roofline (needs matplotlib).

``--bias`` gives every layer a seeded int32 bias, as compiled layers have: each tile then starts with one ALU
MOV of its bias rows instead of a reset GEMM (the shift and clip are the last GEMM's requantizing out write either
way; `vta.jit.ops.conv2d`).

Usage: python benchmarks/resnet18_layers.py [--device fsim|verilator] [--config default|small]
                                            [--layers C2,C5] [--rows R] [--batch N] [--plot roofline.png] [--bias]
"""

import argparse
import dataclasses
import time

import numpy as np

from vta import load_config
from vta.jit import ConvGeometry, Runtime, default_conv2d_schedule

# (H, W, Cin, Cout, kernel, pad, stride) — ISA.md §7
LAYERS = {"C1": (224, 224, 3, 64, 7, 3, 2), "C2": (56, 56, 64, 64, 3, 1, 1), "C3": (56, 56, 64, 128, 3, 1, 2),
          "C4": (56, 56, 64, 128, 1, 0, 2), "C5": (28, 28, 128, 128, 3, 1, 1), "C6": (28, 28, 128, 256, 3, 1, 2),
          "C7": (28, 28, 128, 256, 1, 0, 2), "C8": (14, 14, 256, 256, 3, 1, 1), "C9": (14, 14, 256, 512, 3, 1, 2),
          "C10": (14, 14, 256, 512, 1, 0, 2), "C11": (7, 7, 512, 512, 3, 1, 1)}


def reference(x, w, stride, pad, shift, bias=None):
    """int64 numpy convolution (+ bias), then >> shift and clip to int8 (relu)."""
    n, c, h, wd = x.shape
    o, _, k, _ = w.shape
    xp = np.zeros((n, c, h + 2 * pad, wd + 2 * pad), np.int64)
    xp[:, :, pad:pad + h, pad:pad + wd] = x
    oh, ow = (h + 2 * pad - k) // stride + 1, (wd + 2 * pad - k) // stride + 1
    acc = np.zeros((n, o, oh, ow), np.int64)
    for i in range(k):
        for j in range(k):
            acc += np.einsum("nchw,oc->nohw", xp[:, :, i:i + stride * (oh - 1) + 1:stride,
                                                 j:j + stride * (ow - 1) + 1:stride], w[:, :, i, j].astype(np.int64))
    if bias is not None:
        acc += bias.astype(np.int64)[None, :, None, None]
    return np.clip(acc >> shift, 0, 127).astype(np.int8)


def layer_data(args, name):
    """Layer ``name``'s seeded random input and weights (at most ``args.rows`` output rows), the generator it
    drew them from, and its shape as in `LAYERS` with the input height clipped."""
    h, w, ci, co, k, pad, stride = LAYERS[name]
    if args.rows:
        h = min(h, (args.rows - 1) * stride + k - pad)
    rng = np.random.default_rng(int(name[1:]))
    x = rng.integers(-128, 128, (args.batch, ci, h, w), dtype=np.int8)
    wt = rng.integers(-128, 128, (co, ci, k, k), dtype=np.int8)
    return rng, x, wt, (h, w, ci, co, k, pad, stride)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="fsim", choices=["fsim", "verilator"])
    ap.add_argument("--config", default="default")
    ap.add_argument("--layers", default=",".join(LAYERS))
    ap.add_argument("--rows", type=int, default=None, help="output rows per layer (reduced-height slice)")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--plot", default=None, help="write a roofline PNG here (matplotlib)")
    ap.add_argument("--bias", action="store_true", help="give every layer a seeded int32 bias (bias MOV epilogue)")
    args = ap.parse_args()
    cfg = load_config(args.config)
    rt = Runtime(cfg, args.device, dram_bytes=256 << 20, verify=False)
    timed = args.device != "fsim"
    print(f"ResNet-18 conv layers on {args.device}, {cfg}")
    extent = f"output rows {args.rows} per layer (reduced-height slices)" if args.rows else "full layers"
    print(f"batch {args.batch}; {extent}; {'with' if args.bias else 'without'} bias")
    head = f"{'layer':5} {'shape':28} {'MMACs':>8} {'ok':>3} {'schedule (b,h,w,ci,co)':>22} {'insns':>6} {'MB':>6}"
    head += f" {'call s':>7}"
    if timed:
        head += f" {'cycles vt1':>11} {'util vt1':>8} {'cycles vt2':>11} {'util vt2':>8} {'speedup':>7}"
    print(head)
    points = []
    tot = dict(macs=0, wall=0.0, c1=0, c2=0)
    for name in args.layers.split(","):
        rng, x, wt, (h, w, ci, co, k, pad, stride) = layer_data(args, name)
        g = ConvGeometry.of(cfg, args.batch, ci, h, w, co, k, k, stride, pad)
        sched = default_conv2d_schedule(cfg, g)
        bias = rng.integers(-(1 << 14), 1 << 14, co, dtype=np.int32) if args.bias else None
        runs = {}
        for vt in ((1, 2) if timed else (sched.n_vthreads,)):
            s = dataclasses.replace(sched, n_vthreads=vt)
            t0 = time.perf_counter()
            y, stats = rt.conv2d(x, wt, bias, stride=stride, padding=pad, shift=12, relu=True, schedule=s)
            wall = time.perf_counter() - t0
            runs[vt] = (y, stats, wall)
        expect = reference(x, wt, stride, pad, 12, bias)
        ok = all(np.array_equal(r[0], expect) for r in runs.values())
        last = runs[max(runs)]
        st = last[1]
        moved = sum(v for kk, v in st.run.bytes.items())
        line = (f"{name:5} {f'{ci}x{h}x{w} -> {co} k{k} s{stride} p{pad}':28} {g.macs / 1e6:8.1f} "
                f"{'yes' if ok else 'NO':>3} "
                f"{f'{sched.tile_b},{sched.tile_h},{sched.tile_w},{sched.tile_ci},{sched.tile_co}':>22} "
                f"{st.insns:6d} {moved / 1e6:6.2f} {last[2]:7.2f}")
        tot["macs"] += g.macs
        tot["wall"] += last[2]
        if timed:
            s1, s2 = runs[1][1], runs[2][1]
            line += (f" {s1.cycles:11d} {s1.utilization:8.1%} {s2.cycles:11d} {s2.utilization:8.1%} "
                     f"{s1.cycles / s2.cycles:7.2f}")
            tot["c1"] += s1.cycles
            tot["c2"] += s2.cycles
            for vt, (_, s, _) in runs.items():
                points.append((name, vt, s.macs / max(1, sum(s.run.bytes.values())), s.macs / s.cycles))
        print(line, flush=True)
    summary = f"total {tot['macs'] / 1e9:.2f} GMACs, {tot['wall']:.1f} s wall time in operator calls"
    if timed:
        peak = cfg.macs_per_cycle
        summary += (f"; cycles vt1 {tot['c1']} ({tot['macs'] / (tot['c1'] * peak):.1%} of peak useful), "
                    f"vt2 {tot['c2']} ({tot['macs'] / (tot['c2'] * peak):.1%})")
    print(summary)
    if args.plot:
        if not points:
            print("no cycle counts (fsim has none): roofline needs --device verilator")
        else:
            roofline(cfg, points, args.plot)


def roofline(cfg, points, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install matplotlib): no plot written")
        return
    fig, ax = plt.subplots(figsize=(7, 4.5))
    xs = np.logspace(0, 3.3, 200)
    ax.plot(xs, np.minimum(cfg.macs_per_cycle, cfg.bus_bytes * xs), "k-", label="roofline (peak GEMM, AXI bus)")
    for vt, marker in ((1, "o"), (2, "^")):
        p = [q for q in points if q[1] == vt]
        ax.scatter([q[2] for q in p], [q[3] for q in p], marker=marker,
                   label=f"{vt} virtual thread{'s' if vt > 1 else ''}")
        for q in p:
            ax.annotate(q[0], (q[2], q[3]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (MACs per DRAM byte)")
    ax.set_ylabel("MACs per cycle")
    ax.set_title(f"ResNet-18 conv layers on VTA {cfg.name} ({cfg.macs_per_cycle} MACs/cycle peak)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"roofline written to {path}")


if __name__ == "__main__":
    main()
