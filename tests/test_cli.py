"""The command line (hologram.cli): subcommands, messages and exit codes, mostly in-process."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import hologram as hg
from hologram import cli
from isa_testlib import VECTOR_ADD   # the ISA.md §8.6 kernel


@pytest.fixture
def files(tmp_path, monkeypatch):
    """A working directory with the vector_add kernel and two input arrays."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "va.hasm").write_text(VECTOR_ADD)
    np.save(tmp_path / "a.npy", np.arange(1000, dtype=np.float32))
    np.save(tmp_path / "b.npy", 2 * np.arange(1000, dtype=np.float32))
    return tmp_path


def run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------------------------------------
# asm / disasm / validate

def test_asm_then_disasm_round_trip(files, capsys):
    code, out, err = run(capsys, "asm", "va.hasm", "-o", "va.json")
    assert (code, out, err) == (0, "", "")
    prog = hg.Program.from_json((files / "va.json").read_text())
    assert prog == hg.assemble(VECTOR_ADD)
    code, out, err = run(capsys, "disasm", "va.json")
    assert code == 0 and err == ""
    assert out == hg.assemble(VECTOR_ADD).disassemble()
    assert hg.assemble(out) == prog


def test_asm_to_stdout_with_indent_and_from_stdin(files, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("mov_imm.u32 r1, 7\nexit\n"))
    code, out, _ = run(capsys, "asm", "-", "--indent", "2")
    assert code == 0
    assert json.loads(out)["instructions"][1] == "EXIT"
    assert "\n  " in out


@pytest.mark.parametrize("name", ["va.hasm", "va.json"])
def test_validate_ok(files, capsys, name):
    run(capsys, "asm", "va.hasm", "-o", "va.json")
    code, out, err = run(capsys, "validate", name)
    assert code == 0 and err == ""
    assert out == f"{name}: ok: program 'vector_add', 9 instructions, 1 labels\n"
    assert run(capsys, "validate", "-q", name) == (0, "", "")


def test_validate_reports_line_and_column(files, capsys):
    (files / "bad.hasm").write_text("exit\n   add.f32 r1, r2\n")
    code, out, err = run(capsys, "validate", "bad.hasm")
    assert code == 1 and out == ""
    first = err.splitlines()[0]
    assert first == "hologram validate: AssemblyError: bad.hasm:2:18: expected ',', got end of line"
    assert err.splitlines()[1].strip() == "add.f32 r1, r2"
    assert err.splitlines()[2].endswith("^")


def test_validate_reports_invalid_program_and_json(files, capsys):
    (files / "bad.hasm").write_text("bra @nowhere\n")
    code, _, err = run(capsys, "validate", "bad.hasm")
    assert code == 1 and "bad.hasm:1:1:" in err and "undefined label 'nowhere'" in err
    (files / "bad.json").write_text('{"instructions": [{"ADD": {}}]}')
    code, _, err = run(capsys, "validate", "bad.json")
    assert code == 1 and "ProgramError: bad.json: instruction 0" in err
    (files / "broken.json").write_text("{not json")
    code, _, err = run(capsys, "disasm", "broken.json")
    assert code == 1 and "invalid JSON" in err


def test_format_option_forces_the_parser(files, capsys):
    code, _, err = run(capsys, "validate", "--format", "json", "va.hasm")
    assert code == 1 and "invalid JSON" in err


# ---------------------------------------------------------------------------------------------
# run

RUN_VA = ["run", "va.hasm", "--grid", "4", "--param", "r1=@a.npy", "--param", "r2=@b.npy",
          "--param", "r3=zeros:f32:1000"]


@pytest.mark.parametrize("extra", [[], ["--threads", "1"], ["--threads", "-1"],
                                   ["--engine", "reference"], ["--block", "256,1,1"]])
def test_run_vector_add(files, capsys, extra):
    code, out, err = run(capsys, *RUN_VA, "--param", "r4=u64:1000", "--out", "r3=c.npy", *extra)
    assert code == 0, err
    assert out.startswith("ok: grid (4, 1, 1), block (256, 1, 1), ")
    assert "r3 -> c.npy" in out
    c = np.load(files / "c.npy")
    assert c.dtype == np.float32 and c.tolist() == (3 * np.arange(1000)).tolist()


