"""vta.jit.tune: AutoTVM-style schedule tuning — a search space per operator shape, measurements on the
cycle-accurate RTL (a local process pool or a Ray cluster), an XGBoost ranking cost model with simulated
annealing proposals and transfer between configs, and JSON-lines tuning logs the runtime and `vta.compile` read;
`tophub`: the cost model shipped for the default config, which `vta.compile` asks when it has no log.

    from vta.jit.tune import Task, Tuner, make_measurer
    m = make_measurer()                                     # or make_measurer(ray_address="auto")
    res = Tuner(cfg, Task.conv2d(1, 64, 56, 56, 64, 3, 3, 1, 1), m).tune(64)
"""

from .cost_model import AnalyticModel, CostModel
from .layout import LAYOUTS, apply_layout, fold_kw, fold_pays, folded_task, im2col, layout_pays, layout_task
from .log import BestSchedules, append_records, config_digest, default_log_path, load_records, make_record
from .measure import InlineMeasurer, LocalMeasurer, RayMeasurer, TuneError, make_measurer, measure_point
from .space import Point, Space
from .task import Task
from .tuner import Tuner, TuneResult, anneal, random_search

__all__ = ["Task", "Space", "Point", "CostModel", "AnalyticModel", "Tuner", "TuneResult", "anneal",
           "random_search", "measure_point", "make_measurer", "InlineMeasurer", "LocalMeasurer", "RayMeasurer",
           "TuneError", "BestSchedules", "load_records", "append_records", "make_record", "config_digest",
           "default_log_path", "LAYOUTS", "fold_kw", "fold_pays", "folded_task", "im2col", "layout_pays", "layout_task",
           "apply_layout"]
