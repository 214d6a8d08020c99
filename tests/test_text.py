"""Assembler and disassembler (ISA.md §8; ORIGINAL-TEST-VECTORS.md §3, §6, §7)."""

from __future__ import annotations

import math
import struct
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import numpy as np
import pytest
from hypothesis import given, strategies as st

import hologram
from hologram import AssemblyError, HologramError, Program, ProgramError, assemble
from hologram.isa import (SPECS, AtomOp, BufferOffset, Cond, DType, Instruction, PhiCoordinate,
                          RegisterIndirect, RegisterIndirectComputed, Scope, SReg)
from hologram.text import format_imm, format_instruction

from isa_testlib import (BLOCK_SUM, VECTOR_ADD, VECTOR_ADD_CANONICAL, float_patterns,
                         instructions, programs)

F16, BF16, F32, F64 = DType.F16, DType.BF16, DType.F32, DType.F64
I8, I16, I32, I64, U8, U16, U32, U64 = (DType.I8, DType.I16, DType.I32, DType.I64, DType.U8,
                                        DType.U16, DType.U32, DType.U64)


def one(src: str) -> Instruction:
    """Assemble a one-instruction source and return the instruction."""
    p = assemble(src)
    assert len(p) == 1
    return p[0]


def imm(src: str) -> int:
    return one(src).value


def asm_error(src: str) -> AssemblyError:
    with pytest.raises(AssemblyError) as ei:
        assemble(src)
    return ei.value


# ------------------------------------------------------------------------------------------------
# §8.5: one example per instruction, in canonical form

ISA_EXAMPLES = [
    ("LDG", "ldg.f32 r10, [r1 + r0]"), ("STG", "stg.f32 [r3 + r0], r12"),
    ("LDS", "lds.f32 r11, [r0 + r26]"), ("STS", "sts.u32 [buf0 + 16], r5"),
    ("MOV", "mov.i32 r2, r1"), ("MOV_IMM", "mov_imm.f32 r0, 42.0"),
    ("MOV_SREG", "mov.u32 r5, %block.y"), ("CVT", "cvt.f32.i32 r2, r1"),
    ("ADD", "add.f32 r3, r1, r2"), ("SUB", "sub.i32 r3, r1, r2"),
    ("MUL", "mul.u64 r3, r1, r2"), ("DIV", "div.i32 r3, r1, r2"),
    ("REM", "rem.u32 r3, r1, r2"), ("MAD", "mad.i32 r4, r1, r2, r3"),
    ("FMA", "fma.f64 r4, r1, r2, r3"), ("MIN", "min.f16 r3, r1, r2"),
    ("MAX", "max.u8 r3, r1, r2"), ("ABS", "abs.i32 r2, r1"),
    ("NEG", "neg.bf16 r2, r1"), ("AND", "and.u32 r3, r1, r2"),
    ("OR", "or.u64 r3, r1, r2"), ("XOR", "xor.i16 r3, r1, r2"),
    ("NOT", "not.u32 r2, r1"), ("SHL", "shl.u64 r0, r255, r250"),
    ("SHR", "shr.i8 r3, r1, r2"), ("SETcc", "setgeu.u64 p0, r255, r4"),
    ("SEL", "sel.f32 r3, p0, r1, r2"), ("BRA", "bra.p0 @done"), ("BRA", "bra @loop"),
    ("CALL", "call @f"), ("RET", "ret"),
    ("LOOP", "loop r0, @loop_body"), ("EXIT", "exit"),
    ("BarSync", "bar.sync 0"), ("MemFence", "memfence.block"),
    ("ClsGet", "cls.get r0"), ("MIRROR", "mirror r1, r0"),
    ("UnityTest", "unity.test p0, 0.5"), ("NbrCount", "nbr.count r1, r0"),
    ("NbrGet", "nbr.get r2, r0, 3"), ("ResAccum", "res.accum r0, r1"),
    ("PhaseGet", "phase.get r0"), ("PhaseAdv", "phase.adv 30"),
    ("BoundMap", "bound.map r3, r0, r1, r2"), ("ReduceAdd", "reduce.add.f32 r0, r1, 5"),
    ("ReduceMin", "reduce.min.i32 r10, r1, 5"), ("ReduceMax", "reduce.max.i64 r10, r1, 5"),
    ("ReduceMul", "reduce.mul.i32 r10, r1, 4"), ("EXP", "exp.f32 r2, r1"),
    ("LOG", "log.f64 r2, r1"), ("LOG2", "log2.f32 r2, r1"),
    ("LOG10", "log10.f32 r2, r1"), ("SQRT", "sqrt.f32 r2, r1"),
    ("RSQRT", "rsqrt.f32 r2, r1"), ("SIN", "sin.f32 r2, r1"),
    ("COS", "cos.f16 r2, r1"), ("TAN", "tan.f64 r2, r1"),
    ("TANH", "tanh.f32 r2, r1"), ("SIGMOID", "sigmoid.f32 r2, r1"),
    ("POW", "pow.f32 r3, r1, r2"), ("PoolAlloc", "pool.alloc r1, 1024"),
    ("PoolFree", "pool.free r1"), ("PoolLoad", "pool.load.f32 r4, r1, r3"),
    ("PoolStore", "pool.store.f32 r1, r3, r2"), ("ATOM", "atom.add.f32 r14, [r2 + r33], r13"),
    ("ATOM_CAS", "atom.cas.u32 r5, [buf3 + 8], r6, r7"),
    ("ATOMS", "atoms.max.i32 r5, [r0 + r22], r6"),
    ("ATOMS_CAS", "atoms.cas.u64 r5, [buf0 + 0], r6, r7"),
    ("LDG", "ldg.f32 r0, [Φ(5, 12, 200)]"), ("LDG", "ldg.f32 r0, [r10 - 32]"),
    # ISA 1.1 (§12)
    ("PAND", "and.pred p0, p1, p2"), ("POR", "or.pred p0, p1, p2"),
    ("PXOR", "xor.pred p0, p1, p2"), ("PNOT", "not.pred p0, p1"),
    ("SHFL", "shfl.down.f32 r1, r2, 16"), ("VOTE", "vote.any p0, p1"),
    ("BALLOT", "ballot.u32 r1, p0"), ("ERF", "erf.f32 r2, r1"), ("EXP2", "exp2.f64 r2, r1"),
    ("FLOOR", "floor.f32 r2, r1"), ("CEIL", "ceil.f16 r2, r1"), ("TRUNC", "trunc.bf16 r2, r1"),
    ("ROUND", "round.f64 r2, r1"), ("BRA", "bra.!p3 @done"), ("SEL", "sel.f32 r3, !p0, r1, r2"),
    ("ADD", "add.u64 r1, r1, 4"), ("LDG", "ldg.f32 r11, [r1 + r20*4 - 4]"),
]

LABEL_TAIL = "\ndone:\nloop:\nf:\nloop_body:\n"


def test_examples_cover_every_instruction():
    assert {v for v, _ in ISA_EXAMPLES} == {s.variant for s in SPECS}


@pytest.mark.parametrize("variant,line", ISA_EXAMPLES, ids=[l for _, l in ISA_EXAMPLES])
def test_isa_example_assembles_and_prints_back(variant, line):
    p = assemble(line + LABEL_TAIL)
    assert len(p) == 1
    ins = p[0]
    assert ins.variant == variant
    assert str(ins) == line
    assert format_instruction(ins) == line
    assert p.disassemble().splitlines()[0] == "    " + line
    assert assemble(p.disassemble()) == p