def test_run_writes_back_an_input_buffer_and_takes_json(files, capsys):
    run(capsys, "asm", "va.hasm", "-o", "va.json")
    np.save(files / "c.npy", np.full(1000, -1, np.float32))
    code, out, err = run(capsys, "run", "va.json", "--grid", "4x1", "--param", "r1=@a.npy",
                         "--param", "r2=@a.npy", "--param", "r3=@c.npy",
                         "--param", "r4=u64:0x10", "--out", "r3=c.npy", "-q")
    assert (code, out, err) == (0, "", "")
    c = np.load(files / "c.npy")
    assert c[:16].tolist() == (2 * np.arange(16)).tolist()
    assert (c[16:] == -1).all()


def test_run_float_scalars_and_resonance(files, capsys):
    (files / "s.hasm").write_text("""
        mov.u64 r2, %gid
        mov_imm.u64 r3, 4
        mul.u64 r3, r2, r3
        cvt.f32.u64 r4, r2
        mul.f32 r4, r4, r5
        stg.f32 [r1 + r3], r4
        mov_imm.u8 r6, 7
        cvt.f64.f32 r7, r4
        res.accum r6, r7
    """)
    code, out, err = run(capsys, "run", "s.hasm", "--block", "8", "--param", "r1=zeros:f32:8",
                         "--param", "r5=f32:0.5", "--out", "r1=o.npy")
    assert code == 0, err
    assert np.load(files / "o.npy").tolist() == [0.5 * i for i in range(8)]
    assert "resonance: class 7: 14.0" in out


def test_run_fault_exits_1_with_lane_and_pc(files, capsys):
    code, out, err = run(capsys, *RUN_VA, "--param", "r4=u64:1024")
    assert code == 1 and out == ""
    assert err.startswith("hologram run: OutOfBounds: ")
    assert "lane 1000" in err and "pc 4: ldg.f32 r10, [r1 + r0]" in err


def test_run_step_limit(files, capsys):
    code, _, err = run(capsys, *RUN_VA, "--param", "r4=u64:1000", "--max-steps", "2")
    assert code == 1 and "StepLimitExceeded" in err


@pytest.mark.parametrize("args, message", [
    (["--param", "r4=u64"], "unknown value 'u64'"),
    (["--param", "r4=u64:x"], "'x' is not an integer"),
    (["--param", "r4=u8:1000"], "out of range for u8"),
    (["--param", "4x=u64:1"], "expected rN=VALUE"),
    (["--param", "x4=u64:1"], "or a name the program declares"),   # no .param: names unknown
    (["--param", "r4=@missing.npy"], "cannot load missing.npy"),
    (["--param", "r4=zeros:nope:3"], "unknown dtype 'nope'; expected zeros:DTYPE:SHAPE"),
    (["--param", "r4=u64:1", "--param", "r4=u64:2"], "r4 given twice"),
    (["--param", "r4=u64:1", "--out", "r4=x.npy"], "r4 is not bound to a buffer"),
    (["--param", "r4=u64:1", "--out", "r3"], "expected rN=FILE.npy"),
    (["--param", "r4=u64:1", "--grid", "a"], "--grid must be 1-3 integers"),
    (["--param", "r4=u64:1", "--block", "2000"], "block extents must be in [1, 1024]"),
    (["--param", "r4=u64:1", "--threads", "0"], "num_threads=0 is invalid"),
    (["--param", "r4=u64:1", "--max-steps", "-1"], "max_steps must be None or an int >= 0"),
])
def test_run_usage_errors_exit_2(files, capsys, args, message):
    code, out, err = run(capsys, *RUN_VA, *args)
    assert code == 2 and out == ""
    assert err.startswith("hologram run: error: ") and message in err, err


# Each lane stores its global id (as f32) at its index of r1, if below r4.
IOTA = """
.kernel iota
.block 64
        setgeu.u64  p0, r255, r4
        bra.p0      @done
        mov_imm.u32 r250, 2
        shl.u64     r0, r255, r250
        cvt.f32.u64 r10, r255
        stg.f32     [r1 + r0], r10
done:
        exit
"""


