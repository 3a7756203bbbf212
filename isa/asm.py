"""A text assembler and disassembler for VTA programs, so programs can be written, read and diffed by people.

Syntax: one instruction per line; ``#`` starts a comment; blank lines are ignored; mnemonics, buffer names, ALU
ops and flags are case-insensitive. Numbers are decimal or ``0x`` hex (``imm`` may be negative). Every line is a
mnemonic followed by bare words and ``key=value`` tokens in any order::

    # memory: load <uop|wgt|inp|acc|out|acc_8bit>, store [out]
    load inp sram=0 dram=64 y=4 x=4 stride=4 pad=1,1,0,0 pop_next push_next
    load wgt sram=0 dram=0x10 y=1 x=4                  # stride defaults to x, pad to 0,0,0,0
    store out sram=0 dram=128 y=4 x=4 stride=4 pop_prev push_prev

    # compute: uop=BEGIN:END (end exclusive), iter=OUTERxINNER, dst/src/wgt=OUTER_FACTOR,INNER_FACTOR
    gemm reset uop=0:1 iter=4x1 dst=1,0
    gemm uop=1:5 iter=2x3 dst=8,1 src=16,2 wgt=0,4 pop_prev push_next
    alu max uop=0:4 iter=1x1 imm=0                     # imm=V: use the immediate (signed 16 bit)
    alu add uop=0:4 dst=1,0 src=1,0                    # no imm: the second operand is acc[src]
    finish pop_next

    # this project's one-pass-epilogue extension (docs/semantics.md): MOV, SETQ and the requant flag
    alu setq shift=8 relu                              # Q = (8, relu); uop defaults to 0:0 (SETQ reads none)
    alu mov uop=0:4 imm=-3                             # acc[dst] = imm (or acc[src] without imm)
    gemm uop=1:5 iter=2x3 dst=8,1 src=16,2 requant     # out = clamp(acc >> Q.shift, 0 or -128, 127)

    # micro-ops: assembled, in order, into a separate uop image (uop SRAM index 0, 1, ...)
    .uop dst=0 src=0 wgt=0
    .uop 1 2 3                                         # positional: dst src wgt (wgt may be omitted)

Details:

- ``pad=Y0,Y1,X0,X1`` is ``y_pad_0, y_pad_1, x_pad_0, x_pad_1``. Defaults: ``stride`` = ``x``, ``pad=0,0,0,0``,
  ``iter=1x1``, every factor ``0,0``, ``wgt=0`` on ``.uop``; ``sram``, ``dram``, ``y``, ``x`` and ``uop`` are required.
- Dependency flags: ``pop_prev``, ``pop_next``, ``push_prev``, ``push_next`` (the ``_dep`` suffix is also accepted).
- ``reset`` sets ``reset_reg`` (GEMM; accepted on ALU too so every decodable word round-trips — the verifier
  rejects it there). ``requant`` sets the ``requant`` bit of a GEMM or ALU word.
- ``alu setq shift=S [relu]`` is ``imm = S | relu·32`` with ``use_imm``; its ``uop`` defaults to ``0:0``. The generic
  ``alu setq imm=V`` form is accepted too (the decoder rejects a SETQ without imm or with imm outside 0..63).
- ``unused_imm=V`` writes the ALU ``imm`` field while leaving ``use_imm`` 0 (the hardware ignores it; it exists
  so that any decodable word disassembles and re-assembles to the same bits).
- Every numeric field can also be given by its full name (``y_pad_0=1``, ``dst_factor_in=2``, ``use_imm=1`` …).
- The assembler does not judge whether a program makes sense (``store inp``, a stray flag): it encodes anything
  the word format can hold. `vta.isa.verify` judges programs.

The disassembler prints the canonical form of this syntax (stride always, zero pads/factors omitted), and
``assemble(disassemble(x))`` reproduces ``x`` bit for bit.
"""

import dataclasses
import re

import numpy as np

