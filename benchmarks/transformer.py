#!/usr/bin/env python3
"""Transformer encoder blocks on VTA: every matrix product on the GEMM core, LayerNorm/Softmax/GELU on the host.

    python benchmarks/transformer.py block [--tokens 16 64] [--device verilator] [--opset 17] [--no-offsets]
    python benchmarks/transformer.py vit [--opset 17 12] [--calib 4] [--search]

``block``: a pre-norm encoder block (multi-head self-attention + GELU MLP, seeded weights; default 64 channels,
4 heads, MLP 256) exported from PyTorch, compiled with `vta.compile` and run on the cycle-accurate Verilated RTL:
VTA cycles, GEMM MACs, the GEMM and ALU cores' busy cycles and MAC utilisation (useful MACs / (cycles · peak MACs
per cycle)) per kind of layer and in total, and whether the RTL output is bit-exact with the functional simulator
(the golden model).

``vit``: a torchvision-``vit_b_16``-shaped block (768 channels, 12 heads, 197 tokens, MLP 3072; defined here, since
torchvision does not import in this environment) compiled from both ONNX exports (opset 17 with
LayerNormalization, opset 12 with LayerNorm decomposed into ReduceMean/Sub/Pow/Sqrt/Div): the fraction of its
MACs on VTA, its cosine similarity with onnxruntime FP32 on the functional simulator, and where the time goes.

The inputs are seeded standard-normal activations (no trained weights here; the cosine is that of a random-weight
block, the residual path included — ``delta cos`` compares the block's contribution y − x alone).
"""

import argparse
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from results import cosine, write_json


def encoder_block(c, heads, mlp, seed=0):
    """A pre-norm ViT encoder block (torchvision's EncoderBlock arithmetic, written with plain Linear layers:
    LayerNorm → fused QKV → per-head softmax(Q·Kᵀ/√d)·V → projection, residual; LayerNorm → Linear → GELU →
    Linear, residual), seeded weights."""
    import torch
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.h, self.d = heads, c // heads
            self.ln1, self.ln2 = nn.LayerNorm(c, eps=1e-6), nn.LayerNorm(c, eps=1e-6)
            self.qkv, self.proj = nn.Linear(c, 3 * c), nn.Linear(c, c)
            self.fc1, self.fc2, self.act = nn.Linear(c, mlp), nn.Linear(mlp, c), nn.GELU()

        def forward(self, x):
            b, t, _ = x.shape
            q, k, v = self.qkv(self.ln1(x)).reshape(b, t, 3, self.h, self.d).permute(2, 0, 3, 1, 4)
            a = ((q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(self.d))).softmax(-1)
            x = x + self.proj((a @ v).transpose(1, 2).reshape(b, t, c))
            return x + self.fc2(self.act(self.fc1(self.ln2(x))))

    torch.manual_seed(seed)
    return Block().eval()


def export(module, x, opset):
    """ONNX bytes of ``module`` traced on ``x`` (batch axis dynamic), exported as `vta.compile` exports it."""
    from vta.compiler.onnx_import import from_torch
    return from_torch(module, x, opset=opset)[1].SerializeToString()


def ort_fp32(model, x):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    return ort.InferenceSession(model, so, providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]


def _kind(layer):
    op = layer["op"].split("+")[0]
    return {"Dense": "linear (Dense)", "MatMul": "attention (act×act)"}.get(op, "ALU (Add …)")