def test_isa_example_fields():
    assert one("ldg.f32 r10, [r1 + r0]") == Instruction(
        "LDG", ty=F32, dst=10, addr=RegisterIndirectComputed(1, 0))
    assert one("stg.f32 [r3 + r0], r12") == Instruction(
        "STG", ty=F32, src=12, addr=RegisterIndirectComputed(3, 0))
    assert one("sts.u32 [buf0 + 16], r5") == Instruction("STS", ty=U32, src=5,
                                                          addr=BufferOffset(0, 16))
    assert one("cvt.f32.i32 r2, r1") == Instruction("CVT", src_ty=I32, dst_ty=F32, dst=2, src=1)
    assert one("setgeu.u64 p0, r255, r4") == Instruction("SETcc", ty=U64, cond=Cond.GEU, dst=0,
                                                          src1=255, src2=4)
    assert one("sel.f32 r3, p0, r1, r2") == Instruction("SEL", ty=F32, dst=3, pred=0,
                                                         src_true=1, src_false=2)
    assert one("mad.i32 r4, r1, r2, r3") == Instruction("MAD", ty=I32, dst=4, a=1, b=2, c=3)
    assert one("shl.u64 r0, r255, r250") == Instruction("SHL", ty=U64, dst=0, src=255,
                                                         amount=250)
    assert one("memfence.block") == Instruction("MemFence", scope=Scope.Block)
    assert one("unity.test p0, 0.5") == Instruction("UnityTest", dst=0, epsilon=0.5)
    assert one("nbr.count r1, r0") == Instruction("NbrCount", **{"class": 0, "dst": 1})
    assert one("nbr.get r2, r0, 3") == Instruction("NbrGet", **{"class": 0, "index": 3, "dst": 2})
    assert one("res.accum r0, r1") == Instruction("ResAccum", **{"class": 0, "value": 1})
    assert one("bound.map r3, r0, r1, r2") == Instruction(
        "BoundMap", **{"class": 0, "page": 1, "byte": 2, "dst": 3})
    assert one("phase.adv 30") == Instruction("PhaseAdv", delta=30)
    assert one("bar.sync 0") == Instruction("BarSync", id=0)
    assert one("reduce.add.f32 r0, r1, 5") == Instruction("ReduceAdd", ty=F32, dst=0,
                                                           src_base=1, count=5)
    assert one("pool.alloc r1, 1024") == Instruction("PoolAlloc", size=1024, dst=1)
    assert one("pool.free r1") == Instruction("PoolFree", handle=1)
    assert one("pool.load.f32 r4, r1, r3") == Instruction("PoolLoad", ty=F32, pool=1, offset=3,
                                                           dst=4)
    assert one("pool.store.f32 r1, r3, r2") == Instruction("PoolStore", ty=F32, pool=1,
                                                            offset=3, src=2)
    assert one("atom.add.f32 r14, [r2 + r33], r13") == Instruction(
        "ATOM", op=AtomOp.ADD, ty=F32, dst=14, addr=RegisterIndirectComputed(2, 33), src=13)
    assert one("atom.cas.u32 r5, [buf3 + 8], r6, r7") == Instruction(
        "ATOM_CAS", ty=U32, dst=5, addr=BufferOffset(3, 8), cmp=6, src=7)
    assert one("atoms.max.i32 r5, [r0 + r22], r6") == Instruction(
        "ATOMS", op=AtomOp.MAX, ty=I32, dst=5, addr=RegisterIndirectComputed(0, 22), src=6)
    assert one("mov.u32 r5, %block.y") == Instruction("MOV_SREG", dst=5, sreg=SReg.BlockY)
    assert one("ldg.f32 r0, [Φ(5, 12, 200)]").addr == PhiCoordinate(5, 12, 200)
    assert one("ldg.f32 r0, [r10 - 32]").addr == RegisterIndirect(10, -32)
    assert one("ldg.f32 r0, [r10 + 64]").addr == RegisterIndirect(10, 64)
    bra = assemble("bra.p0 @done\ndone:")
    assert bra[0] == Instruction("BRA", target="done", pred=0)
    assert assemble("bra @loop\nloop:")[0] == Instruction("BRA", target="loop", pred=None)
    assert assemble("loop r0, @loop_body\nloop_body:")[0] == Instruction("LOOP", count=0,
                                                                          body="loop_body")


# ------------------------------------------------------------------------------------------------
# ORIGINAL-TEST-VECTORS §7: Display strings

DISPLAY_VECTORS = [
    ("add.f32 r0, r1, r2", Instruction("ADD", ty=F32, dst=0, src1=1, src2=2)),
    ("pool.alloc r0, 4096", Instruction("PoolAlloc", size=4096, dst=0)),
    ("pool.free r0", Instruction("PoolFree", handle=0)),
    ("pool.load.f32 r2, r0, r1", Instruction("PoolLoad", ty=F32, pool=0, offset=1, dst=2)),
    ("pool.store.f32 r0, r1, r2", Instruction("PoolStore", ty=F32, pool=0, offset=1, src=2)),
    ("setlt.i32 p0, r1, r2", Instruction("SETcc", ty=I32, cond=Cond.LT, dst=0, src1=1, src2=2)),
    ("bra.p0 @exit", Instruction("BRA", target="exit", pred=0)),
    ("bra @loop", Instruction("BRA", target="loop", pred=None)),
    ("loop r0, @loop_body", Instruction("LOOP", count=0, body="loop_body")),
    ("cvt.f32.i32 r2, r1", Instruction("CVT", src_ty=I32, dst_ty=F32, dst=2, src=1)),
    ("stg.f32 [r3 + r0], r12", Instruction("STG", ty=F32, src=12,
                                            addr=RegisterIndirectComputed(3, 0))),
    ("ldg.f32 r10, [r1 + r0]", Instruction("LDG", ty=F32, dst=10,
                                            addr=RegisterIndirectComputed(1, 0))),
    ("mov_imm.f32 r0, 1109917696", Instruction("MOV_IMM", ty=F32, dst=0, value=1109917696)),
    ("bar.sync 0", Instruction("BarSync", id=0)),
    ("memfence.block", Instruction("MemFence", scope=Scope.Block)),
    ("nbr.get r2, r0, 3", Instruction("NbrGet", **{"class": 0, "index": 3, "dst": 2})),
    ("bound.map r3, r0, r1, r2", Instruction("BoundMap", **{"class": 0, "page": 1, "byte": 2,
                                                             "dst": 3})),
    ("reduce.add.f32 r0, r1, 5", Instruction("ReduceAdd", ty=F32, dst=0, src_base=1, count=5)),
    ("unity.test p0, 0.5", Instruction("UnityTest", dst=0, epsilon=0.5)),
    ("ldg.f32 r0, [buf42 + 128]", Instruction("LDG", ty=F32, dst=0, addr=BufferOffset(42, 128))),
    ("ldg.f32 r0, [Φ(5, 12, 200)]", Instruction("LDG", ty=F32, dst=0,
                                                 addr=PhiCoordinate(5, 12, 200))),
    ("ldg.f32 r0, [r10 + 64]", Instruction("LDG", ty=F32, dst=0, addr=RegisterIndirect(10, 64))),
    ("ldg.f32 r0, [r10 - 32]", Instruction("LDG", ty=F32, dst=0,
                                            addr=RegisterIndirect(10, -32))),
    ("mov.f32 r255, r0", Instruction("MOV", ty=F32, dst=255, src=0)),
    ("setgeu.u8 p15, r1, r2", Instruction("SETcc", ty=U8, cond=Cond.GEU, dst=15, src1=1,
                                          src2=2)),
    ("seteq.i64 p0, r1, r2", Instruction("SETcc", ty=I64, cond=Cond.EQ, dst=0, src1=1, src2=2)),
    ("add.bf16 r0, r1, r2", Instruction("ADD", ty=BF16, dst=0, src1=1, src2=2)),
]