from ..errors import ISAError
from .insn import (
    Alu,
    Finish,
    Gemm,
    Insn,
    Load,
    Store,
    Uop,
    decode_program,
    decode_uops,
    encode,
    encode_program,
    encode_uop,
    encode_uops,
)
from .layouts import DEP_FLAGS
from .opcodes import AluOp, MemId
from .requant import setq_fields, setq_imm, setq_problem

__all__ = ["AsmError", "Program", "assemble", "disassemble", "format_insn", "format_uop"]

FLAGS = DEP_FLAGS
_FLAG_WORDS = {**{f[:-4]: f for f in FLAGS}, **{f: f for f in FLAGS}}
_MEM_NAMES = {m.name.lower(): m for m in MemId}
_ALU_NAMES = {op.name.lower(): op for op in AluOp}
_NUMBER = re.compile(r"-?(0[xX][0-9a-fA-F]+|[0-9]+)\Z")


class AsmError(ISAError):
    """A syntax or range error in assembly text; ``line`` is the 1-based line number."""

    def __init__(self, line, message):
        super().__init__(f"line {line}: {message}")
        self.line = line


@dataclasses.dataclass
class Program:
    """An assembled program: the instruction list, the micro-op table and the source line of each instruction."""
    cfg: object
    insns: list
    uops: list
    lines: list = dataclasses.field(default_factory=list)

    def insn_image(self):
        """The instructions as the little-endian ``np.uint8`` image the hardware fetches (16 bytes each)."""
        return encode_program(self.cfg, self.insns)

    def uop_image(self):
        """The micro-ops as a little-endian ``np.uint8`` image (4 bytes each)."""
        return encode_uops(self.cfg, self.uops)


# -- assembler ---------------------------------------------------------------------------------------------------

class _Line:
    """The tokens of one source line: bare words and key=value pairs, each consumed by the parser once."""

    def __init__(self, number, tokens):
        self.number = number
        self.words = []
        self.keys = {}
        for tok in tokens:
            if "=" in tok:
                key, _, value = tok.partition("=")
                key = key.lower()
                if not key or not value:
                    self.fail(f"malformed token {tok!r} (expected key=value)")
                if key in self.keys:
                    self.fail(f"{key!r} given twice")
                self.keys[key] = value
            else:
                self.words.append(tok.lower())

    def fail(self, message):
        raise AsmError(self.number, message)

    def number_of(self, key, text):
        if not _NUMBER.match(text):
            self.fail(f"{key}={text!r} is not a number (expected decimal or 0x hex)")
        neg = text.startswith("-")
        digits = text[1:] if neg else text
        value = int(digits, 16) if digits[:2].lower() == "0x" else int(digits, 10)
        return -value if neg else value

    def numbers_of(self, key, text, sep, count, what):
        parts = text.split(sep)
        if len(parts) != count:
            self.fail(f"{key}={text!r} must be {what}")
        return [self.number_of(key, p) for p in parts]

    def pop(self, key):
        return self.keys.pop(key, None)

    def take_flags(self, values, extra=()):
        rest = []
        for w in self.words:
            if w in _FLAG_WORDS:
                if values.get(_FLAG_WORDS[w]):
                    self.fail(f"flag {w!r} given twice")
                values[_FLAG_WORDS[w]] = True
            elif w in extra:
                if values.get(extra[w]):
                    self.fail(f"flag {w!r} given twice")
                values[extra[w]] = True
            else:
                rest.append(w)
        self.words = rest

    def take_fields(self, values, names):
        """Full field names given as key=value (``y_pad_0=1``)."""
        for name in names:
            text = self.pop(name)
            if text is None:
                continue
            if name in values:
                self.fail(f"{name!r} given twice (also by a short key)")
            values[name] = self.number_of(name, text)

    def finish(self, mnemonic, known):
        if self.words:
            self.fail(f"unexpected word {self.words[0]!r} in {mnemonic} (expected key=value or one of "
                      f"{', '.join(known)})")
        if self.keys:
            key = next(iter(self.keys))
            self.fail(f"unknown key {key!r} for {mnemonic}")