def cmd_block(a):
    import vta
    from vta.quant import Plan
    rows, out = [], []
    for t in a.tokens:
        rng = np.random.default_rng(t)
        block = encoder_block(a.channels, a.heads, a.mlp)
        x = rng.standard_normal((a.calib + 1, t, a.channels)).astype(np.float32)
        model = export(block, x[:1], a.opset)
        plan = None if a.offsets else Plan(default_act=("percentile", "ceil"), act_offset=False)
        with vta.compile(model, calibration=x[1:], search=a.search, plan=plan) as cm:
            y_dev = cm.run(x[:1], device=a.device)[0]
            rep = cm.report(device=a.device)
            y_fsim = cm.run(x[:1], device="fsim")[0]
        ref = ort_fp32(model, x[:1])
        peak = cm.cfg.macs_per_cycle
        kinds = {}
        for l in rep.layers:
            if l["placement"] == "VTA" and l.get("cycles") is not None:
                k = kinds.setdefault(_kind(l), [0, 0, 0, 0, 0])
                k[0] += l["macs"]
                k[1] += l.get("device_macs", 0)
                k[2] += l["cycles"]
                k[3] += l.get("busy", {}).get("gemm", 0)
                k[4] += l.get("busy", {}).get("alu", 0)
        s = rep.summary
        useful = s["vta_macs"]
        cyc = s["cycles"]
        row = {"tokens": t, "cycles": cyc, "useful_macs": useful, "device_macs": sum(k[1] for k in kinds.values()),
               "utilisation": useful / (cyc * peak) if cyc else None, "vta_mac_fraction": s["vta_mac_fraction"],
               "bit_exact_vs_fsim": bool(np.array_equal(y_dev, y_fsim)), "cosine": cosine(y_dev, ref),
               "delta_cosine": cosine(y_dev - x[:1], ref - x[:1]),
               "by_kind": {k: {"useful_macs": v[0], "device_macs": v[1], "cycles": v[2], "gemm_busy": v[3],
                               "alu_busy": v[4], "utilisation": v[0] / (v[2] * peak) if v[2] else None}
                           for k, v in kinds.items()},
               "host_seconds": s["host_seconds"], "seconds_by_kind": s["seconds_by_kind"],
               "host_subgraphs": len(s["host_subgraphs"])}
        rows.append(row)
        out.append(rep)
    print(f"encoder block {a.channels} channels, {a.heads} heads, MLP {a.mlp}, batch 1, opset {a.opset}, config "
          f"{cm.cfg.name} ({cm.cfg.macs_per_cycle} MACs/cycle), device {a.device}, one-sided operands "
          f"{'with offsets (softmax P as q − 128: P·V adds 128·ΣV per column)' if a.offsets else 'symmetric'}")
    head = f"{'tokens':>6} {'layers':<22}{'useful MACs':>12}{'GEMM MACs':>12}{'cycles':>10}{'GEMM busy':>10}" \
           f"{'ALU busy':>9}{'MAC util':>9}"
    print(head)
    print("-" * len(head))
    for r in rows:
        for k, v in sorted(r["by_kind"].items()):
            u = "" if v["utilisation"] is None else f"{100 * v['utilisation']:.1f}%"
            print(f"{r['tokens']:>6} {k:<22}{v['useful_macs']:>12}{v['device_macs']:>12}{v['cycles']:>10}"
                  f"{v['gemm_busy']:>10}{v['alu_busy']:>9}{u:>9}")
        u = "-" if r["utilisation"] is None else f"{100 * r['utilisation']:.1f}%"
        gb, ab = (sum(v[f] for v in r["by_kind"].values()) for f in ("gemm_busy", "alu_busy"))
        print(f"{r['tokens']:>6} {'whole block':<22}{r['useful_macs']:>12}{r['device_macs']:>12}"
              f"{r['cycles'] if r['cycles'] is not None else '-':>10}{gb:>10}{ab:>9}{u:>9}")
        print(f"{'':>6} MACs on VTA {100 * r['vta_mac_fraction']:.1f}%; {a.device} output bit-exact with fsim: "
              f"{r['bit_exact_vs_fsim']}; cosine vs onnxruntime FP32 {r['cosine']:.5f} "
              f"(delta {r['delta_cosine']:.4f}); "
              f"{r['host_subgraphs']} host subgraphs")
    if a.report:
        for rep in out:
            print(rep)
    write_json(a.json, {"block": rows})
    return 0 if all(r["bit_exact_vs_fsim"] for r in rows) else 1