@pytest.mark.parametrize("text,ins", DISPLAY_VECTORS, ids=[t for t, _ in DISPLAY_VECTORS])
def test_original_display_strings_assemble(text, ins):
    labels = "\nexit:\nloop:\nloop_body:\n"
    assert assemble(text + labels)[0] == ins
    # every Display string prints back identically, except mov_imm with a float type, which
    # prints its value as a float literal (§8.4)
    expected = "mov_imm.f32 r0, 42.0" if text.startswith("mov_imm.f32") else text
    assert str(ins) == expected


def test_display_of_parts():
    assert [t.text for t in (F32, I64, U8, BF16)] == ["f32", "i64", "u8", "bf16"]
    assert [c.text for c in (Cond.EQ, Cond.LT, Cond.GEU)] == ["eq", "lt", "geu"]
    assert [s.text for s in Scope] == ["thread", "block", "device", "system"]
    assert [str(a) for a in (BufferOffset(42, 128), PhiCoordinate(5, 12, 200),
                             RegisterIndirect(10, 64), RegisterIndirect(10, -32),
                             RegisterIndirectComputed(1, 0))] == [
        "[buf42 + 128]", "[Φ(5, 12, 200)]", "[r10 + 64]", "[r10 - 32]", "[r1 + r0]"]
    assert [str(one(f"memfence.{s}")) for s in ("thread", "block", "device", "system")] == [
        "memfence.thread", "memfence.block", "memfence.device", "memfence.system"]
    assert str(Instruction("BRA", target="loop_start")) == "bra @loop_start"
    assert str(Instruction("RET")) == "ret" and str(Instruction("EXIT")) == "exit"


def test_all_special_register_names():
    names = {"%lane.x": SReg.LaneX, "%lane.y": SReg.LaneY, "%lane.z": SReg.LaneZ,
             "%block.x": SReg.BlockX, "%block.y": SReg.BlockY, "%block.z": SReg.BlockZ,
             "%blockdim.x": SReg.BlockDimX, "%blockdim.y": SReg.BlockDimY,
             "%blockdim.z": SReg.BlockDimZ, "%griddim.x": SReg.GridDimX,
             "%griddim.y": SReg.GridDimY, "%griddim.z": SReg.GridDimZ, "%gid": SReg.GlobalId,
             "%laneid": SReg.LaneId, "%warpid": SReg.WarpId}
    assert set(names.values()) == set(SReg)
    for name, sreg in names.items():
        ty = "u64" if name == "%gid" else "u32"
        line = f"mov.{ty} r7, {name}"
        ins = one(line)
        assert ins == Instruction("MOV_SREG", dst=7, sreg=sreg)
        assert str(ins) == line
        other = "u32" if ty == "u64" else "u64"
        e = asm_error(f"mov.{other} r7, {name}")
        assert (e.line, e.column) in {(1, 1), (1, 13)}
        with pytest.raises(AssemblyError):
            assemble(f"mov.f32 r7, {name}")


def test_mov_sreg_types():
    assert one("mov.u64 r1, %gid") == Instruction("MOV_SREG", dst=1, sreg=SReg.GlobalId)
    assert one("mov.u32 r5, %block.y").sreg is SReg.BlockY
    for bad in ("mov.u32 r1, %gid", "mov.u64 r1, %lane.x", "mov.i32 r1, %lane.x",
                "mov.u32 r1, %foo", "mov.u32 r1, %lane.w", "mov.u32 r1, %lane"):
        e = asm_error(bad)
        assert e.line == 1


# ------------------------------------------------------------------------------------------------
# §8.6 example kernels

def test_vector_add_kernel():
    p = assemble(VECTOR_ADD)
    assert len(p) == 9
    assert dict(p.labels) == {"done": 8}
    assert (p.name, p.block, p.shared_memory) == ("vector_add", (256, 1, 1), None)
    assert [i.variant for i in p] == ["SETcc", "BRA", "MOV_IMM", "SHL", "LDG", "LDG", "ADD",
                                      "STG", "EXIT"]
    assert p[0] == Instruction("SETcc", ty=U64, cond=Cond.GEU, dst=0, src1=255, src2=4)
    assert p[1] == Instruction("BRA", target="done", pred=0)
    assert p[2] == Instruction("MOV_IMM", ty=U32, dst=250, value=2)
    assert p[7] == Instruction("STG", ty=F32, src=12, addr=RegisterIndirectComputed(3, 0))
    assert p.disassemble() == VECTOR_ADD_CANONICAL
    assert str(p) == VECTOR_ADD_CANONICAL
    assert assemble(p.disassemble()) == p
    assert Program.from_json(p.to_json()) == p
    assert Program.from_json(p.to_json(indent=2)) == p


def test_block_sum_kernel():
    p = assemble(BLOCK_SUM)
    assert len(p) == 33
    assert dict(p.labels) == {"stash": 9, "step": 14, "sync": 23, "done": 32}
    assert (p.name, p.block, p.shared_memory) == ("block_sum", (256, 1, 1), 1024)
    assert p[0] == Instruction("MOV_SREG", dst=20, sreg=SReg.LaneX)
    assert p[4] == Instruction("MOV_IMM", ty=F32, dst=10, value=0)
    assert p[9] == Instruction("STS", ty=F32, src=10, addr=RegisterIndirectComputed(0, 22))
    assert p[29] == Instruction("LDS", ty=F32, dst=13, addr=BufferOffset(0, 0))
    assert p[31] == Instruction("ATOM", op=AtomOp.ADD, ty=F32, dst=14,
                                addr=RegisterIndirectComputed(2, 33), src=13)
    assert p[32].variant == "EXIT"
    text = p.disassemble()
    lines = text.splitlines()
    assert lines[:3] == [".kernel block_sum", ".block 256, 1, 1", ".shared 1024"]
    assert lines[3] == "    mov.u32 r20, %lane.x"
    assert "stash:\n    sts.f32 [r0 + r22], r10\n" in text
    assert "sync:\n    bar.sync 0\n" in text
    assert lines[-2:] == ["done:", "    exit"]
    assert sum(1 for l in lines if l.startswith("    ")) == 33
    assert assemble(text) == p
    assert Program.from_json(p.to_json()) == p


# ------------------------------------------------------------------------------------------------
# §8.3 immediates