def _required(line, values, name, key):
    if name not in values:
        line.fail(f"missing {key}=")


def _parse_mem(line, mnemonic):
    values = {}
    line.take_flags(values)
    if line.words and line.words[0] in _MEM_NAMES:
        values["memory_type"] = _MEM_NAMES[line.words.pop(0)]
    elif mnemonic == "load":
        got = f"'{line.words[0]}'" if line.words else "nothing"
        line.fail(f"expected a buffer after load, got {got} (expected one of {', '.join(_MEM_NAMES)})")
    else:
        values["memory_type"] = MemId.OUT
    for key, name in (("sram", "sram_base"), ("dram", "dram_base"), ("y", "y_size"), ("x", "x_size"),
                      ("stride", "x_stride")):
        text = line.pop(key)
        if text is not None:
            values[name] = line.number_of(key, text)
    pad = line.pop("pad")
    if pad is not None:
        values.update(zip(("y_pad_0", "y_pad_1", "x_pad_0", "x_pad_1"),
                          line.numbers_of("pad", pad, ",", 4, "four numbers Y0,Y1,X0,X1")))
    line.take_fields(values, ("sram_base", "dram_base", "y_size", "x_size", "x_stride",
                              "y_pad_0", "y_pad_1", "x_pad_0", "x_pad_1"))
    line.finish(mnemonic, list(_FLAG_WORDS)[:4])
    for key, name in (("sram", "sram_base"), ("dram", "dram_base"), ("y", "y_size"), ("x", "x_size")):
        _required(line, values, name, key)
    values.setdefault("x_stride", values["x_size"])
    return (Load if mnemonic == "load" else Store)(**values)


def _parse_compute(line, mnemonic, cls, factor_keys):
    values = {}
    line.take_flags(values, {"reset": "reset_reg", "requant": "requant"})
    setq = False
    if cls is Alu:
        if not line.words:
            line.fail(f"missing ALU op (expected one of {', '.join(_ALU_NAMES)})")
        op = line.words.pop(0)
        if op not in _ALU_NAMES:
            line.fail(f"unknown ALU op {op!r} (expected one of {', '.join(_ALU_NAMES)})")
        values["alu_opcode"] = _ALU_NAMES[op]
        imm, unused = line.pop("imm"), line.pop("unused_imm")
        if imm is not None and unused is not None:
            line.fail("give either imm= or unused_imm=, not both")
        if imm is not None:
            values["use_imm"], values["imm"] = True, line.number_of("imm", imm)
        if unused is not None:
            values["imm"] = line.number_of("unused_imm", unused)
        setq = values["alu_opcode"] is AluOp.SETQ
        shift = line.pop("shift")
        relu = "relu" in line.words
        if (shift is not None or relu) and not setq:
            line.fail(f"shift= and relu belong to alu setq, not alu {op}")
        if shift is not None or relu:
            if "imm" in values:
                line.fail("give either shift=/relu or imm= on alu setq, not both")
            if relu:
                line.words.remove("relu")
            try:
                values["imm"] = setq_imm(0 if shift is None else line.number_of("shift", shift), relu)
            except ISAError as e:
                line.fail(str(e))
            values["use_imm"] = True
    uop = line.pop("uop")
    if uop is not None:
        values["uop_bgn"], values["uop_end"] = line.numbers_of("uop", uop, ":", 2, "BEGIN:END")
    iters = line.pop("iter")
    if iters is not None:
        values["iter_out"], values["iter_in"] = line.numbers_of("iter", iters.lower(), "x", 2, "OUTERxINNER")
    for key in factor_keys:
        text = line.pop(key)
        if text is not None:
            values[f"{key}_factor_out"], values[f"{key}_factor_in"] = \
                line.numbers_of(key, text, ",", 2, "two factors OUTER,INNER")
    names = ["reset_reg", "requant", "uop_bgn", "uop_end", "iter_out", "iter_in"]
    names += [f"{k}_factor_{w}" for k in factor_keys for w in ("out", "in")]
    if cls is Alu:
        names.append("use_imm")
    line.take_fields(values, names)
    line.finish(mnemonic, list(_FLAG_WORDS)[:4] + ["reset", "requant"] + (["relu"] if setq else []))
    if setq:
        values.setdefault("uop_bgn", 0)
        values.setdefault("uop_end", 0)
    if "uop_bgn" not in values or "uop_end" not in values:
        line.fail("missing uop=BEGIN:END")
    for flag in ("reset_reg", "use_imm", "requant"):
        if flag in values and not isinstance(values[flag], bool):
            if values[flag] not in (0, 1):
                line.fail(f"{flag}={values[flag]} must be 0 or 1")
            values[flag] = bool(values[flag])
    return cls(**values)


