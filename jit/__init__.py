"""vta.jit: the runtime JIT — command streams with dependency tokens, cached micro-op kernels, a DRAM allocator
and the operator library (conv2d, dense, add, relu, requantize, max_pool2d) on any `vta.device.Device`.

    rt = vta.jit.Runtime("default", device="fsim")
    y, stats = rt.conv2d(x, w, bias, stride=1, padding=1, shift=8, relu=True)
    stats.macs, stats.insns, stats.kernel_builds, stats.cycles   # cycles on Verilator; None on fsim
"""

from .alloc import DramAllocator, DramBuffer, OutOfDramError
from .builder import CommandStream, Stage
from .kernels import KernelCache, KernelRecorder, Loop, UopKernel
from .ops.dense import DenseSchedule
from .results import OpResult, OpStats
from .runtime import Runtime
from .schedule import (
                       Conv2dSchedule,
                       ConvGeometry,
                       ElementwiseSchedule,
                       PoolGeometry,
                       PoolSchedule,
                       ScheduleError,
                       check_conv2d,
                       check_elementwise,
                       check_pool,
                       conv2d_cost,
                       conv2d_needs,
                       default_conv2d_schedule,
)

__all__ = ["Runtime", "OpResult", "OpStats", "Conv2dSchedule", "DenseSchedule", "ElementwiseSchedule", "PoolSchedule",
           "ScheduleError", "ConvGeometry", "PoolGeometry", "check_conv2d", "check_elementwise", "check_pool",
           "conv2d_cost", "conv2d_needs", "default_conv2d_schedule", "CommandStream", "Stage", "KernelCache",
           "KernelRecorder", "Loop", "UopKernel", "DramAllocator", "DramBuffer", "OutOfDramError"]