def test_mov_imm_float_literal_equals_raw_bits():
    assert one("mov_imm.f32 r0, 42.0") == one("mov_imm.f32 r0, 1109917696")
    assert imm("mov_imm.f32 r0, 42.0") == 1109917696 == 0x42280000
    assert str(one("mov_imm.f32 r0, 1109917696")) == "mov_imm.f32 r0, 42.0"
    assert imm("mov_imm.f32 r1, 1065353216") == 0x3F800000
    assert imm("mov_imm.f64 r1, 4607182418800017408") == 0x3FF0000000000000
    assert str(one("mov_imm.f64 r1, 4607182418800017408")) == "mov_imm.f64 r1, 1.0"


def test_mov_imm_negative_signed():
    ins = one("mov_imm.i32 r1, -1")
    assert ins.value == 2**64 - 1
    assert str(ins) == "mov_imm.i32 r1, -1"
    assert imm("mov_imm.i8 r1, -128") == 2**64 - 128
    assert imm("mov_imm.i64 r1, -9223372036854775808") == 2**63
    assert str(one("mov_imm.i64 r1, -9223372036854775808")) == \
        "mov_imm.i64 r1, -9223372036854775808"
    # a non-negative literal is stored verbatim, and signed types print as signed 64-bit
    assert imm("mov_imm.i32 r1, 18446744073709551615") == 2**64 - 1
    assert str(one("mov_imm.i32 r1, 18446744073709551615")) == "mov_imm.i32 r1, -1"
    assert imm("mov_imm.i8 r1, 511") == 511
    assert str(one("mov_imm.i8 r1, 511")) == "mov_imm.i8 r1, 511"
    assert str(one("mov_imm.i16 r1, 9223372036854775808")) == \
        "mov_imm.i16 r1, -9223372036854775808"


def test_mov_imm_unsigned():
    assert imm("mov_imm.u64 r1, 18446744073709551615") == 2**64 - 1
    assert str(one("mov_imm.u64 r1, 18446744073709551615")) == \
        "mov_imm.u64 r1, 18446744073709551615"
    assert str(one("mov_imm.u8 r1, 300")) == "mov_imm.u8 r1, 300"
    assert imm("mov_imm.u32 r1, 0") == 0


def test_mov_imm_hex():
    assert imm("mov_imm.u32 r1, 0xFF") == 255
    assert imm("mov_imm.u32 r1, 0XfF") == 255
    assert imm("mov_imm.u64 r1, 0xFFFFFFFFFFFFFFFF") == 2**64 - 1
    assert imm("mov_imm.i32 r1, -0x10") == 2**64 - 16
    assert imm("mov_imm.f32 r1, 0x3f800000") == 0x3F800000
    assert str(one("mov_imm.f32 r1, 0x3F800000")) == "mov_imm.f32 r1, 1.0"
    assert imm("mov_imm.f16 r1, 0x3C00") == 0x3C00
    with pytest.raises(AssemblyError):
        assemble("mov_imm.u64 r1, 0x10000000000000000")


NAN_INF = [
    # type, nan, -nan, inf, -inf
    (F16, 0x7E00, 0xFE00, 0x7C00, 0xFC00),
    (BF16, 0x7FC0, 0xFFC0, 0x7F80, 0xFF80),
    (F32, 0x7FC00000, 0xFFC00000, 0x7F800000, 0xFF800000),
    (F64, 0x7FF8000000000000, 0xFFF8000000000000, 0x7FF0000000000000, 0xFFF0000000000000),
]


@pytest.mark.parametrize("ty,nan,mnan,inf,minf", NAN_INF, ids=[t[0].text for t in NAN_INF])
def test_nan_inf_literals(ty, nan, mnan, inf, minf):
    t = ty.text
    for lit, bits in (("nan", nan), ("-nan", mnan), ("inf", inf), ("-inf", minf)):
        ins = one(f"mov_imm.{t} r0, {lit}")
        assert ins.value == bits
        assert str(ins) == f"mov_imm.{t} r0, {lit}"
    # case-insensitive spellings
    assert imm(f"mov_imm.{t} r0, NaN") == nan
    assert imm(f"mov_imm.{t} r0, -NAN") == mnan
    assert imm(f"mov_imm.{t} r0, +nan") == nan
    assert imm(f"mov_imm.{t} r0, INF") == inf
    assert imm(f"mov_imm.{t} r0, Infinity") == inf
    assert imm(f"mov_imm.{t} r0, -infinity") == minf
    assert imm(f"mov_imm.{t} r0, +inf") == inf
    # overflow of a finite literal rounds to infinity
    assert imm(f"mov_imm.{t} r0, 1e400") == inf
    assert imm(f"mov_imm.{t} r0, -1e400") == minf
    # a non-canonical NaN pattern prints as the raw integer
    payload_nan = nan | 1
    assert str(Instruction("MOV_IMM", ty=ty, dst=0, value=payload_nan)) == \
        f"mov_imm.{t} r0, {payload_nan}"


FLOAT_LITERALS = [
    (F32, "0.1", 0x3DCCCCCD), (F32, "-1.0", 0xBF800000), (F32, "-0.0", 0x80000000),
    (F32, "0.0", 0), (F32, "1e-45", 1), (F32, "3.4028235e38", 0x7F7FFFFF),
    (F32, "3.40282356e38", 0x7F7FFFFF), (F32, "3.4028236e38", 0x7F800000),
    (F32, "1e39", 0x7F800000), (F32, ".5", 0x3F000000),
    (F32, "5.", 0x40A00000), (F32, "2E3", 0x44FA0000), (F32, "+1.5", 0x3FC00000),
    (F64, "0.1", 0x3FB999999999999A), (F64, "-0.0", 1 << 63), (F64, "5e-324", 1),
    (F64, "1.7976931348623157e308", 0x7FEFFFFFFFFFFFFF),
    (F16, "1.0", 0x3C00), (F16, "65504.0", 0x7BFF), (F16, "65519.99", 0x7BFF),
    (F16, "65520.0", 0x7C00), (F16, "6e-08", 0x0001), (F16, "1e-8", 0x0000),
    (F16, "-1e-8", 0x8000), (F16, "0.333", 0x3554),
    (BF16, "1.0", 0x3F80), (BF16, "3.14159", 0x4049), (BF16, "-2.0", 0xC000),
    (BF16, "3.4e38", 0x7F80),
    # double rounding as cvt.T.f64 (f64 -> f32 -> T, §5.5): the f32 lands exactly on the
    # f16/bf16 midpoint, which then ties to even (direct rounding would round up)
    (F16, "1.0004882812500009", 0x3C00), (BF16, "1.0039062500001", 0x3F80),
    # just above the midpoint even in f32: rounds up
    (F16, "1.0004884", 0x3C01), (BF16, "1.0039064", 0x3F81),
    # within half an f32 ulp of the midpoint: f32 rounds onto it, then ties to even
    (F16, "1.00048829", 0x3C00), (BF16, "1.0039063", 0x3F80),
]


@pytest.mark.parametrize("ty,lit,bits", FLOAT_LITERALS,
                         ids=[f"{t.text}-{l}" for t, l, _ in FLOAT_LITERALS])
def test_float_literal_bits(ty, lit, bits):
    assert imm(f"mov_imm.{ty.text} r3, {lit}") == bits