def _parse_finish(line, mnemonic):
    values = {}
    line.take_flags(values)
    line.finish(mnemonic, list(_FLAG_WORDS)[:4])
    return Finish(**values)


def _parse_uop(line, mnemonic):
    values = {}
    for name in ("dst", "src", "wgt"):
        text = line.pop(name)
        if text is None:
            text = line.pop(f"{name}_idx")
        if text is not None:
            values[f"{name}_idx"] = line.number_of(name, text)
    if line.words:
        if values:
            line.fail(".uop takes either positional 'DST SRC [WGT]' or dst=/src=/wgt=, not both")
        if not 2 <= len(line.words) <= 3:
            line.fail(f".uop takes 2 or 3 numbers (dst src [wgt]), got {len(line.words)}")
        for name, text in zip(("dst", "src", "wgt"), line.words):
            values[f"{name}_idx"] = line.number_of(name, text)
        line.words = []
    line.finish(mnemonic, [])
    for name in ("dst", "src"):
        if f"{name}_idx" not in values:
            line.fail(f"missing {name}=")
    return Uop(**values)


_PARSERS = {
    "load": _parse_mem,
    "store": _parse_mem,
    "gemm": lambda line, m: _parse_compute(line, m, Gemm, ("dst", "src", "wgt")),
    "alu": lambda line, m: _parse_compute(line, m, Alu, ("dst", "src")),
    "finish": _parse_finish,
    ".uop": _parse_uop,
}


def assemble(cfg, text):
    """Assemble ``text`` under ``cfg`` into a `Program`; `AsmError` (an `ISAError`) names the line on any error."""
    if not isinstance(text, str):
        raise ISAError(f"text must be assembly source (a str), not {type(text).__name__}")
    insns, uops, lines = [], [], []
    for number, raw in enumerate(text.splitlines(), start=1):
        tokens = raw.split("#", 1)[0].split()
        if not tokens:
            continue
        mnemonic = tokens[0].lower()
        if mnemonic not in _PARSERS:
            raise AsmError(number, f"unknown mnemonic {tokens[0]!r} (expected one of {', '.join(_PARSERS)})")
        line = _Line(number, tokens[1:])
        item = _PARSERS[mnemonic](line, mnemonic)
        try:  # range check now, so the error names the line
            encode_uop(cfg, item) if isinstance(item, Uop) else encode(cfg, item)
        except ISAError as e:
            raise AsmError(number, str(e)) from None
        if isinstance(item, Uop):
            uops.append(item)
        else:
            insns.append(item)
            lines.append(number)
    return Program(cfg, insns, uops, lines)


# -- disassembler ------------------------------------------------------------------------------------------------

def _flags(insn):
    return [f[:-4] for f in FLAGS if getattr(insn, f)]


