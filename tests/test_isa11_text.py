"""ISA 1.1 (ISA.md §12) in the text syntax, the disassembler and the JSON codec, and the
assembler diagnostics of §12.7. No engine runs here.

Instruction fields are written out from the spec (float immediates as their bit patterns);
round trips ``assemble(p.disassemble()) == p == Program.from_json(p.to_json())`` are checked
for generated 1.1 programs (hypothesis).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import pytest
from hypothesis import given
from hypothesis import strategies as st

import hologram as hg
from hologram import AssemblyError, AssemblyWarning, Instruction, ParamDecl, Program, assemble
from hologram.isa import (SPECS, DType, Imm, RegisterIndirect, RegisterIndirectComputed,
                          ShflMode, SReg, VoteMode)
from isa_testlib import BLOCK_SUM, VECTOR_ADD, instructions, programs

F32, F64, U32, U64, I32, F16 = DType.F32, DType.F64, DType.U32, DType.U64, DType.I32, DType.F16
HERE = os.path.dirname(os.path.abspath(__file__))


def one(src: str) -> Instruction:
    p = assemble(src + "\nL:")
    assert len(p) == 1
    return p[0]


def asm_error(src: str) -> AssemblyError:
    with pytest.raises(AssemblyError) as ei:
        assemble(src)
    return ei.value


def json_error(ins: dict) -> hg.ProgramError:
    with pytest.raises(hg.ProgramError) as ei:
        Program.from_json(json.dumps({"instructions": [ins], "labels": {"L": 0}}))
    return ei.value


# --------------------------------------------------------------------------------------------
# §12.1 immediates

@pytest.mark.parametrize("text, ins, canonical", [
    ("add.u64 r1, r1, 4", Instruction("ADD", ty=U64, dst=1, src1=1, src2=Imm(4)), None),
    ("mul.f32 r2, r2, 0.5", Instruction("MUL", ty=F32, dst=2, src1=2, src2=Imm(0x3F000000)),
     None),
    ("setlt.f32 p0, r3, 1e-6", Instruction("SETcc", ty=F32, cond="lt", dst=0, src1=3,
                                           src2=Imm(0x358637BD)), "setlt.f32 p0, r3, 1e-06"),
    ("shl.u64 r0, r255, 2", Instruction("SHL", ty=U64, dst=0, src=255, amount=Imm(2)), None),
    ("and.u32 r4, r4, 0xff", Instruction("AND", ty=U32, dst=4, src1=4, src2=Imm(255)),
     "and.u32 r4, r4, 255"),
    # mov_imm's rules: a negative integer is its 64-bit two's complement
    ("sub.i32 r5, r5, -1", Instruction("SUB", ty=I32, dst=5, src1=5, src2=Imm(2**64 - 1)), None),
    # a decimal integer for a float type is its value; 0x… a bit pattern
    ("mul.f32 r2, r2, 2", Instruction("MUL", ty=F32, dst=2, src1=2, src2=Imm(0x40000000)),
     "mul.f32 r2, r2, 2.0"),
    ("mul.f32 r2, r2, 0x40000000", Instruction("MUL", ty=F32, dst=2, src1=2,
                                               src2=Imm(0x40000000)), "mul.f32 r2, r2, 2.0"),
    ("add.f64 r2, r2, -3", Instruction("ADD", ty=F64, dst=2, src1=2,
                                       src2=Imm(0xC008000000000000)), "add.f64 r2, r2, -3.0"),
    ("max.f16 r2, r2, 2", Instruction("MAX", ty=F16, dst=2, src1=2, src2=Imm(0x4000)),
     "max.f16 r2, r2, 2.0"),
    ("div.f32 r2, r2, inf", Instruction("DIV", ty=F32, dst=2, src1=2, src2=Imm(0x7F800000)),
     None),
    ("min.f32 r2, r2, -nan", Instruction("MIN", ty=F32, dst=2, src1=2, src2=Imm(0xFFC00000)),
     None),
    # raw patterns without a float literal print in hex (a decimal would be a value)
    ("add.f32 r2, r2, 0x7fc00001", Instruction("ADD", ty=F32, dst=2, src1=2,
                                               src2=Imm(0x7FC00001)), None),
    ("add.f32 r2, r2, 0x100000001", Instruction("ADD", ty=F32, dst=2, src1=2,
                                                src2=Imm(2**32 + 1)), None),
    ("pow.f64 r1, r1, 0.5", Instruction("POW", ty=F64, dst=1, src1=1,
                                        src2=Imm(0x3FE0000000000000)), None),
    ("rem.u8 r1, r1, 300", Instruction("REM", ty=DType.U8, dst=1, src1=1, src2=Imm(300)), None),
    ("xor.i64 r1, r1, -9223372036854775808", Instruction("XOR", ty=DType.I64, dst=1, src1=1,
                                                         src2=Imm(2**63)), None),
    ("shr.i8 r1, r2, 4294967295", Instruction("SHR", ty=DType.I8, dst=1, src=2,
                                              amount=Imm(2**32 - 1)), None),
    ("setne.u64 p1, r2, 18446744073709551615", Instruction(
        "SETcc", ty=U64, cond="ne", dst=1, src1=2, src2=Imm(2**64 - 1)), None),
    ("shfl.idx.f32 r1, r2, 7", Instruction("SHFL", mode=ShflMode.IDX, ty=F32, dst=1, src=2,
                                           lane=Imm(7)), None),
])
def test_immediate_operands(text, ins, canonical):
    got = one(text)
    assert got == ins
    assert str(got) == (canonical or text)
    assert one(str(got)) == got
    assert Program.from_json(Program([got]).to_json()) == Program([got])


def test_immediate_json_form():
    p = assemble("add.u64 r1, r1, 4\nmul.f32 r2, r2, 2\nshl.u32 r3, r3, 1\nadd.u64 r1, r1, r2")
    body = [list(i.values())[0] for i in json.loads(p.to_json())["instructions"]]
    assert body[0]["src2"] == {"Imm": 4}
    assert body[1]["src2"] == {"Imm": 0x40000000}
    assert body[2]["amount"] == {"Imm": 1}
    assert body[3]["src2"] == 2                         # registers stay plain numbers
    # readers accept both forms in those fields
    q = Program.from_json('{"instructions": [{"SUB": {"ty": "I32", "dst": 5, "src1": 5, '
                          '"src2": {"Imm": 18446744073709551615}}}], "labels": {}}')
    assert str(q[0]) == "sub.i32 r5, r5, -1"


@pytest.mark.parametrize("ins, message", [
    ({"ADD": {"ty": "U64", "dst": 1, "src1": 1, "src2": {"Imm": -1}}}, "out of range"),
    ({"ADD": {"ty": "U64", "dst": 1, "src1": 1, "src2": {"Imm": 2**64}}}, "out of range"),
    ({"SHL": {"ty": "U64", "dst": 1, "src": 1, "amount": {"Imm": 2**32}}}, "out of range"),
    ({"ADD": {"ty": "U64", "dst": 1, "src1": 1, "src2": {"Imm": True}}}, "Imm"),
    ({"ADD": {"ty": "U64", "dst": 1, "src1": 1, "src2": {"Imm": 1.5}}}, "Imm"),
    ({"ADD": {"ty": "U64", "dst": 1, "src1": 1, "src2": {"Imm": 1, "x": 2}}}, "Imm"),
    ({"ADD": {"ty": "U64", "dst": 1, "src1": 1, "src2": {"imm": 1}}}, "Imm"),
    ({"ADD": {"ty": "U64", "dst": 1, "src1": {"Imm": 1}, "src2": 2}}, "expected an integer"),
    ({"MAD": {"ty": "U64", "dst": 1, "a": 1, "b": 2, "c": {"Imm": 3}}}, "expected an integer"),
    ({"MOV": {"ty": "U64", "dst": 1, "src": {"Imm": 3}}}, "expected an integer"),
])
def test_bad_json_immediates(ins, message):
    assert message in str(json_error(ins))


@pytest.mark.parametrize("text, col, message", [
    ("add.u64 r1, r1, 18446744073709551616", 17, "out of range"),
    ("add.u32 r1, r1, -1", 17, "negative immediate not allowed for u32"),
    ("add.f32 r1, r1, -0x1", 17, "negative immediate not allowed for f32"),
    ("add.i32 r1, r1, 1.5", 17, "float literal not allowed for integer type i32"),
    ("add.i64 r1, r1, -9223372036854775809", 17, "out of range"),
    ("shl.u32 r1, r1, 4294967296", 17, "out of range"),
    ("shl.u32 r1, r1, -1", 17, "negative immediate not allowed for u32"),
    ("shfl.idx.u64 r1, r2, 4294967296", 22, "out of range"),
    ("add.u32 r1, 4, r2", 13, "expected register"),      # only the last source
    ("mad.u32 r1, r2, r3, 4", 21, "expected register"),
    ("mov.u32 r1, 5", 13, "expected"),
    ("add.u32 r1, r2, +4", 17, "no '+' sign"),
])
def test_bad_immediates(text, col, message):
    e = asm_error(text)
    assert e.column == col and message in e.message, e


# --------------------------------------------------------------------------------------------
# §12.2 addresses

@pytest.mark.parametrize("text, addr, canonical", [
    ("ldg.f32 r10, [r1 + r255*4]", RegisterIndirectComputed(1, 255, 4, 0), None),
    ("ldg.f32 r11, [r1 + r20*4 - 4]", RegisterIndirectComputed(1, 20, 4, -4), None),
    ("stg.u8 [r3 + r7 + 16], r9", RegisterIndirectComputed(3, 7, 1, 16), None),
    ("ldg.u8 r1, [r3 + r7*8 + 2147483647]", RegisterIndirectComputed(3, 7, 8, 2**31 - 1), None),
    ("ldg.u8 r1, [r3 + r7*2 - 2147483648]", RegisterIndirectComputed(3, 7, 2, -2**31), None),
    ("ldg.u8 r1, [r3 + r7*1]", RegisterIndirectComputed(3, 7), "ldg.u8 r1, [r3 + r7]"),
    ("ldg.u8 r1, [r3 + r7 - 0]", RegisterIndirectComputed(3, 7), "ldg.u8 r1, [r3 + r7]"),
    ("ldg.u8 r1, [r3+r7*4+0x10]", RegisterIndirectComputed(3, 7, 4, 16),
     "ldg.u8 r1, [r3 + r7*4 + 16]"),
    ("lds.u32 r1, [r5*4 + 8]", RegisterIndirectComputed(5, 5, 4, 8), "lds.u32 r1, [r5 + r5*4 + 8]"),
    ("sts.u32 [r5*8], r1", RegisterIndirectComputed(5, 5, 8, 0), "sts.u32 [r5 + r5*8], r1"),
    ("atoms.add.u32 r1, [r0 + r5*4 - 4], r2", RegisterIndirectComputed(0, 5, 4, -4), None),
    ("atom.cas.u64 r1, [r2 + r5*8], r3, r4", RegisterIndirectComputed(2, 5, 8, 0), None),
    ("lds.u32 r1, [r3 - 4]", RegisterIndirect(3, -4), None),     # RegisterIndirect as in 1.0
])
def test_address_forms(text, addr, canonical):
    ins = one(text)
    assert ins.addr == addr
    assert str(ins) == (canonical or text)
    assert one(str(ins)) == ins


def test_address_json():
    p = assemble("ldg.f32 r1, [r2 + r3*4 - 8]\nldg.f32 r1, [r2 + r3]\nldg.f32 r1, [r2 + r3 + 5]")
    addrs = [list(i.values())[0]["addr"] for i in json.loads(p.to_json())["instructions"]]
    assert addrs == [
        {"RegisterIndirectComputed": {"handle_reg": 2, "offset_reg": 3, "scale": 4, "disp": -8}},
        {"RegisterIndirectComputed": {"handle_reg": 2, "offset_reg": 3}},      # as in 1.0
        {"RegisterIndirectComputed": {"handle_reg": 2, "offset_reg": 3, "disp": 5}}]
    assert Program.from_json(p.to_json()) == p
    # explicit defaults are accepted
    q = Program.from_json('{"instructions": [{"LDG": {"ty": "F32", "dst": 1, "addr": '
                          '{"RegisterIndirectComputed": {"handle_reg": 2, "offset_reg": 3, '
                          '"scale": 1, "disp": 0}}}}], "labels": {}}')
    assert q[0] == p[1]


@pytest.mark.parametrize("addr, message", [
    ({"handle_reg": 2, "offset_reg": 3, "scale": 3}, "scale 3 is not 1, 2, 4 or 8"),
    ({"handle_reg": 2, "offset_reg": 3, "scale": 16}, "scale"),
    ({"handle_reg": 2, "offset_reg": 3, "disp": 2**31}, "disp"),
    ({"handle_reg": 2, "offset_reg": 3, "disp": -2**31 - 1}, "disp"),
    ({"handle_reg": 2, "offset_reg": 3, "offset": 1}, "needs the fields"),
    ({"handle_reg": 2, "scale": 4}, "needs the fields"),
])
def test_bad_json_addresses(addr, message):
    e = json_error({"LDG": {"ty": "F32", "dst": 1, "addr": {"RegisterIndirectComputed": addr}}})
    assert message in str(e)


@pytest.mark.parametrize("text, col, message", [
    ("ldg.u8 r1, [r2 + r3*3]", 21, "scale must be 1, 2, 4 or 8"),
    ("ldg.u8 r1, [r2 + r3*0]", 21, "scale must be 1, 2, 4 or 8"),
    ("ldg.u8 r1, [r2 + r3 + 2147483648]", 23, "out of range"),
    ("ldg.u8 r1, [r2 + r3 - 2147483649]", 23, "out of range"),
    ("ldg.u8 r1, [r3*4 + 8]", 15, "a global address needs a handle register"),
    ("stg.u8 [r3*4], r1", 11, "a global address needs a handle register"),
    ("ldg.u8 r1, [r2 + r3 * r4]", 23, "expected scale"),
    ("ldg.u8 r1, [r2 + r3 + r4]", 23, "expected displacement"),
])
def test_bad_addresses(text, col, message):
    e = asm_error(text)
    assert e.column == col and message in e.message, e


# --------------------------------------------------------------------------------------------
# §12.3 predicate logic and negation

def test_predicate_logic_and_negation_forms():
    assert one("and.pred p0, p1, p2") == Instruction("PAND", dst=0, src1=1, src2=2)
    assert one("OR.PRED p15, p0, p0") == Instruction("POR", dst=15, src1=0, src2=0)
    assert one("xor.pred p1, p2, p3") == Instruction("PXOR", dst=1, src1=2, src2=3)
    assert one("not.pred p1, p2") == Instruction("PNOT", dst=1, src=2)
    b = one("bra.!p3 @L")
    assert (b.pred, b.negate) == (3, True) and str(b) == "bra.!p3 @L"
    assert one("bra.p3 @L").negate is False and one("bra @L").negate is False
    s = one("sel.f32 r3, !p0, r1, r2")
    assert (s.pred, s.negate, s.src_true, s.src_false) == (0, True, 1, 2)
    assert str(s) == "sel.f32 r3, !p0, r1, r2"
    assert str(one("sel.f32 r3, ! p0, r1, r2")) == "sel.f32 r3, !p0, r1, r2"


def test_negate_json():
    p = assemble("bra.!p3 @L\nbra.p3 @L\nsel.u32 r1, !p2, r3, r4\nsel.u32 r1, p2, r3, r4\nL:")
    js = json.loads(p.to_json())["instructions"]
    assert js[0] == {"BRA": {"target": "L", "pred": 3, "negate": True}}
    assert js[1] == {"BRA": {"target": "L", "pred": 3}}                 # omitted when false
    assert js[2]["SEL"]["negate"] is True and "negate" not in js[3]["SEL"]
    assert Program.from_json(p.to_json()) == p
    q = Program.from_json('{"instructions": [{"BRA": {"target": "L", "pred": 1, '
                          '"negate": false}}], "labels": {"L": 0}}')
    assert q[0] == one("bra.p1 @L")
    e = json_error({"BRA": {"target": "L", "negate": True}})
    assert "negate needs a predicate" in str(e)
    e = json_error({"BRA": {"target": "L", "pred": 1, "negate": 1}})
    assert "expected true or false" in str(e)
    with pytest.raises(hg.ProgramError, match="negate needs a predicate"):
        Program([Instruction("BRA", target="L", negate=True)], {"L": 0})


@pytest.mark.parametrize("text, message", [
    ("add.u32 r1, !r2, r3", "expected register"),
    ("sel.f32 r3, p0, !r1, r2", "expected register"),
    ("bra.!p16 @L", "out of range"),
    ("and.pred r0, p1, p2", "expected predicate"),
    ("and.pred p0, p1", "expected ','"),
    ("not.pred p0, !p1", "expected predicate"),
])
def test_bad_predicate_forms(text, message):
    assert message in asm_error(text + "\nL:").message


# --------------------------------------------------------------------------------------------
# §12.4 warp collectives, §12.5 math

def test_collective_and_math_forms():
    assert one("shfl.up.u64 r1, r2, r3") == Instruction("SHFL", mode=ShflMode.UP, ty=U64,
                                                        dst=1, src=2, lane=3)
    assert one("shfl.xor.bf16 r1, r2, 1").lane == Imm(1)
    assert one("vote.all p0, p1") == Instruction("VOTE", mode=VoteMode.ALL, dst=0, src=1)
    assert one("ballot.u32 r1, p0") == Instruction("BALLOT", dst=1, src=0)
    assert one("mov.u32 r1, %laneid") == Instruction("MOV_SREG", dst=1, sreg=SReg.LaneId)
    assert one("mov.u32 r1, %WARPID") == Instruction("MOV_SREG", dst=1, sreg=SReg.WarpId)
    for v in ("erf", "exp2", "floor", "ceil", "trunc", "round"):
        assert one(f"{v}.f64 r1, r2").variant == v.upper()
    js = json.loads(assemble("shfl.down.f32 r1, r2, 16\nvote.any p0, p1\n"
                             "mov.u32 r3, %laneid\nmov.u32 r3, %warpid").to_json())
    assert js["instructions"] == [
        {"SHFL": {"mode": "DOWN", "ty": "F32", "dst": 1, "src": 2, "lane": {"Imm": 16}}},
        {"VOTE": {"mode": "ANY", "dst": 0, "src": 1}},
        {"MOV_SREG": {"dst": 3, "sreg": "LaneId"}}, {"MOV_SREG": {"dst": 3, "sreg": "WarpId"}}]


@pytest.mark.parametrize("text, message", [
    ("ballot.u64 r1, p0", "unknown instruction"),
    ("vote.some p0, p1", "unknown instruction"),
    ("shfl.left.u32 r1, r2, 1", "unknown instruction"),
    ("mov.u64 r1, %laneid", "read %laneid with mov.u32 rD, %laneid"),
    ("floor.i32 r1, r2", "type i32 is not allowed for floor"),
    ("erf.u8 r1, r2", "type u8 is not allowed for erf"),
])
def test_bad_collective_and_math_forms(text, message):
    assert message in asm_error(text).message


# --------------------------------------------------------------------------------------------
# §12.6 .param directives

SAXPY_HEAD = """.kernel saxpy
.block 256
.param r1 f32[] x
.param r2 f32[] y
.param r3 f32 a
.param r4 u64 n
"""


def test_param_directives_text_and_json():
    p = assemble(SAXPY_HEAD + "    exit\n")
    assert p.params == (ParamDecl(1, F32, True, "x"), ParamDecl(2, F32, True, "y"),
                        ParamDecl(3, F32, False, "a"), ParamDecl(4, U64, False, "n"))
    assert p.disassemble() == SAXPY_HEAD.replace(".block 256", ".block 256, 1, 1") + "    exit\n"
    d = json.loads(p.to_json())
    assert list(d) == ["instructions", "labels", "name", "block", "params"]
    assert d["params"] == [{"reg": 1, "type": "F32", "buffer": True, "name": "x"},
                           {"reg": 2, "type": "F32", "buffer": True, "name": "y"},
                           {"reg": 3, "type": "F32", "buffer": False, "name": "a"},
                           {"reg": 4, "type": "U64", "buffer": False, "name": "n"}]
    assert Program.from_json(p.to_json()) == p
    # optional name, "u8[]", declaration order kept, case-insensitive type
    q = assemble(".param r9 U8[]\n.param r0 bf16 b\nexit")
    assert q.params == (ParamDecl(9, DType.U8, True), ParamDecl(0, DType.BF16, False, "b"))
    assert q.disassemble().splitlines()[:2] == [".param r9 u8[]", ".param r0 bf16 b"]
    assert json.loads(q.to_json())["params"][0] == {"reg": 9, "type": "U8", "buffer": True}
    # "buffer" may be omitted (false)
    r = Program.from_json('{"instructions": [], "labels": {}, "params": [{"reg": 3, '
                          '"type": "U32"}]}')
    assert r.params == (ParamDecl(3, U32),)


@pytest.mark.parametrize("text, line, col, message", [
    (".param r1 f32 x\n.param r1 u32 y", 2, 8, "r1 is declared twice"),
    (".param r1 f32 x\n.param r2 u32 x", 2, 15, "parameter name 'x' is declared twice"),
    (".param r1 f33 x", 1, 11, "expected a type"),
    (".param p1 f32 x", 1, 8, "expected register"),
    (".param r1 f32[ x", 1, 16, "expected ']'"),
    (".param r1 f32 x y", 1, 17, "unexpected 'y'"),
    (".param r1 f32 r5", 1, 15, "parameter name 'r5' looks like a register"),
    (".param r1 f32 1x", 1, 15, "expected a parameter name"),
    (".param r256 f32", 1, 8, "expected register"),
])
def test_bad_param_directives(text, line, col, message):
    e = asm_error(text)
    assert (e.line, e.column) == (line, col) and message in e.message, e


@pytest.mark.parametrize("params, message", [
    ([{"reg": 1, "type": "F32"}, {"reg": 1, "type": "U8"}], "r1 is declared twice"),
    ([{"reg": 1, "type": "F33"}], "unknown type"),
    ([{"type": "F32"}], "reg and type required"),
    ([{"reg": 1, "type": "F32", "size": 4}], "reg and type required"),
    ([{"reg": "1", "type": "F32"}], "out of range"),
    ([{"reg": 1, "type": "F32", "buffer": 1}], "buffer a bool"),
    ([{"reg": 1, "type": "F32", "name": 5}], "name must be a string"),
    ({"reg": 1}, "'params' must be a list"),
])
def test_bad_json_params(params, message):
    with pytest.raises(hg.ProgramError) as ei:
        Program.from_json(json.dumps({"instructions": [], "labels": {}, "params": params}))
    assert message in str(ei.value)


# --------------------------------------------------------------------------------------------
# §12.7 diagnostics

def test_mov_imm_float_integer_literal_warns():
    with pytest.warns(AssemblyWarning) as rec:
        p = assemble("exit\n    mov_imm.f32 r5, 2")
    assert len(rec) == 1
    w = rec[0].message
    assert isinstance(w, UserWarning)
    assert (w.line, w.column) == (2, 21)
    assert w.message == ("mov_imm.f32 with the integer literal 2 stores the bit pattern 2 "
                         "(2.8e-45); write 2.0 for the value, or 0x2 for the bit pattern")
    assert str(w).startswith("line 2, column 21: ")
    assert p[1].value == 2                       # the 1.0 meaning is kept
    with pytest.warns(AssemblyWarning, match="bit pattern 15360 .7.6e-320.; write 15360.0"):
        assemble("mov_imm.f64 r1, 15360")
    with pytest.warns(AssemblyWarning, match=r"mov_imm.f16 .* \(6e-08\)"):
        assemble("mov_imm.f16 r1, 1")


@pytest.mark.parametrize("text", [
    "mov_imm.f32 r5, 0x2", "mov_imm.f32 r5, 2.0", "mov_imm.f32 r5, 1e3", "mov_imm.f64 r5, inf",
    "mov_imm.u32 r5, 2", "mov_imm.i8 r5, -2", "mul.f32 r5, r5, 2",
    "mov_imm.f32 r5, 0",            # the pattern 0 is +0.0: nothing to warn about
])
def test_no_warning(text):
    with warnings.catch_warnings():
        warnings.simplefilter("error", AssemblyWarning)
        assemble(text)


@pytest.mark.parametrize("text, col, expected", [
    ("ld.global.f32 r1, [r2 + r3]", 1, "this ISA spells it ldg.f32"),
    ("st.shared.u32 [r2 + r3], r1", 1, "this ISA spells it sts.u32"),
    ("st.shared [r2 + r3], r1", 1, "this ISA spells it sts.T"),
    ("setp.lt.f32 p0, r1, r2", 1, "this ISA spells it setlt.f32"),
    ("@p0 add.u32 r1, r1, r2", 1, "branch around the instruction with bra.!p0"),
    ("@!p2 add.u32 r1, r1, r2", 1, "branch around the instruction with bra.p2"),
    ("bar.sync", 9, "write bar.sync 0"),
    ("shfl.sync.down.b32 r1, r2, 1, 31, 0xffffffff", 1, "this ISA spells it shfl.down.T"),
    # a few more PTX habits
    ("add.s32 r1, r1, r2", 1, "this ISA spells it add.i32"),
    ("mad.lo.s32 r1, r2, r3, r4", 1, "this ISA spells it mad.i32"),
    ("cvt.rn.f32.s32 r1, r2", 1, "this ISA spells it cvt.f32.i32"),
    ("setp.hs.u32 p0, r1, r2", 1, "this ISA spells it setgeu.u32"),
    ("ex2.approx.f32 r1, r2", 1, "this ISA spells it exp2.f32"),
    ("atom.shared.add.u32 r1, [r2 + r3], r4", 1, "this ISA spells it atoms.add.u32"),
    ("atom.global.add.f32 r1, [r2 + r3], r4", 1, "this ISA spells it atom.add.f32"),
    ("membar.gl", 1, "this ISA spells it memfence.device"),
    ("vote.sync.ballot.b32 r1, p0, 0xffffffff", 1, "this ISA spells it ballot.u32"),
    ("vote.sync.any.pred p1, p0, 0xffffffff", 1, "this ISA spells it vote.any"),
    ("ld.f32 r1, [r2 + r3]", 1, "ldg.f32 (global) or lds.f32 (shared)"),
    ("mov.u32 r1, %tid.x", 13, "PTX %tid.x is %lane.x"),
    ("mov.u32 r1, %ctaid.y", 13, "PTX %ctaid.y is %block.y"),
])
def test_ptx_spellings_name_the_equivalent(text, col, expected):
    e = asm_error(text)
    assert e.column == col and expected in e.message, e.message


def test_unknown_words_get_no_hint():
    assert asm_error("frobnicate r1").message == "unknown instruction 'frobnicate'"


def _kernel_sources():
    import importlib
    root = os.path.dirname(HERE)
    sys.path[:0] = [root, os.path.join(root, "bench")]    # bench scripts import their siblings
    try:
        bench = importlib.import_module("bench.kernels")
    finally:
        del sys.path[:2]
    return [v for k, v in vars(bench).items() if k.isupper() and isinstance(v, str)
            and ".kernel" in v and "{" not in v] + [VECTOR_ADD, BLOCK_SUM]


def test_project_kernels_never_warn():
    """The benchmark kernels and the spec examples assemble without AssemblyWarning; the op
    library's templates are checked by running its tests with the warning as an error."""
    sources = _kernel_sources()
    assert len(sources) >= 6
    with warnings.catch_warnings():
        warnings.simplefilter("error", AssemblyWarning)
        for src in sources:
            assemble(src)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                           "-W", "error::hologram.errors.AssemblyWarning",
                           os.path.join(HERE, "test_ops.py"), "-k", "not slow"],
                          capture_output=True, text=True, timeout=600, cwd=os.path.dirname(HERE))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


# --------------------------------------------------------------------------------------------
# Round trips of 1.1 programs

@given(programs(isa11=True, declarations=True, finite_epsilon=True))   # JSON: no ±inf (§9)
def test_isa11_program_round_trips(p):
    text = p.disassemble()
    assert assemble(text) == p
    assert Program.from_json(p.to_json()) == p
    assert assemble(text).disassemble() == text


@given(st.sampled_from([s for s in SPECS if s.since == "1.1" or s.variant in
                        ("ADD", "SHL", "SETcc", "SEL", "BRA", "LDG", "STS", "MOV_SREG", "POW")])
       .flatmap(lambda s: instructions(spec=s, labels=("lbl",), isa11=True,
                                       finite_epsilon=True)))
def test_isa11_instruction_round_trips(ins):
    line = str(ins)
    p = assemble(line + "\nlbl:")
    assert p[0] == ins and str(p[0]) == line
    if "@" not in line:
        assert one(line.upper()) == ins
    assert Program.from_json(p.to_json()) == p