@pytest.mark.parametrize("src", [
    "mov_imm.i32 r0, 1.5", "mov_imm.u8 r0, 1.0", "mov_imm.i64 r0, 1e3", "mov_imm.u32 r0, inf",
    "mov_imm.i32 r0, nan", "mov_imm.u32 r0, -1", "mov_imm.u64 r0, -0x1", "mov_imm.f32 r0, -1",
    "mov_imm.f64 r0, -5", "mov_imm.u64 r0, 18446744073709551616",
    "mov_imm.i64 r0, -9223372036854775809", "mov_imm.f32 r0, 18446744073709551616",
    "mov_imm.i32 r0, +1", "mov_imm.f32 r0, 1e", "mov_imm.f32 r0, abc", "mov_imm.f32 r0, r1",
    "mov_imm.f32 r0,", "mov_imm.f32 r0, 0x", "mov_imm.f32 r0, --1.0", "mov_imm.f32 r0, 1.0.0",
])
def test_bad_immediates(src):
    e = asm_error(src)
    assert e.line == 1
    assert isinstance(e, ProgramError)


SHORTEST = [
    (F32, 0x3DCCCCCD, "0.1"), (F32, 0x42280000, "42.0"), (F32, 0x3F800000, "1.0"),
    (F32, 0x80000000, "-0.0"), (F32, 0, "0.0"), (F32, 1, "1e-45"), (F32, 0x501502F9, "1e+10"),
    (F32, 0x47F12000, "123456.0"), (F32, 0x7F7FFFFF, "3.4028235e+38"),
    (F32, 0x0F800000, "1.2621775e-29"), (F32, 0x00000010, "2.2e-44"),
    (F32, 0x38D1B717, "0.0001"), (F32, 0x3727C5AC, "1e-05"), (F32, 0xC0490FDB, "-3.1415927"),
    (F64, 0x3FB999999999999A, "0.1"), (F64, 0x4341C37937E08000, "1e+16"),
    (F64, 0x4330000000000000, "4503599627370496.0"), (F64, 1, "5e-324"),
    (F64, 0x7FEFFFFFFFFFFFFF, "1.7976931348623157e+308"), (F64, 1 << 63, "-0.0"),
    (F64, 0x0060000000000000, "7.120236347223045e-307"),
    (F16, 0x3C00, "1.0"), (F16, 0x7BFF, "6.55e+04"), (F16, 0x7BFE, "6.547e+04"), (F16, 0x6400, "1024.0"), (F16, 0x0001, "6e-08"),
    (F16, 0x3555, "0.3333"), (F16, 0x2400, "0.01563"), (F16, 0xA400, "-0.01563"),
    (F16, 0x8000, "-0.0"), (F16, 0x0400, "6.104e-05"),
    (BF16, 0x3F80, "1.0"), (BF16, 0x4049, "3.14"), (BF16, 0x0400, "1.51e-36"),
    (BF16, 0x5F80, "1.85e+19"), (BF16, 0x7F7F, "3.39e+38"),
]


@pytest.mark.parametrize("ty,bits,text", SHORTEST,
                         ids=[f"{t.text}-{b:#x}" for t, b, _ in SHORTEST])
def test_shortest_float_printing(ty, bits, text):
    assert format_imm(ty, bits) == text
    ins = Instruction("MOV_IMM", ty=ty, dst=1, value=bits)
    assert str(ins) == f"mov_imm.{ty.text} r1, {text}"
    assert imm(str(ins)) == bits


def test_raw_high_bits_print_as_integers():
    for ty, value in ((F32, 2**32 + 0x3F800000), (F16, 0x13C00), (BF16, 2**64 - 1),
                      (F32, 2**64 - 1)):
        ins = Instruction("MOV_IMM", ty=ty, dst=0, value=value)
        assert str(ins) == f"mov_imm.{ty.text} r0, {value}"
        assert one(str(ins)) == ins


def _sig_digits(s: str) -> int:
    mant = s.lstrip("-").split("e")[0].replace(".", "").lstrip("0").rstrip("0")
    return max(len(mant), 1)


def _shorter_literal(ty: DType, bits: int, x: float, digits: int):
    """A decimal with fewer than ``digits`` significant digits that assembles to ``bits``."""
    exact = Decimal(x)
    for k in range(1, digits):
        q = Decimal(1).scaleb(exact.adjusted() - k + 1)
        for rounding in (ROUND_FLOOR, ROUND_CEILING):
            c = exact.quantize(q, rounding=rounding)
            for cand in (c - q, c, c + q):
                literal = format(cand, "E")          # a float literal: "-3E+0"
                if imm(f"mov_imm.{ty.text} r0, {literal}") == bits:
                    return literal
    return None


def _check_printed(ty: DType, bits: int, shortest: bool = True) -> None:
    text = format_imm(ty, bits)
    x = float(np.float64(0))  # placeholder to keep the type checker quiet
    if ty == F64:
        x = struct.unpack("<d", struct.pack("<Q", bits))[0]
    elif ty == F32:
        x = struct.unpack("<f", struct.pack("<I", bits))[0]
    elif ty == F16:
        x = float(np.uint16(bits).view(np.float16))
    else:
        x = struct.unpack("<f", struct.pack("<I", bits << 16))[0]
    assert imm(f"mov_imm.{ty.text} r0, {text}") == bits
    if math.isnan(x):
        sign = bits >> (ty.bits - 1)
        canonical = dict((t, n) for t, n, _, _, _ in NAN_INF)[ty]
        expected = ("-nan" if sign else "nan") if bits & ~(1 << (ty.bits - 1)) == canonical \
            else str(bits)
        assert text == expected
        return
    if math.isinf(x):
        assert text == ("inf" if x > 0 else "-inf")
        return
    assert "." in text or "e" in text
    assert float(text) == 0.0 or text.lstrip("-")[0] in "123456789" or text.startswith(
        ("0.", "-0."))
    if ty == F64:
        # Python's repr is the shortest round-trip decimal for f64
        assert _sig_digits(text) == _sig_digits(repr(x))
    elif shortest and x != 0:
        assert _shorter_literal(ty, bits, x, _sig_digits(text)) is None, text


@given(float_patterns(F16))
def test_f16_printing_round_trips_and_is_shortest(bits):
    _check_printed(F16, bits)


@given(float_patterns(BF16))
def test_bf16_printing_round_trips_and_is_shortest(bits):
    _check_printed(BF16, bits)


@given(float_patterns(F32))
def test_f32_printing_round_trips_and_is_shortest(bits):
    _check_printed(F32, bits)


@given(float_patterns(F64))
def test_f64_printing_round_trips_and_is_shortest(bits):
    _check_printed(F64, bits)


@pytest.mark.parametrize("ty", [F16, BF16], ids=["f16", "bf16"])
def test_every_16_bit_pattern_round_trips(ty):
    src = "\n".join(f"mov_imm.{ty.text} r0, {format_imm(ty, b)}" for b in range(1 << 16))
    p = assemble(src)
    assert [i.value for i in p] == list(range(1 << 16))


@pytest.mark.slow
@pytest.mark.parametrize("ty", [F16, BF16], ids=["f16", "bf16"])
def test_every_16_bit_pattern_prints_shortest(ty):
    for b in range(1 << 16):
        _check_printed(ty, b)


@pytest.mark.parametrize("ty", [F32, F64], ids=["f32", "f64"])
def test_powers_of_two_print_shortest(ty):
    # powers of two have an asymmetric rounding interval: the correctly rounded n-digit decimal
    # may miss it while another n-digit decimal hits it
    mbits, ebits = (23, 8) if ty == F32 else (52, 11)
    for e in range(1, (1 << ebits) - 1, 1 if ty == F32 else 7):
        _check_printed(ty, e << mbits)