@pytest.mark.parametrize("param, shape", [
    ("zeros:f32:96x64", (96, 64)),
    ("ones:f32:96x64", (96, 64)),
    ("zeros:float32:2x3x1024", (2, 3, 1024)),
    ("zeros:f32:96,64", (96, 64)),
    ("zeros:f32:6144", (6144,)),                # a count stays 1-D
    ("zeros:f32:0x1800", (6144,)),              # ... also written in hex
    ("@in.npy", (96, 64)),                      # a file's shape is kept
    ("@fortran.npy", (96, 64)),                 # bound (and saved) in C order
])
def test_run_out_keeps_the_shape(files, capsys, param, shape):
    (files / "iota.hasm").write_text(IOTA)
    np.save(files / "in.npy", np.full((96, 64), -1, np.float32))
    np.save(files / "fortran.npy", np.asfortranarray(np.full((96, 64), -1, np.float32)))
    code, out, err = run(capsys, "run", "iota.hasm", "--grid", "96", "--param", f"r1={param}",
                         "--param", "r4=u64:6144", "--out", "r1=o.npy")
    assert code == 0, err
    o = np.load(files / "o.npy")
    assert o.shape == shape and o.dtype == np.float32 and o.flags.c_contiguous
    assert o.ravel().tolist() == list(range(6144))


def test_run_out_keeps_a_0d_file(files, capsys):
    (files / "iota.hasm").write_text(IOTA)
    np.save(files / "s.npy", np.float32(-1))
    code, _, err = run(capsys, "run", "iota.hasm", "--block", "4", "--param", "r1=@s.npy",
                       "--param", "r4=u64:1", "--out", "r1=o.npy")
    assert code == 0, err
    o = np.load(files / "o.npy")
    assert o.shape == () and o == 0


@pytest.mark.parametrize("param, dtype, value", [
    ("ones:f32:2x3", np.float32, 1.0),
    ("ones:f16:2x3", np.float16, 1.0),
    ("ones:i8:2x3", np.int8, 1),
    ("ones:u64:2x3", np.uint64, 1),
    ("ones:bf16:2x3", np.uint16, 0x3F80),       # bf16 buffers hold bit patterns: 1.0
])
def test_run_ones(files, capsys, param, dtype, value):
    (files / "nop.hasm").write_text("exit\n")
    code, _, err = run(capsys, "run", "nop.hasm", "--param", f"r1={param}", "--out", "r1=o.npy")
    assert code == 0, err
    o = np.load(files / "o.npy")
    assert o.shape == (2, 3) and o.dtype == dtype and (o == value).all()


@pytest.mark.parametrize("param, message", [
    ("zeros:f32:0", "bad shape '0'"),
    ("zeros:f32:96x0", "bad shape '96x0'"),
    ("ones:f32:0x0", "bad shape '0x0'"),
    ("zeros:f32:-3", "bad shape '-3'"),
    ("zeros:f32:3x-3", "bad shape '3x-3'"),
    ("zeros:f32:axb", "bad shape 'axb'"),
    ("zeros:f32:4x", "bad shape '4x'"),
    ("zeros:f32:4xx4", "bad shape '4xx4'"),
    ("zeros:f32:1.5", "bad shape '1.5'"),
    ("zeros:f32:", "bad shape ''"),
    ("zeros:f32", "bad shape ''"),
    ("zeros:f32:99999999999999999999x99999999", "shape '99999999999999999999x99999999' of "
                                                "float32 is too large"),
    ("zeros:f32:" + "x".join(["1"] * 100), "cannot allocate shape '1x1x1"),
    ("zeros:f64:1000000x1000000x1000000", "cannot allocate shape '1000000x1000000x1000000'"),
    ("ones:nope:3", "unknown dtype 'nope'; expected ones:DTYPE:SHAPE"),
    ("ones:S3:3", "ones needs a numeric dtype"),
    ("zeros:O:3", "holds Python object references"),
    ("@z.npz", "z.npz is an .npz archive"),
])
def test_run_bad_buffer_shapes_exit_2(files, capsys, param, message):
    np.savez(files / "z.npz", a=np.zeros(3))
    code, out, err = run(capsys, *RUN_VA, "--param", f"r4={param}")
    assert code == 2 and out == ""
    assert err.startswith(f"hologram run: error: --param r4={param}: ") and message in err, err