def format_insn(insn):
    """One instruction in the canonical assembly syntax."""
    if isinstance(insn, (Load, Store)):
        parts = [type(insn).__name__.lower(), insn.memory_type.name.lower(), f"sram={insn.sram_base}",
                 f"dram={insn.dram_base}", f"y={insn.y_size}", f"x={insn.x_size}", f"stride={insn.x_stride}"]
        pads = (insn.y_pad_0, insn.y_pad_1, insn.x_pad_0, insn.x_pad_1)
        if any(pads):
            parts.append("pad=" + ",".join(map(str, pads)))
    elif isinstance(insn, Alu) and _short_setq(insn):
        shift, relu = setq_fields(insn.imm)
        parts = ["alu", "setq", f"shift={shift}"] + (["relu"] if relu else [])
        if insn.reset_reg:
            parts.append("reset")
        if (insn.uop_bgn, insn.uop_end) != (0, 0):
            parts.append(f"uop={insn.uop_bgn}:{insn.uop_end}")
        if (insn.iter_out, insn.iter_in) != (1, 1):
            parts.append(f"iter={insn.iter_out}x{insn.iter_in}")
        for key in ("dst", "src"):
            out, inner = getattr(insn, f"{key}_factor_out"), getattr(insn, f"{key}_factor_in")
            if out or inner:
                parts.append(f"{key}={out},{inner}")
    elif isinstance(insn, (Gemm, Alu)):
        parts = [type(insn).__name__.lower()]
        if isinstance(insn, Alu):
            parts.append(insn.alu_opcode.name.lower())
        if insn.reset_reg:
            parts.append("reset")
        if insn.requant:
            parts.append("requant")
        parts += [f"uop={insn.uop_bgn}:{insn.uop_end}", f"iter={insn.iter_out}x{insn.iter_in}"]
        for key in ("dst", "src") + (("wgt",) if isinstance(insn, Gemm) else ()):
            out, inner = getattr(insn, f"{key}_factor_out"), getattr(insn, f"{key}_factor_in")
            if out or inner:
                parts.append(f"{key}={out},{inner}")
        if isinstance(insn, Alu):
            if insn.use_imm:
                parts.append(f"imm={insn.imm}")
            elif insn.imm:
                parts.append(f"unused_imm={insn.imm}")
    elif isinstance(insn, Finish):
        parts = ["finish"]
    else:
        raise ISAError(f"expected an instruction (Load, Store, Gemm, Alu, Finish), not {insn!r}")
    return " ".join(parts + _flags(insn))


def _short_setq(insn):
    """A SETQ the ``shift=/relu`` form states exactly (a well-formed one); any other prints as ``imm=``."""
    return (insn.alu_opcode is AluOp.SETQ and insn.use_imm is True and isinstance(insn.imm, int)
            and setq_problem(insn.alu_opcode, insn.use_imm, insn.imm, insn.requant) is None)


def format_uop(uop):
    return f".uop dst={uop.dst_idx} src={uop.src_idx} wgt={uop.wgt_idx}"


def _as_list(items, decoder, cfg):
    if items is None:
        return []
    if isinstance(items, (Insn, Uop)) or not hasattr(items, "__iter__"):
        raise ISAError(f"expected a list or a byte image, not {type(items).__name__}")
    if isinstance(items, (bytes, bytearray, memoryview, np.ndarray)):
        return decoder(cfg, np.frombuffer(bytes(items), dtype=np.uint8))
    return list(items)


def disassemble(cfg, insns, uops=None, *, numbers=False):
    """Assembly text for instructions (objects, or a byte image) and optional micro-ops (objects or bytes).

    Every instruction and micro-op is checked against ``cfg`` (`ISAError` if a field does not fit), so the text
    always re-assembles. ``numbers`` appends each instruction's index as a comment.
    """
    insns = _as_list(insns, decode_program, cfg)
    uops = _as_list(uops, decode_uops, cfg)
    out = _lines(cfg, insns, encode, format_insn, "instruction", "", numbers)
    out += _lines(cfg, uops, encode_uop, format_uop, "uop", "uop ", numbers)
    return "\n".join(out) + ("\n" if out else "")


def _lines(cfg, items, check, fmt, what, tag, numbers):
    """The text line of each item, after ``check`` (its encoder) confirms it fits ``cfg``."""
    out = []
    for k, item in enumerate(items):
        try:
            check(cfg, item)
        except ISAError as e:
            raise ISAError(f"{what} {k}: {e}") from None
        text = fmt(item)
        out.append(f"{text:<60} # {tag}{k}" if numbers else text)
    return out
