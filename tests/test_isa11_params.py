"""ISA 1.1 parameter declarations (ISA.md §12.6): launches by name with checked types, and
the static type errors validation reports for programs with declarations.

The launch side is the backend's, so it runs on both engines as it is (these programs use only
ISA 1.0 instructions). Expected values and messages are written out from the spec.
"""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings

import hologram as hg
from hologram import DType, Instruction, ParamDecl, Program
from hologram.cli import main as cli_main
from isa_testlib import programs

SAXPY = """
.kernel saxpy
.block 8
.param r1 f32[] x
.param r2 f32[] y
.param r3 f32 a
.param r4 u64 n
        mov.u64 r20, %gid
        setgeu.u64 p0, r20, r4
        bra.p0 @done
        mov_imm.u32 r21, 2
        shl.u64 r22, r20, r21
        ldg.f32 r10, [r1 + r22]
        ldg.f32 r11, [r2 + r22]
        fma.f32 r11, r3, r10, r11
        stg.f32 [r2 + r22], r11
done:
        exit
"""

# stores its scalar parameters' bytes: r5 (declared TYPE) at out[0..8)
SCALAR = """
.param r9 u8[] out
.param r5 {ty} v
        stg.{ty} [r9 + 0], r5
"""


def f32(x: float) -> int:
    return struct.unpack("<I", struct.pack("<f", x))[0]


def scalar_bits(backend, ty: str, value) -> int:
    out = np.zeros(8, np.uint8)
    backend.execute_program(hg.assemble(SCALAR.format(ty=ty)), hg.LaunchConfig(1, 1),
                            {"out": out, "v": value})
    return int.from_bytes(out.tobytes()[:DType.parse(ty).size], "little")


def launch_error(backend, prog, params) -> str:
    with pytest.raises(hg.LaunchConfigError) as ei:
        backend.execute_program(prog, hg.LaunchConfig(1, 8), params)
    return str(ei.value)


# --------------------------------------------------------------------------------------------
# Launch: names, completeness, types

def test_names_and_registers_as_keys(backend):
    prog = hg.assemble(SAXPY)
    x = np.arange(6, dtype=np.float32)
    y = np.ones(6, np.float32)
    backend.execute_program(prog, hg.LaunchConfig(1, 8), {"x": x, "y": y, "a": 2, "n": 6})
    assert y.tolist() == [1, 3, 5, 7, 9, 11]
    backend.execute_program(prog, hg.LaunchConfig(1, 8), {"r1": x, 2: y, "a": 0.5, "r4": 6})
    assert y.tolist() == [1, 3.5, 6, 8.5, 11, 13.5]
    k = backend.prepare(prog, hg.LaunchConfig(1, 8), {"x": x, "y": y, "a": -1, "n": 2})
    k()
    assert y.tolist()[:3] == [1, 2.5, 6]


def test_launch_function_with_names(backend_name):
    prog = hg.assemble(SAXPY)
    x = np.arange(3, dtype=np.float32)
    y = np.zeros(3, np.float32)
    hg.launch(prog, 1, params={"x": x, "y": y, "a": 3, "n": 3}, backend=backend_name)
    assert y.tolist() == [0, 3, 6]


def test_every_declared_parameter_is_required(backend):
    prog = hg.assemble(SAXPY)
    x = np.zeros(4, np.float32)
    assert launch_error(backend, prog, {"x": x, "y": x, "a": 1.0}) == \
        "missing parameter(s) n (r4)"
    assert launch_error(backend, prog, {"x": x}) == \
        "missing parameter(s) y (r2), a (r3), n (r4)"
    assert launch_error(backend, prog, None) == \
        "missing parameter(s) x (r1), y (r2), a (r3), n (r4)"


def test_undeclared_keys_are_rejected(backend):
    prog = hg.assemble(SAXPY)
    x = np.zeros(4, np.float32)
    msg = launch_error(backend, prog, {"x": x, "y": x, "a": 1.0, "n": 4, "z": 1, "r7": 2})
    assert msg.startswith("params 'z', 'r7' not declared by the program")
    assert "x (r1), y (r2), a (r3), n (r4)" in msg
    assert "given twice" in launch_error(backend, prog, {"x": x, "r1": x, "y": x, "a": 1.0,
                                                         "n": 4})