# ---------------------------------------------------------------------------------------------
# usage, help, version

@pytest.mark.parametrize("argv", [[], ["frob"], ["asm"], ["run", "va.hasm", "--grid"],
                                  ["validate", "--format", "xml", "va.hasm"]])
def test_argparse_usage_errors_exit_2(files, capsys, argv):
    code, out, err = run(capsys, *argv)
    assert code == 2 and "usage:" in err and "error:" in err


def test_missing_input_file_exits_2(files, capsys):
    code, _, err = run(capsys, "validate", "nope.hasm")
    assert code == 2 and err.startswith("hologram validate: error: cannot read nope.hasm")


def test_help_and_version(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for word in ("asm", "disasm", "validate", "run", "bench", "config", "isa-reference",
                 "exit codes"):
        assert word in out
    code, out, _ = run(capsys, "run", "--help")
    assert code == 0 and "rN=TYPE:VALUE" in out and "--max-steps" in out
    assert "rN=zeros:DTYPE:SHAPE" in out and "zeros:f32:96x64" in out and "rN=ones:" in out
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.strip() == f"hologram {hg.__version__}"


def test_python_m_hologram_help_subprocess():
    env = dict(os.environ)
    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(hg.__file__)))
    env["PYTHONPATH"] = os.pathsep.join([pkg_parent] + ([env["PYTHONPATH"]]
                                                        if env.get("PYTHONPATH") else []))
    proc = subprocess.run([sys.executable, "-m", "hologram", "--help"], capture_output=True,
                          text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: hologram")
    proc = subprocess.run([sys.executable, "-m", "hologram", "frob"], capture_output=True,
                          text=True, env=env, timeout=120)
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


# ---------------------------------------------------------------------------------------------
# bench, config, isa-reference

def test_bench_outside_a_source_checkout(capsys, monkeypatch):
    monkeypatch.setattr(cli, "_bench_script", lambda: None)
    code, out, err = run(capsys, "bench", "--quick")
    assert code == 1 and "bench/run.py" in err and "source checkout" in err


def test_bench_forwards_its_arguments(tmp_path, capsys, monkeypatch):
    script = tmp_path / "run.py"
    script.write_text("import sys\nprint('ARGS', sys.argv[1:])\nsys.exit(3)\n")
    monkeypatch.setattr(cli, "_bench_script", lambda: script)
    calls = []
    monkeypatch.setattr(cli.subprocess, "call", lambda argv: calls.append(argv) or 3)
    assert cli.main(["bench", "--quick", "--kernels", "vector_add", "--help"]) == 3
    assert calls == [[sys.executable, str(script), "--quick", "--kernels", "vector_add",
                      "--help"]]


def test_config_prints_show_config(capsys):
    code, out, _ = run(capsys, "config")
    assert code == 0
    assert out.startswith(f"hologram {hg.__version__}\n")
    assert "OpenMP:" in out and "numpy:" in out and "platform:" in out


def test_isa_reference_write_and_check(tmp_path, capsys):
    from hologram._isadoc import render_reference
    path = tmp_path / "reference.md"
    assert run(capsys, "isa-reference", "-o", str(path)) == (0, "", "")
    assert path.read_text(encoding="utf-8") == render_reference()
    assert run(capsys, "isa-reference", "-o", str(path), "--check")[0] == 0
    path.write_text("stale\n", encoding="utf-8")
    code, _, err = run(capsys, "isa-reference", "-o", str(path), "--check")
    assert code == 1 and "out of date" in err
    code, out, _ = run(capsys, "isa-reference")
    assert code == 0 and out == render_reference()


def test_interrupt_exits_130(files, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise hg.Interrupted("launch interrupted")
    monkeypatch.setattr(hg.CpuBackend, "execute_program", interrupted)
    code, out, err = run(capsys, *RUN_VA, "--param", "r4=u64:1000")
    assert code == 130 and err == "hologram run: interrupted\n"
