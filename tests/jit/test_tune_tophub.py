"""vta.jit.tune.tophub: a cost model trained on a (synthetic) tuning log, saved, loaded and asked for schedules the
way the runtime asks — on shapes it was trained on and on a shape it never saw — and the model that ships for the
default config, as `vta.compile` without a log uses it."""

import numpy as np
import pytest
from jit_reference import conv2d as ref_conv2d

pytest.importorskip("xgboost", reason="the cost model is an XGBoost ranker (pip install xgboost-cpu)")

from vta import load_config
from vta.errors import VTAError
from vta.jit import Runtime, default_conv2d_schedule
from vta.jit.tune import Space, Task, make_record
from vta.jit.tune.log import load_records
from vta.jit.tune.tophub import ModelSchedules, default_schedules, shipped_model_path, train_shipped_model


@pytest.fixture(scope="module")
def small():
    return load_config("small")


def planted_cycles(p):
    """Fast with tall, wide tiles and two virtual threads; the stem folded is fastest of all."""
    s = p.schedule
    c = 10000 / (s.tile_h * s.tile_w) ** 0.5 + 3000 * (s.n_vthreads == 1) + 100 * s.tile_ci
    return int(c / (3 if p.layout == "im2col" else 1))


TASKS = [Task.conv2d(1, 16, 12, 12, 16, 3, 3, 1, 1), Task.conv2d(1, 3, 20, 20, 8, 5, 5, 2, 2),
         Task.conv2d(1, 16, 12, 12, 32, 1, 1, 2, 0)]


@pytest.fixture(scope="module")
def trained(small, tmp_path_factory):
    recs = []
    rng = np.random.default_rng(0)
    for t in TASKS:
        space = Space(small, t)
        for i in rng.permutation(len(space))[:60]:
            p = space.points[i]
            recs.append(make_record(small, t, p, {"cycles": planted_cycles(p)}))
    path = str(tmp_path_factory.mktemp("model") / "m.json")
    log = path + ".jsonl"
    from vta.jit.tune import append_records
    append_records(log, recs)
    train_shipped_model(small, load_records(log, small), path=path)
    return ModelSchedules.load(small, path)


def test_the_model_picks_fast_points_on_trained_and_unseen_shapes(small, trained):
    unseen = Task.conv2d(1, 16, 10, 14, 16, 3, 3, 1, 1)
    for t in TASKS + [unseen]:
        space = Space(small, t)
        pick = trained.choose(t)
        cycles = sorted(planted_cycles(p) for p in space.points)
        rank = cycles.index(planted_cycles(pick))
        assert rank <= len(cycles) // 10, (t, pick, rank, len(cycles))   # in the fastest tenth of the space
    assert trained.choose(TASKS[1]).layout == "im2col"


def test_the_models_choice_runs_exact_through_the_runtime(small, trained):
    """The runtime asks ``conv2d_choice`` (the layout applied to the operands) and ``dense_choice``."""
    rng = np.random.default_rng(1)
    x = rng.integers(-128, 128, (1, 3, 20, 20), dtype=np.int8)
    w = rng.integers(-128, 128, (8, 3, 5, 5), dtype=np.int8)
    bias = rng.integers(-999, 999, 8, dtype=np.int32)
    with Runtime(small, "fsim", schedules=trained) as rt:
        y, st = rt.conv2d(x, w, bias, stride=2, padding=2, shift=9)
        np.testing.assert_array_equal(y, ref_conv2d(x, w, bias, 2, 2, 9, False))
        assert st.schedule == trained.choose(TASKS[1]).schedule
        xd, wd = rng.integers(-128, 128, (3, 40), dtype=np.int8), rng.integers(-128, 128, (24, 40), dtype=np.int8)
        yd, _ = rt.dense(xd, wd, None, shift=7)
    np.testing.assert_array_equal(yd, ref_conv2d(xd[:, :, None, None], wd[:, :, None, None], None, 1, 0, 7,
                                                 False)[:, :, 0, 0])


def test_wrong_config_and_untrained_model_are_refused(small, trained):
    with pytest.raises(VTAError, match="is for config small"):
        trained.conv2d_choice(load_config("default"), np.zeros((1, 3, 8, 8), np.int8),
                              np.zeros((4, 3, 3, 3), np.int8), 1, 1)
    from vta.jit.tune import CostModel
    with pytest.raises(VTAError, match="trained CostModel"):
        ModelSchedules(small, CostModel())


def test_default_config_ships_a_model_and_small_does_not(small):
    assert shipped_model_path(small) is None and default_schedules(small) is None
    cfg = load_config("default")
    assert shipped_model_path(cfg) is not None, "no cost model ships for the default config"
    ms = default_schedules(cfg)
    # on the ResNet-18 stem it folds the kernel window (the heuristic cannot): 10 GEMM steps per pixel, not 49
    stem = Task.conv2d(1, 3, 224, 224, 64, 7, 7, 2, 3)
    assert ms.choose(stem).layout == "im2col"
    c2 = Task.conv2d(1, 64, 56, 56, 64, 3, 3, 1, 1)
    assert ms.choose(c2) in Space(cfg, c2).index and default_conv2d_schedule(cfg, c2.geometry(cfg)) is not None


def test_compile_without_a_log_asks_the_shipped_model():
    """`vta.compile` on the default config: no log → the shipped model's schedules (the stem folded by im2col),
    ``tuning_log=False`` → the heuristic; both run bit-exact against the program's numpy semantics."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    import vta
    rng = np.random.default_rng(2)
    w = (rng.standard_normal((16, 3, 7, 7)) * 0.1).astype(np.float32)
    b = (rng.standard_normal(16) * 0.1).astype(np.float32)
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], kernel_shape=[7, 7], strides=[2, 2], pads=[3] * 4)
    graph = helper.make_graph([node], "stem", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 32, 32])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16, 16, 16])],
                              [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    x = rng.uniform(-1, 1, (4, 3, 32, 32)).astype(np.float32)
    outs = {}
    for log in (None, False):
        with vta.compile(model, calibration=x, search=False, tuning_log=log) as cm:
            outs[log] = cm.run(x[:1])[0]
            if log is None:
                assert isinstance(cm.schedules, ModelSchedules) and cm.schedules.hits >= 1
                assert cm.schedules.choose(Task.conv2d(1, 3, 32, 32, 16, 7, 7, 2, 3)).layout == "im2col"
            else:
                assert cm.schedules is None
    np.testing.assert_array_equal(outs[None], outs[False])