def test_buffer_dtypes_are_checked(backend):
    prog = hg.assemble(SAXPY)
    y = np.zeros(4, np.float32)
    args = {"y": y, "a": 1.0, "n": 4}
    assert launch_error(backend, prog, {"x": np.zeros(4, np.float64), **args}) == \
        "parameter x (r1): expected an array of float32, got float64"
    assert launch_error(backend, prog, {"x": np.zeros(4, ">f4"), **args}) == \
        "parameter x (r1): expected an array of float32, got >f4"
    assert launch_error(backend, prog, {"x": np.zeros(4, np.int32), **args}) == \
        "parameter x (r1): expected an array of float32, got int32"
    assert launch_error(backend, prog, {"x": ("f32", 1.0), **args}) == \
        "parameter x (r1): expected a buffer of f32, got tuple"
    assert launch_error(backend, prog, {"x": 5, **args}) == \
        "parameter x (r1): expected a buffer of f32, got int"
    # any other buffer is bound as bytes: 4 f32 zeros
    backend.execute_program(prog, hg.LaunchConfig(1, 8),
                            {"x": bytes(16), "y": y, "a": 1.0, "n": 4})
    backend.execute_program(prog, hg.LaunchConfig(1, 8),
                            {"x": bytearray(16), "y": memoryview(y), "a": 1.0, "n": 4})


def test_u8_buffers_take_any_array(backend):
    for arr in (np.zeros(3, np.float64), np.zeros((2, 2), np.int16), np.zeros(8, ">u4")):
        out = arr.copy()
        backend.execute_program(hg.assemble(SCALAR.format(ty="u32")), hg.LaunchConfig(1, 1),
                                {"out": out, "v": 0xDDCCBBAA})
        assert out.reshape(-1).view(np.uint8)[:4].tolist() == [0xAA, 0xBB, 0xCC, 0xDD]


def test_bf16_buffers_take_bfloat16_or_uint16(backend):
    prog = hg.assemble(".param r1 bf16[] x\nmov_imm.bf16 r2, 1.0\nstg.bf16 [r1 + 0], r2")
    u = np.zeros(2, np.uint16)
    backend.execute_program(prog, hg.LaunchConfig(1, 1), {"x": u})
    assert u[0] == 0x3F80
    ml_dtypes = pytest.importorskip("ml_dtypes")
    b = np.zeros(2, ml_dtypes.bfloat16)
    backend.execute_program(prog, hg.LaunchConfig(1, 1), {"x": b})
    assert float(b[0]) == 1.0
    with pytest.raises(hg.LaunchConfigError, match="expected an array of bfloat16, got float16"):
        backend.execute_program(prog, hg.LaunchConfig(1, 1), {"x": np.zeros(2, np.float16)})


@pytest.mark.parametrize("ty, value, bits", [
    ("u64", 2**64 - 1, 2**64 - 1), ("i8", -128, 0x80), ("u32", 7, 7),
    ("f32", 2, 0x40000000),                 # a bare int is a value (2.0), not a pattern
    ("f32", 0.1, 0x3DCCCCCD),               # nearest f64, then rounded to f32
    ("f64", 0.1, 0x3FB999999999999A),
    ("f16", 65520.0, 0x7C00),               # halfway to 65536: rounds (to even) to +inf
    ("bf16", 1.0, 0x3F80), ("f32", np.float32(1.5), 0x3FC00000), ("i16", np.int16(-2), 0xFFFE),
    ("u32", ("u32", 9), 9), ("f64", ("f64", -0.0), 1 << 63),
])
def test_declared_scalars(backend, ty, value, bits):
    assert scalar_bits(backend, ty, value) == bits


@pytest.mark.parametrize("ty, value, message", [
    ("u64", -1, "parameter v (r5): -1 out of range for u64"),
    ("u8", 256, "parameter v (r5): 256 out of range for u8"),
    ("i32", 1.5, "parameter v (r5): i32 needs an integer, got 1.5"),
    ("u32", True, "parameter v (r5): u32 needs an integer, got True"),
    ("f32", "1.0", "parameter v (r5): expected a f32 scalar, got str"),
    ("f32", np.float64(1.0), "parameter v (r5): expected a f32 scalar, got a numpy float64 "
                             "scalar"),
    ("u32", ("u64", 1), "parameter v (r5): expected a u32 scalar, got ('u64', 1)"),
    ("u32", np.zeros(1, np.uint32), "parameter v (r5): expected a u32 scalar, got ndarray"),
])
def test_declared_scalar_errors(backend, ty, value, message):
    with pytest.raises(hg.LaunchConfigError) as ei:
        scalar_bits(backend, ty, value)
    assert str(ei.value) == message


def test_unnamed_declarations_take_registers(backend):
    prog = hg.assemble(".param r9 u8[]\n.param r5 u16\nstg.u16 [r9 + 0], r5")
    out = np.zeros(2, np.uint8)
    backend.execute_program(prog, hg.LaunchConfig(1, 1), {"r9": out, 5: 0x1234})
    assert out.tolist() == [0x34, 0x12]
    with pytest.raises(hg.LaunchConfigError, match="missing parameter"):
        backend.execute_program(prog, hg.LaunchConfig(1, 1), {"r9": out})