def cmd_vit(a):
    import vta
    c, heads, t, mlp = 768, 12, 197, 3072
    block = encoder_block(c, heads, mlp)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((a.calib + 1, t, c)).astype(np.float32)
    rows = []
    print(f"vit_b_16-shaped encoder block: {c} channels, {heads} heads, {t} tokens, MLP {mlp}; "
          f"{a.calib} calibration sample(s), search {'on' if a.search else 'off'}; functional simulator")
    head = f"{'opset':>5}{'MACs':>14}{'on VTA':>8}{'cosine':>9}{'delta cos':>10}{'compile s':>10}{'fsim s':>8}" \
           f"{'host s':>8}{'host subgraphs':>15}"
    print(head)
    print("-" * len(head))
    for opset in a.opset:
        model = export(block, x[:1], opset)
        t0 = time.perf_counter()
        with vta.compile(model, calibration=x[1:], search=a.search) as cm:
            comp = time.perf_counter() - t0
            t1 = time.perf_counter()
            y = cm.run(x[:1])[0]
            run_s = time.perf_counter() - t1
            rep = cm.report()
        ref = ort_fp32(model, x[:1])
        s = rep.summary
        r = {"opset": opset, "total_macs": s["total_macs"], "vta_mac_fraction": s["vta_mac_fraction"],
             "cosine": cosine(y, ref), "delta_cosine": cosine(y - x[:1], ref - x[:1]), "compile_seconds": comp,
             "fsim_seconds": run_s, "host_seconds": s["host_seconds"], "seconds_by_kind": s["seconds_by_kind"],
             "host_subgraphs": [h["ops"] for h in s["host_subgraphs"]],
             "cpu_macs": [(l["name"], l["macs"]) for l in rep.layers if l["macs"] and l["placement"] != "VTA"]}
        rows.append(r)
        print(f"{opset:>5}{r['total_macs']:>14}{100 * r['vta_mac_fraction']:>7.1f}%{r['cosine']:>9.5f}"
              f"{r['delta_cosine']:>10.4f}{comp:>10.1f}{run_s:>8.1f}{r['host_seconds']:>8.2f}"
              f"{len(r['host_subgraphs']):>15}")
        if a.report:
            print(rep)
    for r in rows:
        if r["cpu_macs"]:
            print(f"opset {r['opset']}: MACs left on the host: {r['cpu_macs']}")
    write_json(a.json, {"vit": rows})
    return 0 if all(r["vta_mac_fraction"] >= 0.9 for r in rows) else 1


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("block", help="cycles and MAC utilisation of one encoder block on the RTL")
    b.add_argument("--tokens", type=int, nargs="+", default=[16, 64])
    b.add_argument("--channels", type=int, default=64)
    b.add_argument("--heads", type=int, default=4)
    b.add_argument("--mlp", type=int, default=256)
    b.add_argument("--device", default="verilator")
    b.add_argument("--opset", type=int, default=17)
    b.add_argument("--calib", type=int, default=8, help="calibration samples (seeded normal)")
    b.add_argument("--search", action="store_true", help="run the quantization search (default: defaults)")
    b.add_argument("--no-offsets", dest="offsets", action="store_false",
                   help="store softmax/GELU outputs symmetrically (vta.quant.offsets off), for comparison")
    v = sub.add_parser("vit", help="a vit_b_16-shaped block: MACs on VTA, cosine vs onnxruntime FP32 (fsim)")
    v.add_argument("--opset", type=int, nargs="+", default=[17, 12])
    v.add_argument("--calib", type=int, default=4, help="calibration samples (seeded normal)")
    v.add_argument("--search", action="store_true", help="run the quantization search (default: defaults)")
    for q in (b, v):
        q.add_argument("--report", action="store_true", help="print the per-layer compile report too")
        q.add_argument("--json", help="also write the numbers to this JSON file")
    a = p.parse_args(argv)
    return cmd_block(a) if a.cmd == "block" else cmd_vit(a)


if __name__ == "__main__":
    sys.exit(main())