def test_unity_test_epsilon():
    assert one("unity.test p0, 0.5").epsilon == 0.5
    assert one("unity.test p0, -0.25").epsilon == -0.25
    assert one("unity.test p0, 5").epsilon == 5.0
    assert one("unity.test p0, +5").epsilon == 5.0
    assert one("unity.test p0, -5").epsilon == -5.0
    assert one("unity.test p0, 0x10").epsilon == 16.0
    assert one("unity.test p0, -0x10").epsilon == -16.0
    assert one("unity.test p0, 1e400").epsilon == math.inf
    assert one("unity.test p0, -inf").epsilon == -math.inf
    assert math.isnan(one("unity.test p0, NaN").epsilon)
    assert math.copysign(1.0, one("unity.test p0, -0.0").epsilon) == -1.0
    assert str(one("unity.test p0, 1e-10")) == "unity.test p0, 1e-10"
    assert str(one("unity.test p0, 0.1")) == "unity.test p0, 0.1"
    assert str(one("unity.test p0, 5")) == "unity.test p0, 5.0"
    assert str(one("unity.test p0, -0.0")) == "unity.test p0, -0.0"
    assert str(one("unity.test p0, nan")) == "unity.test p0, nan"
    assert str(one("unity.test p0, inf")) == "unity.test p0, inf"
    assert str(one("unity.test p0, -inf")) == "unity.test p0, -inf"
    # the original's Display of an f64 (Rust): plain decimals, NaN
    assert one("unity.test p0, 0.0000000001").epsilon == 1e-10
    assert math.isnan(one("unity.test p0, NaN").epsilon)
    assert one("unity.test p0, 1" + "0" * 20).epsilon == 1e20
    for bad in ("unity.test p0, x", "unity.test p0,", "unity.test p0, 0.5 1", "unity.test r0, 1"):
        asm_error(bad)


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_unity_test_epsilon_round_trips(x):
    ins = Instruction("UnityTest", dst=3, epsilon=x)
    assert str(ins) == f"unity.test p3, {x!r}"
    back = one(str(ins)).epsilon
    if math.isnan(x):
        assert math.isnan(back)
    else:
        assert struct.pack("<d", back) == struct.pack("<d", x)


# ------------------------------------------------------------------------------------------------
# §8.1 lexical rules

def test_comments():
    src = """; a comment line
// another
# and another
exit ; trailing
exit // trailing
exit # trailing
   ; indented comment
ret;no space
x: # label then comment
"""
    p = assemble(src)
    assert [str(i) for i in p] == ["exit", "exit", "exit", "ret"]
    assert dict(p.labels) == {"x": 4}
    # a comment marker ends the line even inside what looks like an operand
    assert one("add.f32 r1, r2, r3 ; , r4") == one("add.f32 r1, r2, r3")
    assert one("mov_imm.u32 r1, 5 # 6") .value == 5
    assert one("mov_imm.u32 r1, 5 // 6").value == 5


def test_crlf_and_whitespace():
    lf = "a:\n    add.f32 r1, r2, r3\n\tbra @a\nexit\n"
    crlf = lf.replace("\n", "\r\n")
    assert assemble(crlf) == assemble(lf)
    assert assemble("exit") == assemble("exit\n") == assemble("\n\n  exit  \n\n")
    assert one("add.f32\tr1,r2 ,\tr3") == one("add.f32 r1, r2, r3")
    assert one("ldg.f32 r0,[r1+r2]") == one("ldg.f32 r0, [ r1 + r2 ]")
    assert one("ldg.f32 r0, [ Φ ( 1 , 2 , 3 ) ]").addr == PhiCoordinate(1, 2, 3)
    assert one("ldg.f32 r0, [r10-32]").addr == RegisterIndirect(10, -32)
    assert len(assemble("")) == 0
    assert len(assemble("\r\n\r\n")) == 0


def test_case_insensitivity():
    assert one("ADD.F32 R1, R2, R3") == one("add.f32 r1, r2, r3")
    assert one("MOV_IMM.F32 R0, 0X3F800000").value == 0x3F800000
    assert one("LDG.F32 R0, [BUF5 + 0X10]") == Instruction("LDG", ty=F32, dst=0,
                                                           addr=BufferOffset(5, 16))
    assert one("ldg.f32 r0, [PHI(1, 2, 3)]") == one("ldg.f32 r0, [phi(1, 2, 3)]") == \
        one("ldg.f32 r0, [Φ(1, 2, 3)]") == one("ldg.f32 r0, [Phi(1, 2, 3)]")
    assert one("SETGEU.U64 P0, R255, R4") == one("setgeu.u64 p0, r255, r4")
    assert one("SetLtU.I32 p0, r1, r2").cond is Cond.LTU
    assert one("MEMFENCE.SYSTEM").scope is Scope.System
    assert one("MOV.U32 R5, %BLOCK.Y") == Instruction("MOV_SREG", dst=5, sreg=SReg.BlockY)
    assert one("mov.U64 r1, %GID").sreg is SReg.GlobalId
    assert one("ATOM.ADD.F32 R14, [R2 + R33], R13").op is AtomOp.ADD
    assert one("Atoms.Cas.U64 r5, [Buf0 + 0], r6, r7").variant == "ATOMS_CAS"
    assert one("REDUCE.MAX.I64 R10, R1, 5").variant == "ReduceMax"
    assert one("CVT.F32.I32 r2, r1") == one("cvt.f32.i32 r2, r1")
    assert one("MOV_IMM.F64 R0, -INF").value == 0xFFF0000000000000
    assert one("mov_imm.f16 r0, NaN").value == 0x7E00
    assert one("POOL.ALLOC r1, 0X400").size == 1024
    assert one("Bar.Sync 0x1F").id == 31
    p = assemble("BRA.P3 @x\nx:")
    assert p[0] == Instruction("BRA", target="x", pred=3)
    assert str(p[0]) == "bra.p3 @x"


def test_labels_case_sensitive():
    p = assemble("Loop: exit\nloop: exit\nLOOP:\nbra @Loop\nbra @loop\nbra @LOOP")
    assert dict(p.labels) == {"Loop": 0, "loop": 1, "LOOP": 2}
    assert [i.target for i in p[2:]] == ["Loop", "loop", "LOOP"]
    e = asm_error("loop: exit\nbra @LOOP")
    assert (e.line, e.column) == (2, 1)
    assert "LOOP" in e.message
    # kernel names are case-sensitive too
    assert assemble(".kernel MyKernel").name == "MyKernel"


def test_labels_on_lines():
    p = assemble("a: b: c: exit\nd:\ne: f:\n  ret\ng:")
    assert dict(p.labels) == {"a": 0, "b": 0, "c": 0, "d": 1, "e": 1, "f": 1, "g": 2}
    p = assemble("a:b:exit")
    assert dict(p.labels) == {"a": 0, "b": 0}
    # a label alone at the end is bound to len
    p = assemble("exit\nexit\nend:")
    assert p.labels["end"] == 2 == len(p)
    p = assemble("end:")
    assert dict(p.labels) == {"end": 0} and len(p) == 0
    # label names: letters, digits, _, ., $; mnemonic-like names are fine
    p = assemble("_x.y$1: exit: ret: r1: p0: bra @_x.y$1\nbra @exit\nbra @r1")
    assert dict(p.labels) == {"_x.y$1": 0, "exit": 0, "ret": 0, "r1": 0, "p0": 0}
    # a label defined after its use
    p = assemble("bra @later\nexit\nlater: exit")
    assert p.labels["later"] == 2
    # a label before a directive binds to the next instruction
    p = assemble("a: .kernel k\nexit")
    assert p.labels["a"] == 0 and p.name == "k"