def test_programs_without_declarations_keep_the_1_0_rules(backend):
    prog = hg.assemble("mov_imm.u32 r2, 1\nadd.u32 r3, r1, r2")
    with pytest.raises(hg.LaunchConfigError, match="bare Python int is ambiguous"):
        backend.execute_program(prog, hg.LaunchConfig(1, 1), {"r1": 5})
    with pytest.raises(hg.LaunchConfigError, match="or a name the program declares"):
        backend.execute_program(prog, hg.LaunchConfig(1, 1), {"n": ("u32", 5)})
    backend.execute_program(prog, hg.LaunchConfig(1, 1), {"r1": ("u32", 5), "r7": ("u8", 1)})


def test_param_decl_api():
    p = Program([Instruction("EXIT")], params=[ParamDecl(1, DType.F32, True, "x"),
                                                ParamDecl(4, DType.U64)])
    assert p.params == (ParamDecl(1, DType.F32, True, "x"), ParamDecl(4, DType.U64, False, None))
    assert p != Program([Instruction("EXIT")])
    assert str(p.params[0]) == ".param r1 f32[] x" and str(p.params[1]) == ".param r4 u64"


@pytest.mark.parametrize("params, message", [
    ([ParamDecl(1, DType.F32), ParamDecl(1, DType.U32)], "parameter register r1 is declared twice"),
    ([ParamDecl(1, DType.F32, name="x"), ParamDecl(2, DType.U32, name="x")],
     "parameter name 'x' is declared twice"),
    ([ParamDecl(256, DType.F32)], "parameter register 256 out of range (r0-r255)"),
    ([ParamDecl(1, DType.F32, name="r5")], "parameter name 'r5' looks like a register"),
    ([ParamDecl(1, DType.F32, name="1x")], "parameter name '1x' is not an identifier"),
    ([ParamDecl(1, "f32")], "parameter r1: type must be a DType and buffer a bool"),
])
def test_bad_declarations(params, message):
    with pytest.raises(hg.ProgramError) as ei:
        Program([], params=params)
    assert ei.value.message == message


# --------------------------------------------------------------------------------------------
# Validation: reads that can never succeed (§12.6)

def static_error(text: str) -> hg.AssemblyError:
    with pytest.raises(hg.AssemblyError) as ei:
        hg.assemble(text)
    return ei.value


def test_the_spec_example():
    e = static_error("""
.param r1 f32[] x
        mov.u32 r20, %lane.x
        ldg.f32 r10, [r1 + r20]
""")
    assert e.message == "r20 is never u64 here (it holds u32)"
    assert (e.line, e.column) == (4, 28)             # at r20
    assert "ldg.f32 r10, [r1 + r20]" in str(e)
    # the same program built directly and from JSON: ProgramError with index and operand
    prog = hg.assemble(".param r1 f32[] x\nmov.u32 r20, %lane.x\nexit")
    bad = Program(list(prog)[:1] + [hg.assemble("ldg.f32 r10, [r1 + r20]")[0]],
                  params=prog.params, validate=False)
    with pytest.raises(hg.ProgramError) as ei:
        bad.validate()
    assert (ei.value.index, ei.value.operand) == (1, "r20")
    assert str(ei.value) == ("instruction 1 (ldg.f32 r10, [r1 + r20]): r20 is never u64 here "
                             "(it holds u32)")
    with pytest.raises(hg.ProgramError) as ei:
        Program.from_json(bad.to_json())
    assert ei.value.index == 1 and ei.value.operand == "r20"


@pytest.mark.parametrize("body, line, column, message", [
    # never written anywhere
    ("add.u32 r4, r4, r3", 3, 13, "r4 is never u32 here (it is never written)"),
    # the declared type is known: a scalar f32 read as u32
    ("add.u32 r4, r3, r3", 3, 13, "r3 is never u32 here (it holds f32)"),
    # a buffer register holds a u64 handle
    ("mov.u32 r4, r1", 3, 13, "r1 is never u32 here (it holds u64)"),
    # written with two other types on two paths
    ("mov_imm.u32 r6, 0\nsetne.u32 p0, r6, r6\nbra.p0 @f\nmov_imm.u32 r5, 1\nbra @j\n"
     "f: mov_imm.f32 r5, 1.0\nj: add.i32 r7, r5, r5", 9, 16,
     "r5 is never i32 here (it holds u32 or f32)"),
    # written on one path only, with another type
    ("mov_imm.u32 r6, 0\nsetne.u32 p0, r6, r6\nbra.p0 @j\nmov_imm.u32 r5, 1\n"
     "j: mov.u64 r7, r5", 7, 16, "r5 is never u64 here (it holds u32, or nothing on some path)"),
    # predicates
    ("bra.p3 @x\nx:", 3, 5, "p3 is never written here"),
    ("bra.!p3 @x\nx:", 3, 6, "p3 is never written here"),
    ("mov_imm.u32 r6, 0\nseteq.u32 p1, r6, r6\nand.pred p2, p1, p4", 5, 18,
     "p4 is never written here"),
    # a read that passes fixes the type for the next read of the same instruction
    ("mov_imm.u64 r6, 1\nshl.u64 r7, r6, r6", 4, 17, "r6 is never u32 here (it holds u64)"),
    # a shared [rB + D] reads rB as u64 (§12.2.3)
    ("mov_imm.u32 r6, 0\nlds.u32 r7, [r6 + 4]", 4, 14, "r6 is never u64 here (it holds u32)"),
])
def test_static_type_errors(body, line, column, message):
    e = static_error(".param r1 u8[] buf\n.param r3 f32 s\n" + body)
    assert (e.message, e.line, e.column) == (message, line, column)


