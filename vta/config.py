"""The VTA configuration: one frozen, validated dataclass passed explicitly everywhere.

The keys follow upstream's ``vta_config.json`` (``LOG_INP_WIDTH``, ``LOG_BLOCK``, ``LOG_ACC_BUFF_SIZE``, …) so an
existing config file loads unchanged. Every derived quantity — tile shapes, element sizes, buffer depths, ISA field
widths — is a property computed from these, never stored twice.
"""

import dataclasses
import json
import os
from functools import cached_property

from .errors import ConfigError
from .isa.layouts import SRAM_BASE_BITS, UOP_BITS, ISALayouts
from .isa.stages import QUEUE_DEPTH, UOP_BYTES

__all__ = ["VTAConfig", "PRESETS", "load_config"]


def _pow2(log_name):
    """A read-only property: 2 to the power of the attribute ``log_name``."""
    return property(lambda self: 1 << getattr(self, log_name))


def _bytes(bits_name):
    """A read-only property: the attribute ``bits_name`` (a whole number of bits) in bytes."""
    return property(lambda self: getattr(self, bits_name) // 8)


@dataclasses.dataclass(frozen=True)
class VTAConfig:
    """A VTA hardware configuration (all sizes are log2).

    ``log_*_buff_size`` are buffer sizes in *bytes*; ``log_bus_width`` is the AXI data width in bits (not an
    upstream key: upstream fixed it per board, 64 bit on Pynq).
    """

    log_inp_width: int = 3
    log_wgt_width: int = 3
    log_acc_width: int = 5
    log_batch: int = 0
    log_block_in: int = 4
    log_block_out: int = 4
    log_uop_buff_size: int = 15
    log_inp_buff_size: int = 15
    log_wgt_buff_size: int = 18
    log_acc_buff_size: int = 17
    log_bus_width: int = 6
    name: str = dataclasses.field(default="custom", compare=False)

    # Supported ranges per key: (min, max, why). Checked in __post_init__, before anything is derived.
    _LIMITS = {
        "log_inp_width": (3, 3, "inputs are int8 (this implementation supports only 8-bit inputs)"),
        "log_wgt_width": (3, 3, "weights are int8 (this implementation supports only 8-bit weights)"),
        "log_acc_width": (5, 5, "accumulators are int32 (this implementation supports only 32-bit accumulators)"),
        "log_batch": (0, 4, "BATCH is 1 to 16 rows per tile"),
        "log_block_in": (1, 6, "BLOCK_IN is 2 to 64 channels per tile"),
        "log_block_out": (1, 6, "BLOCK_OUT is 2 to 64 channels per tile"),
        "log_uop_buff_size": (5, 15, "uop depth is limited by the 64-bit GEMM word (2·log depth + 37 ≤ 64)"),
        "log_inp_buff_size": (4, 24, f"sram_base is a {SRAM_BASE_BITS}-bit field"),
        "log_wgt_buff_size": (4, 24, f"sram_base is a {SRAM_BASE_BITS}-bit field"),
        "log_acc_buff_size": (4, 24, f"sram_base is a {SRAM_BASE_BITS}-bit field"),
        "log_bus_width": (5, 9, "the AXI data bus is 32 to 512 bits wide"),
    }

    def __post_init__(self):
        for key, (lo, hi, why) in self._LIMITS.items():
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"{key.upper()} must be an integer, not {value!r}")
            if not lo <= value <= hi:
                raise ConfigError(f"{key.upper()} must be between {lo} and {hi} ({why}), not {value}")
        for buf in ("inp", "wgt", "acc", "uop"):
            depth = getattr(self, f"log_{buf}_depth")
            if depth < 0:
                raise ConfigError(
                    f"LOG_{buf.upper()}_BUFF_SIZE must hold at least one {buf} element "
                    f"({getattr(self, f'{buf}_elem_bytes')} bytes, so ≥ "
                    f"{getattr(self, f'log_{buf}_buff_size') - depth}), not {getattr(self, f'log_{buf}_buff_size')}")
            if depth > SRAM_BASE_BITS:
                log_size = getattr(self, f"log_{buf}_buff_size")
                raise ConfigError(
                    f"LOG_{buf.upper()}_BUFF_SIZE gives a {buf} buffer of 2^{depth} elements; sram_base is "
                    f"{SRAM_BASE_BITS} bits, so it must be ≤ {log_size - depth + SRAM_BASE_BITS}, not {log_size}")
        if self.inp_elem_bits % 8 or self.out_elem_bits % 8:
            raise ConfigError("BATCH·BLOCK_IN·INP_WIDTH must be a whole number of bytes")
        # The ISA layouts check that every field fits its 64-bit half and name the key that overflows it.
        self.__dict__["isa"] = ISALayouts(self)  # raises ConfigError naming the key whose field overflows

    # -- construction -------------------------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data, *, name="custom"):
        """Build from upstream-style keys (``LOG_BLOCK`` or ``LOG_BLOCK_IN``/``LOG_BLOCK_OUT``)."""
        if not isinstance(data, dict):
            raise ConfigError(f"a VTA config must be a JSON object, not {type(data).__name__}")
        data = dict(data)
        known = {k.upper() for k in cls._LIMITS} | {"LOG_BLOCK", "TARGET", "HW_VER", "NAME"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown config key {unknown[0]!r}; known keys are {', '.join(sorted(known))}")
        if "LOG_BLOCK" in data:
            for key in ("LOG_BLOCK_IN", "LOG_BLOCK_OUT"):
                if key in data and data[key] != data["LOG_BLOCK"]:
                    raise ConfigError(f"{key} ({data[key]}) contradicts LOG_BLOCK ({data['LOG_BLOCK']})")
                data[key] = data["LOG_BLOCK"]
        name = data.pop("NAME", name)
        for key in ("LOG_BLOCK", "TARGET", "HW_VER"):
            data.pop(key, None)
        return cls(**{k.lower(): v for k, v in data.items()}, name=name)

    def to_dict(self):
        """Upstream-style keys; ``LOG_BLOCK`` when the block is square."""
        out = {k.upper(): getattr(self, k) for k in self._LIMITS}
        if self.log_block_in == self.log_block_out:
            out = {("LOG_BLOCK" if k == "LOG_BLOCK_IN" else k): v for k, v in out.items() if k != "LOG_BLOCK_OUT"}
        return out

    # -- tile shapes ----------------------------------------------------------------------------------------------

    inp_width = _pow2("log_inp_width")
    wgt_width = _pow2("log_wgt_width")
    acc_width = _pow2("log_acc_width")
    log_out_width = property(lambda self: self.log_inp_width)
    out_width = _pow2("log_out_width")
    batch = _pow2("log_batch")
    block_in = _pow2("log_block_in")
    block_out = _pow2("log_block_out")
    bus_width = _pow2("log_bus_width")
    bus_bytes = _bytes("bus_width")
    # Dependency-token queues are counters in hardware; at most this many tokens may be outstanding per queue.
    dep_queue_depth = property(lambda self: QUEUE_DEPTH)
    macs_per_cycle = property(lambda self: self.batch * self.block_in * self.block_out)
    log_out_buff_size = property(lambda self: self.log_acc_buff_size + self.log_out_width - self.log_acc_width)

    # Element ("tile") sizes in bits and bytes; a uop is one ISA micro-op word.
    inp_elem_bits = property(lambda self: self.inp_width * self.batch * self.block_in)
    wgt_elem_bits = property(lambda self: self.wgt_width * self.block_out * self.block_in)
    acc_elem_bits = property(lambda self: self.acc_width * self.batch * self.block_out)
    out_elem_bits = property(lambda self: self.out_width * self.batch * self.block_out)
    uop_elem_bits = property(lambda self: UOP_BITS)

    @property
    def elem_bytes(self):
        """Bytes per element of each buffer, keyed by buffer name."""
        return {b: getattr(self, f"{b}_elem_bytes") for b in ("uop", "inp", "wgt", "acc", "out")}

    inp_elem_bytes = _bytes("inp_elem_bits")
    wgt_elem_bytes = _bytes("wgt_elem_bits")
    acc_elem_bytes = _bytes("acc_elem_bits")
    out_elem_bytes = _bytes("out_elem_bits")
    uop_elem_bytes = property(lambda self: UOP_BYTES)

    # Shapes of one element as numpy arrays: inp (BATCH, BLOCK_IN), wgt (BLOCK_OUT, BLOCK_IN),
    # acc/out (BATCH, BLOCK_OUT).
    inp_shape = property(lambda self: (self.batch, self.block_in))
    wgt_shape = property(lambda self: (self.block_out, self.block_in))
    acc_shape = property(lambda self: (self.batch, self.block_out))
    out_shape = property(lambda self: (self.batch, self.block_out))

    # -- buffer depths in elements (log2) -------------------------------------------------------------------------

    log_uop_depth = property(lambda self: self.log_uop_buff_size - (UOP_BYTES.bit_length() - 1))
    log_inp_depth = property(lambda self: self.log_inp_buff_size - self.log_batch - self.log_block_in
                             - self.log_inp_width + 3)
    log_wgt_depth = property(lambda self: self.log_wgt_buff_size - self.log_block_out - self.log_block_in
                             - self.log_wgt_width + 3)
    log_acc_depth = property(lambda self: self.log_acc_buff_size - self.log_batch - self.log_block_out
                             - self.log_acc_width + 3)
    log_out_depth = property(lambda self: self.log_acc_depth)

    uop_depth = _pow2("log_uop_depth")
    inp_depth = _pow2("log_inp_depth")
    wgt_depth = _pow2("log_wgt_depth")
    acc_depth = _pow2("log_acc_depth")
    out_depth = _pow2("log_out_depth")

    @property
    def depths(self):
        """Depth in elements of each buffer, keyed by buffer name."""
        return {b: getattr(self, f"{b}_depth") for b in ("uop", "inp", "wgt", "acc", "out")}

    @cached_property
    def isa(self):
        """The instruction-set layouts for this config (see `vta.isa.layouts.ISALayouts`)."""
        return ISALayouts(self)

    def __str__(self):
        return (f"VTAConfig {self.name}: {self.batch}×{self.block_in}×{self.block_out} int8 GEMM "
                f"({self.macs_per_cycle} MACs/cycle), buffers uop {self.uop_depth}, inp {self.inp_depth}, "
                f"wgt {self.wgt_depth}, acc {self.acc_depth} elements, {self.bus_width}-bit bus")


PRESETS = {
    # Upstream's vta_config.json defaults (Pynq-Z1 build): a 1×16×16 GEMM core.
    "default": dict(name="default"),
    # An 8×8 core with small buffers: fast simulation and tests, and fits small FPGAs.
    "small": dict(name="small", log_block_in=3, log_block_out=3, log_uop_buff_size=12, log_inp_buff_size=12,
                  log_wgt_buff_size=14, log_acc_buff_size=14),
}


def load_config(spec):
    """A `VTAConfig` from a preset name, a JSON file path, a dict of upstream keys, or a `VTAConfig`."""
    if isinstance(spec, VTAConfig):
        return spec
    if isinstance(spec, dict):
        return VTAConfig.from_dict(spec)
    if not isinstance(spec, (str, os.PathLike)):
        raise ConfigError(f"config must be a preset name, a JSON path or a VTAConfig, not {type(spec).__name__}")
    if str(spec) in PRESETS:
        return VTAConfig(**PRESETS[str(spec)])
    if not os.path.exists(spec):
        raise ConfigError(f"config {str(spec)!r} is neither a preset ({', '.join(PRESETS)}) nor an existing JSON file")
    try:
        with open(spec, encoding="utf-8-sig") as f:
            data = json.load(f)
    except UnicodeDecodeError as e:
        raise ConfigError(f"config file {str(spec)!r} must be UTF-8 text, not bytes like {e.object[e.start:e.end]!r} "
                          f"at byte {e.start}") from None
    except json.JSONDecodeError as e:
        raise ConfigError(f"config file {str(spec)!r} is not valid JSON: {e}") from None
    return VTAConfig.from_dict(_require_keys(data, spec), name=os.path.splitext(os.path.basename(str(spec)))[0])


# Every key of upstream's vta_config.json (LOG_BLOCK may be given as LOG_BLOCK_IN and LOG_BLOCK_OUT).
REQUIRED_KEYS = ("LOG_INP_WIDTH", "LOG_WGT_WIDTH", "LOG_ACC_WIDTH", "LOG_BATCH", "LOG_BLOCK", "LOG_UOP_BUFF_SIZE",
                 "LOG_INP_BUFF_SIZE", "LOG_WGT_BUFF_SIZE", "LOG_ACC_BUFF_SIZE")


def _require_keys(data, spec):
    """``data`` without its ``"defaults"`` flag; `ConfigError` naming a missing key unless ``"defaults": true``.

    A config file that silently took a default for a key it forgot would build different hardware than its
    author meant, so a file must give every upstream key or say ``"defaults": true`` to fill the rest.
    """
    if not isinstance(data, dict):
        return data  # from_dict names the type
    data = dict(data)
    defaults = data.pop("defaults", False)
    if not isinstance(defaults, bool):
        raise ConfigError(f"config file {str(spec)!r}: \"defaults\" must be true or false, not {defaults!r}")
    given = set(data) | ({"LOG_BLOCK"} if {"LOG_BLOCK_IN", "LOG_BLOCK_OUT"} <= set(data) else set())
    known = {k.upper() for k in VTAConfig._LIMITS} | {"LOG_BLOCK", "TARGET", "HW_VER", "NAME"}
    missing = [k for k in REQUIRED_KEYS if k not in given]
    if missing and not defaults and set(data) <= known:  # an unknown key (a typo) is reported by from_dict
        raise ConfigError(f"config file {str(spec)!r} is missing {', '.join(missing)}; a config file must give "
                          f"every key ({', '.join(REQUIRED_KEYS)}) or say \"defaults\": true to take the "
                          f"default config's value for the missing ones")
    return data