def test_addresses():
    buf = one("ldg.u8 r0, [buf5]").addr
    assert buf == BufferOffset(5, 0) == one("ldg.u8 r0, [buf5 + 0]").addr
    assert one("ldg.u8 r0, [r1]").addr == RegisterIndirect(1, 0) == \
        one("ldg.u8 r0, [r1 + 0]").addr
    assert one("ldg.u8 r0, [r10 - 32]").addr == RegisterIndirect(10, -32)
    assert one("ldg.u8 r0, [r10 - 2147483648]").addr == RegisterIndirect(10, -2**31)
    assert one("ldg.u8 r0, [r10 + 2147483647]").addr == RegisterIndirect(10, 2**31 - 1)
    assert one("ldg.u8 r0, [r10 - 0]").addr == RegisterIndirect(10, 0)
    assert str(one("ldg.u8 r0, [r10 - 0]")) == "ldg.u8 r0, [r10 + 0]"
    assert one("ldg.u8 r0, [r10 + 0x20]").addr == RegisterIndirect(10, 32)
    assert one("ldg.u8 r0, [r255 + r254]").addr == RegisterIndirectComputed(255, 254)
    assert one("ldg.u8 r0, [Φ(1, 2, 3)]") == one("ldg.u8 r0, [phi(1, 2, 3)]")
    assert one("ldg.u8 r0, [Φ(95, 47, 255)]").addr == PhiCoordinate(95, 47, 255)
    assert one("ldg.u8 r0, [buf0x10 + 0x20]").addr == BufferOffset(16, 32)
    assert one("ldg.u8 r0, [buf 7 + 1]").addr == BufferOffset(7, 1)
    assert one("ldg.u8 r0, [buf18446744073709551615 + 18446744073709551615]").addr == \
        BufferOffset(2**64 - 1, 2**64 - 1)
    # every address mode works for shared-memory instructions and atomics as well
    assert one("lds.f32 r0, [buf0 + 16]").addr == BufferOffset(0, 16)
    assert one("sts.f32 [r3 - 4], r1").addr == RegisterIndirect(3, -4)
    assert one("atoms.add.u32 r0, [Φ(0, 0, 4)], r1").addr == PhiCoordinate(0, 0, 4)
    for bad in ("[r10 + 2147483648]", "[r10 - 2147483649]", "[buf18446744073709551616]",
                "[buf1 + 18446744073709551616]", "[Φ(256, 0, 0)]", "[Φ(1, 2)]", "[Φ(1, 2, 3, 4)]",
                "[r256]", "[r1 + r256]", "[r1 - r2]", "[buf1 - 4]", "[q1]", "[]", "[r1",
                "r1", "[1]", "[buf]", "[r1 + -4]", "[r1 + buf2]", "[Φ 1, 2, 3]"):
        e = asm_error(f"ldg.u8 r0, {bad}")
        assert e.line == 1 and e.column >= 12, bad


def test_bra_forms():
    p = assemble("x: bra.p3 @x\nbra @x\nbra.p15 @x\nbra.p0 @x")
    assert [(i.target, i.pred) for i in p] == [("x", 3), ("x", None), ("x", 15), ("x", 0)]
    assert [str(i) for i in p] == ["bra.p3 @x", "bra @x", "bra.p15 @x", "bra.p0 @x"]
    for bad in ("bra.p16 @x", "bra x", "bra @", "bra.r1 @x", "bra @x, p0", "call.p0 @x",
                "bra @1x"):
        asm_error("x: " + bad)


def test_directives():
    p = assemble(".kernel k1\n.block 16\n.shared 0x100\nexit")
    assert (p.name, p.block, p.shared_memory) == ("k1", (16, 1, 1), 256)
    assert assemble(".block 8, 4").block == (8, 4, 1)
    assert assemble(".block 8,4,2").block == (8, 4, 2)
    assert assemble(".block 0x10, 2, 3").block == (16, 2, 3)
    assert assemble(".shared 0").shared_memory == 0
    p = assemble("exit")
    assert (p.name, p.block, p.shared_memory) == (None, None, None)
    # directives may appear anywhere (they are not instructions)
    p = assemble("exit\n.kernel late\nexit")
    assert len(p) == 2 and p.name == "late"
    assert assemble(".kernel a.b$c_1").name == "a.b$c_1"
    assert assemble(".kernel k ; comment").name == "k"


@pytest.mark.parametrize("src,line,col", [
    (".block 1, 2, 3, 4", 1, 15),
    (".block", 1, 7),
    (".block 1,", 1, 10),
    (".block -1", 1, 8),
    (".block 1.5", 1, 8),
    (".shared -1", 1, 9),
    (".shared", 1, 8),
    (".shared 18446744073709551616", 1, 9),
    (".kernel", 1, 8),
    (".kernel 1x", 1, 9),
    (".kernel a b", 1, 11),
    (".foo 1", 1, 1),
    ("exit\n  .kernel a\n  .kernel b", 3, 3),
    (".block 1\n.block 2", 2, 1),
    (".shared 1\n.shared 1", 2, 1),
])
def test_bad_directives(src, line, col):
    e = asm_error(src)
    assert (e.line, e.column) == (line, col)


# ------------------------------------------------------------------------------------------------
# AssemblyError positions

@pytest.mark.parametrize("src,line,col", [
    ("foo r1", 1, 1),
    ("exit\n  foo r1", 2, 3),
    ("exit\r\nfoo\r\n", 2, 1),
    ("x: foo", 1, 4),
    ("add.f33 r1, r2, r3", 1, 1),
    ("add r1, r2, r3", 1, 1),
    ("add.f32 r256, r1, r2", 1, 9),
    ("add.f32 r1, r1, r999", 1, 17),
    ("add.f32 r1, p1, r2", 1, 13),
    ("setlt.i32 p16, r1, r2", 1, 11),
    ("setlt.i32 r1, r1, r2", 1, 11),
    ("sel.f32 r3, p99, r1, r2", 1, 13),
    ("add.f32 r1, r1 r2", 1, 16),
    ("add.f32 r1 r1, r2", 1, 12),
    ("add.f32 r1, r2", 1, 15),
    ("add.f32 r1, r1, r2 r3", 1, 20),
    ("add.f32 r1, r1, r2,", 1, 19),
    ("exit now", 1, 6),
    ("exit !", 1, 6),
    ("ldg.f32r0, [r1]", 1, 1),
    ("exit\n\tbogus.f32 r1", 2, 2),
    ("ldg.f32 r0, [q1]", 1, 14),
    ("ldg.f32 r0, r1", 1, 13),
    ("ldg.f32 r0, [r1 + r2", 1, 21),
    ("ldg.f32 r0, [r1 + ]", 1, 19),
    ("  ldg.f32 r0, [Φ(1, 2)]", 1, 22),
    ("mov_imm.i32 r1, 1.5", 1, 17),
    ("mov_imm.u8 r1, -1", 1, 16),
    ("bar.sync 256", 1, 10),
    ("phase.adv 65536", 1, 11),
    ("nbr.get r2, r0, 256", 1, 17),
    ("pool.alloc r1, -1", 1, 16),
    ("bra.p16 @x\nx:", 1, 1),
    ("loop r0, x\nx:", 1, 10),
    ("exit\n\n    bra @nowhere", 3, 5),
    ("a: exit\n  b: call @c", 2, 6),
    ("x:\n  x: exit", 2, 3),
    ("x: y: x: exit", 1, 7),
    ("1x: exit", 1, 1),
    # validation errors point at the instruction's line and mnemonic
    ("exit\nexit\n   and.f32 r3, r1, r2", 3, 4),
    ("setltu.f32 p0, r1, r2", 1, 1),
    ("exit\n reduce.add.f32 r0, r250, 7", 2, 2),
    ("\n\nldg.f32 r0, [Φ(0, 48, 0)]", 3, 1),
])
def test_assembly_error_positions(src, line, col):
    e = asm_error(src)
    assert (e.line, e.column) == (line, col), e
    assert e.source == src.replace("\r", "").split("\n")[line - 1]
    assert f"line {line}, column {col}" in str(e)
    assert isinstance(e, ProgramError) and isinstance(e, HologramError)