@pytest.mark.parametrize("body", [
    "mov.u64 r4, r1\nadd.f32 r5, r3, r3",                      # declared types
    # u32 on one path, u64 on another: a u64 read may succeed
    "mov_imm.u32 r6, 0\nsetne.u32 p0, r6, r6\nbra.p0 @f\nmov_imm.u32 r5, 1\nbra @j\n"
    "f: mov_imm.u64 r5, 1\nj: mov.u64 r7, r5",
    "exit\nadd.u32 r9, r8, r7",                                # unreachable code
    "mov_imm.u32 r6, 0\nseteq.u32 p0, r6, r6\nsel.f32 r7, p0, r3, r99",   # SEL's sources
    "mov.u32 r5, r252\nmov.u64 r6, r255\nmov.u32 r7, r254",   # the special registers
    # a RET returns only after CALLs that are reached: r9 is u32 at `back`
    "mov_imm.u32 r9, 1\ncall @f\nback: add.u32 r9, r9, r9\nexit\nf: ret",
])
def test_reads_that_may_succeed_are_valid(body):
    hg.assemble(".param r1 u8[] buf\n.param r3 f32 s\n" + body)


def test_programs_without_declarations_are_not_checked():
    hg.assemble("add.u32 r4, r4, r3")          # r3, r4 may be parameters
    assert hg.assemble(".param r3 u32\nadd.u32 r4, r3, r3").params


def test_cli_validate_reports_file_line_column(tmp_path, capsys):
    path = tmp_path / "k.hasm"
    path.write_text(".param r1 f32[] x\n    mov.u32 r20, %lane.x\n"
                    "    ldg.f32 r10, [r1 + r20]\n", encoding="utf-8")
    code = cli_main(["validate", str(path)])
    err = capsys.readouterr().err
    assert code == 1
    assert f"{path}:3:24: r20 is never u64 here (it holds u32)" in err


def test_cli_run_with_names(tmp_path, capsys):
    src = tmp_path / "saxpy.hasm"
    src.write_text(SAXPY, encoding="utf-8")
    np.save(tmp_path / "x.npy", np.arange(4, dtype=np.float32))
    np.save(tmp_path / "y.npy", np.ones(4, np.float32))
    code = cli_main(["run", str(src), "--engine", "reference", "-q",
                     f"--param=x=@{tmp_path / 'x.npy'}", f"--param=y=@{tmp_path / 'y.npy'}",
                     "--param", "a=2.5", "--param", "n=4", "--out", f"y={tmp_path / 'o.npy'}"])
    assert code == 0, capsys.readouterr().err
    assert np.load(tmp_path / "o.npy").tolist() == [1, 3.5, 6, 8.5]
    code = cli_main(["run", str(src), "--engine", "reference",
                     f"--param=x=@{tmp_path / 'x.npy'}", "--param", "a=2.5"])
    assert code == 2 and "missing parameter(s) y (r2), n (r4)" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# Random declared programs: binding by name works for any declarations, engines agree

def _arguments(p: Program):
    args = {}
    for d in p.params:
        key = d.name if d.name is not None else f"r{d.reg}"
        if d.buffer:
            args[key] = np.zeros(4, np.uint16 if d.type == DType.BF16 else d.type.numpy)
        else:
            args[key] = 0.0 if d.type.is_float else 0
    return args


def _outcome(be, p):
    try:
        be.execute_program(p, hg.LaunchConfig(1, 1), _arguments(p), max_steps=200)
        return None
    except hg.ExecutionError as e:
        return (type(e).__name__, e.pc, e.message)


@settings(max_examples=60, deadline=None)
@given(programs(max_instructions=10, directives=False, declarations=True))
def test_random_declared_programs_agree(p):
    ref = _outcome(hg.ReferenceBackend(), p)
    assert _outcome(hg.CpuBackend(num_threads=1), p) == ref


@settings(max_examples=60, deadline=None)
@given(programs(max_instructions=12, directives=False, declarations=True, isa11=True))
def test_random_isa11_programs_raise_only_execution_errors_on_the_reference(p):
    _outcome(hg.ReferenceBackend(), p)