def test_assembly_error_details():
    e = asm_error("exit\nbra @undefined_label")
    assert e.message == "undefined label 'undefined_label' referenced in instruction 1"
    e = asm_error("x: exit\nx: exit")
    assert "duplicate label" in e.message and "'x'" in e.message
    e = asm_error("frobnicate.f32 r1, r2")
    assert "frobnicate.f32" in e.message
    assert issubclass(AssemblyError, ProgramError)
    assert issubclass(ProgramError, HologramError)
    assert hologram.AssemblyError is AssemblyError
    with pytest.raises(TypeError):
        assemble(b"exit")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------
# Disassembly format (§8.4) and round trips

def test_disassembly_canonical_layout():
    p = Program([Instruction("EXIT"), Instruction("BRA", target="b", pred=2),
                 Instruction("RET")],
                {"b": 1, "a": 1, "z": 0, "end": 3, "end2": 3},
                name="k", block=(4, 2, 1), shared_memory=64)
    assert p.disassemble() == (
        ".kernel k\n.block 4, 2, 1\n.shared 64\n"
        "z:\n    exit\na:\nb:\n    bra.p2 @b\n    ret\nend:\nend2:\n")
    assert assemble(p.disassemble()) == p
    assert Program().disassemble() == "\n"
    assert assemble(Program().disassemble()) == Program()


def test_disassemble_rejects_non_identifier_names():
    p = Program([Instruction("EXIT")], {"not a label": 0})
    with pytest.raises(ProgramError):
        p.disassemble()
    p = Program([Instruction("EXIT")], name="bad name")
    with pytest.raises(ProgramError):
        p.disassemble()
    p = Program([Instruction("BRA", target="1abc")], {"1abc": 0})
    with pytest.raises(ProgramError):
        p.disassemble()


@pytest.mark.parametrize("spec", SPECS, ids=[s.variant for s in SPECS])
def test_every_type_combination_round_trips(spec):
    """One instruction per allowed type (and cond/op/type pair) of every table entry."""
    from isa_testlib import ORDERED_CONDS, PLAIN_ATOM_OPS
    from hologram.isa import ENUMS, T_WIDE_INT
    base = {"dst": 7, "src": 9, "src1": 1, "src2": 200, "a": 1, "b": 2, "c": 3, "src_true": 4,
            "src_false": 5, "cmp": 6, "pred": 3, "amount": 11, "count": 4, "src_base": 250,
            "pool": 1, "offset": 2, "handle": 3, "size": 4096, "target": "t", "body": "t",
            "id": 7, "epsilon": 0.25, "index": 4, "class": 12, "page": 13, "byte": 14,
            "delta": 700, "value": 0x3C00, "sreg": SReg.GridDimZ, "scope": Scope.Device,
            "addr": RegisterIndirect(8, -8), "lane": 5, "negate": True,
            "mode": next((f for f in spec.fields if f.name == "mode"), None)}
    if spec.group == "predicate":
        base.update(dst=0, src1=1, src2=2, src=3)
    if base["mode"] is not None:
        base["mode"] = list(ENUMS[base["mode"].kind])[-1]
    if spec.variant.startswith("Reduce"):
        base["count"] = 6
    if spec.variant == "ResAccum":
        base["value"] = 2
    combos = [{}]
    names = [f.name for f in spec.fields]
    if "ty" in names:
        combos = [{"ty": t} for t in sorted(spec.types)]
    if "src_ty" in names:
        combos = [{"src_ty": s, "dst_ty": d} for s in DType for d in DType]
    if "cond" in names:
        combos = [dict(c, cond=k) for c in combos
                  for k in (Cond if c["ty"].is_int else ORDERED_CONDS)]
    if "op" in names:
        combos = [dict(c, op=o) for c in combos
                  for o in (AtomOp if c["ty"] in T_WIDE_INT else PLAIN_ATOM_OPS)]
    if spec.variant == "MOV_SREG":
        combos = [{"sreg": s} for s in SReg]
    if spec.variant == "MemFence":
        combos = [{"scope": s} for s in Scope]
    ins_list = [Instruction(spec.variant, **{n: c[n] if n in c else base[n] for n in names})
                for c in combos]
    p = Program(ins_list, {"t": 0})
    assert len(p) == len(combos)
    text = p.disassemble()
    assert assemble(text) == p
    assert Program.from_json(p.to_json()) == p
    for ins in ins_list:
        assert one(str(ins) + "\nt:") == ins


@given(programs())
def test_text_round_trip(p):
    text = p.disassemble()
    q = assemble(text)
    assert q == p
    assert q.disassemble() == text


@given(st.sampled_from(SPECS).flatmap(lambda s: instructions(spec=s, labels=("lbl",))))
def test_instruction_text_round_trip(ins):
    line = str(ins)
    p = assemble(line + "\nlbl:")
    assert p[0] == ins
    assert str(p[0]) == line
    # the same line in upper case assembles to the same instruction (labels excepted)
    if "@" not in line:
        assert one(line.upper()) == ins


@given(st.lists(st.sampled_from(list("r0123456789p.,[]()+-:@%; #/\tΦxXabfeinu_$\r\n") +
                                ["buf", "phi", "nan", "inf", "f32", "u64", "mov_imm", "ldg",
                                 "0x", "1e5", ".block", ".kernel", ".shared"]),
                max_size=40).map("".join))
def test_garbage_raises_only_assembly_errors(src):
    try:
        assemble(src)
    except AssemblyError as e:
        assert e.line >= 1 and e.column >= 1


@given(programs(max_instructions=4), st.data())
def test_mutated_programs_raise_only_assembly_errors(p, data):
    src = p.disassemble()
    i = data.draw(st.integers(0, len(src)))
    ch = data.draw(st.sampled_from(list("r1p.,[]()+-:@%;Φx e") + ["\n"]))
    mutated = data.draw(st.sampled_from([src[:i] + src[i + 1:], src[:i] + ch + src[i:]]))
    try:
        q = assemble(mutated)
    except AssemblyError as e:
        assert 1 <= e.line <= mutated.count("\n") + 1
    else:
        assert assemble(q.disassemble()) == q
