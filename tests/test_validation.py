"""Program validation (ISA.md §7.4, §5 type sets; ORIGINAL-TEST-VECTORS.md §3 and §6)."""

from __future__ import annotations

import math

import pytest

from hologram import AssemblyError, HologramError, Program, ProgramError, assemble
from hologram.isa import (SPECS, AtomOp, BufferOffset, Cond, DType, Instruction, PhiCoordinate,
                          RegisterIndirect, RegisterIndirectComputed, Scope, ShflMode, SReg)

I8, I16, I32, I64, U8, U16, U32, U64, F16, BF16, F32, F64 = DType
A = frozenset(DType)
I = frozenset({I8, I16, I32, I64, U8, U16, U32, U64})
S = frozenset({I8, I16, I32, I64})
F = frozenset({F16, BF16, F32, F64})
W = frozenset({I32, I64, U32, U64, F32, F64})
WI = frozenset({I32, I64, U32, U64})

# The type sets of ISA.md §5, written out independently of hologram.isa.SPECS.
EXPECTED_TYPES = {
    **{v: A for v in ("LDG", "STG", "LDS", "STS", "MOV", "MOV_IMM", "ADD", "SUB", "MUL",
                      "DIV", "MAD", "MIN", "MAX", "SETcc", "SEL", "ReduceAdd", "ReduceMin",
                      "ReduceMax", "ReduceMul", "PoolLoad", "PoolStore", "SHFL")},
    "REM": I, "FMA": F, "ABS": S | F, "NEG": S | F,
    **{v: I for v in ("AND", "OR", "XOR", "NOT", "SHL", "SHR")},
    **{v: F for v in ("EXP", "LOG", "LOG2", "LOG10", "SQRT", "RSQRT", "SIN", "COS", "TAN",
                      "TANH", "SIGMOID", "POW", "ERF", "EXP2", "FLOOR", "CEIL", "TRUNC",
                      "ROUND")},
    **{v: W for v in ("ATOM", "ATOM_CAS", "ATOMS", "ATOMS_CAS")},
}

FIELDS = {"dst": 7, "src": 9, "src1": 1, "src2": 2, "a": 1, "b": 2, "c": 3, "src_true": 4,
          "src_false": 5, "cmp": 6, "pred": 3, "amount": 11, "count": 4, "src_base": 10,
          "pool": 1, "offset": 2, "value": 0, "addr": BufferOffset(1, 0), "cond": Cond.EQ,
          "op": AtomOp.ADD, "src_ty": F32, "dst_ty": F32, "negate": False, "lane": 1,
          "mode": ShflMode.DOWN}


def make(variant: str, ty: DType, **over) -> Instruction:
    spec = next(s for s in SPECS if s.variant == variant)
    args = {f.name: (ty if f.name == "ty" else FIELDS[f.name]) for f in spec.fields}
    args.update(over)
    return Instruction(variant, **args)


def program_error(*instructions, labels=None, **kw) -> ProgramError:
    with pytest.raises(ProgramError) as ei:
        Program(list(instructions), labels or {}, **kw)
    return ei.value


def test_type_sets_match_the_spec():
    typed = {s.variant: s.types for s in SPECS if any(f.name == "ty" for f in s.fields)}
    assert typed == EXPECTED_TYPES
    untyped = {s.variant for s in SPECS} - set(typed)
    assert untyped == {"MOV_SREG", "CVT", "BRA", "CALL", "RET", "LOOP", "EXIT", "BarSync",
                       "MemFence", "PoolAlloc", "PoolFree", "ClsGet", "MIRROR", "UnityTest",
                       "NbrCount", "NbrGet", "ResAccum", "PhaseGet", "PhaseAdv", "BoundMap",
                       "PAND", "POR", "PXOR", "PNOT", "VOTE", "BALLOT"}


def test_cvt_accepts_all_144_pairs():
    p = Program([Instruction("CVT", src_ty=s, dst_ty=d, dst=1, src=2) for s in DType
                 for d in DType])
    assert len(p) == 144
    assert len({str(i) for i in p}) == 144


PREFIX = [Instruction("EXIT"), Instruction("MOV", ty=F32, dst=1, src=2)]


@pytest.mark.parametrize("variant", sorted(EXPECTED_TYPES))
def test_each_type_accepted_or_rejected(variant):
    for ty in DType:
        ins = make(variant, ty)
        if ty in EXPECTED_TYPES[variant]:
            p = Program(PREFIX + [ins])
            assert p.validate() is p
        else:
            e = program_error(*PREFIX, ins)
            assert type(e) is ProgramError
            assert e.index == 2
            assert e.instruction == str(ins)
            assert str(e).startswith(f"instruction 2 ({ins}): ")
            with pytest.raises(AssemblyError) as ei:
                assemble(f"exit\nmov.f32 r1, r2\n  {ins}")
            assert (ei.value.line, ei.value.column) == (3, 3)
            # Program(validate=False) defers the same error to validate()
            q = Program(PREFIX + [ins], validate=False)
            with pytest.raises(ProgramError) as ei2:
                q.validate()
            assert ei2.value.index == 2 and ei2.value.message == e.message


@pytest.mark.parametrize("line", [
    "and.f32 r3, r1, r2", "abs.u32 r2, r1", "setltu.f32 p0, r1, r2", "atom.add.u16 r0, [r1 + r2], r3",
    "fma.i32 r4, r1, r2, r3", "rem.f32 r3, r1, r2", "rem.bf16 r3, r1, r2", "not.f64 r2, r1",
    "shl.f32 r0, r1, r2", "shr.f16 r0, r1, r2", "neg.u8 r2, r1", "abs.u64 r2, r1",
    "exp.i32 r2, r1", "sqrt.u64 r2, r1", "pow.i32 r3, r1, r2", "sigmoid.u8 r2, r1",
    "xor.bf16 r3, r1, r2", "or.f16 r3, r1, r2",
    "setleu.f64 p0, r1, r2", "setgtu.bf16 p0, r1, r2", "setgeu.f16 p0, r1, r2",
    "atom.and.f32 r0, [r1 + r2], r3", "atom.or.f64 r0, [r1 + r2], r3",
    "atoms.xor.f32 r0, [buf0 + 0], r3", "atom.add.i8 r0, [r1 + r2], r3",
    "atom.min.f16 r0, [r1 + r2], r3", "atoms.max.bf16 r0, [r1 + r2], r3",
    "atom.exch.u8 r0, [r1 + r2], r3", "atom.cas.u16 r0, [r1 + r2], r3, r4",
    "atoms.cas.f16 r0, [buf0 + 0], r3, r4", "atom.and.i16 r0, [r1 + r2], r3",
])
def test_invalid_type_lines(line):
    with pytest.raises(AssemblyError) as ei:
        assemble("exit\n\n" + line)
    assert (ei.value.line, ei.value.column) == (3, 1)
    assert type(ei.value) is AssemblyError
    ty = line.split(" ")[0].rsplit(".", 1)[1]
    assert ty in ei.value.message


def test_invalid_types_message():
    e = program_error(Instruction("AND", ty=F32, dst=3, src1=1, src2=2))
    assert e.index == 0
    assert e.message == "type f32 is not allowed for and"
    assert str(e) == "instruction 0 (and.f32 r3, r1, r2): type f32 is not allowed for and"
    e = program_error(Instruction("SETcc", ty=F32, cond=Cond.LTU, dst=0, src1=1, src2=2))
    assert "setltu" in e.message and "f32" in e.message
    e = program_error(make("ATOM", F64, op=AtomOp.XOR))
    assert "xor" in e.message and "f64" in e.message


def test_unsigned_conditions_only_on_integers():
    for cond in Cond:
        for ty in DType:
            ins = Instruction("SETcc", ty=ty, cond=cond, dst=0, src1=1, src2=2)
            if cond >= Cond.LTU and ty.is_float:
                assert program_error(ins).index == 0
            else:
                Program([ins])


def test_atomic_bitwise_ops_only_on_wide_integers():
    for variant in ("ATOM", "ATOMS"):
        for op in AtomOp:
            for ty in DType:
                ins = make(variant, ty, op=op)
                ok = ty in WI or (ty in W and op in (AtomOp.ADD, AtomOp.MIN, AtomOp.MAX,
                                                     AtomOp.EXCH))
                if ok:
                    Program([ins])
                else:
                    assert program_error(Instruction("EXIT"), ins).index == 1


def test_mov_sreg_text_type_must_match():
    assert assemble("mov.u64 r1, %gid")[0].sreg is SReg.GlobalId
    for bad in ("mov.u32 r1, %gid", "mov.u64 r1, %block.x", "mov.f32 r1, %lane.x",
                "mov.i32 r1, %griddim.z"):
        with pytest.raises(AssemblyError):
            assemble(bad)


# ------------------------------------------------------------------------------------------------
# Labels (ORIGINAL-TEST-VECTORS §6)

def test_label_out_of_range():
    e = program_error(Instruction("EXIT"), labels={"bad": 100})
    assert type(e) is ProgramError
    assert e.message == "label 'bad' points to invalid instruction index 100 (max: 1)"
    assert str(e) == e.message
    assert e.index is None
    e = program_error(*[Instruction("EXIT")] * 50, labels={"bad": 100})
    assert e.message == "label 'bad' points to invalid instruction index 100 (max: 50)"
    e = program_error(Instruction("EXIT"), labels={"bad_label": 100})
    assert e.message == "label 'bad_label' points to invalid instruction index 100 (max: 1)"
    e = program_error(labels={"neg": -1})
    assert e.message == "label 'neg' points to invalid instruction index -1 (max: 0)"
    for idx in (2, 1.0, True, "0", None):
        program_error(Instruction("EXIT"), labels={"x": idx})
    # index len is the end of the program
    p = Program([Instruction("EXIT")], {"end": 1, "start": 0})
    assert dict(p.labels) == {"end": 1, "start": 0}
    assert Program([], {"a": 0}).labels["a"] == 0


def test_label_checks_come_first_in_name_order():
    bad_ins = Instruction("AND", ty=F32, dst=3, src1=1, src2=2)
    e = program_error(bad_ins, Instruction("BRA", target="nowhere"),
                      labels={"zeta": 9, "alpha": 7, "mid": 0})
    assert e.message == "label 'alpha' points to invalid instruction index 7 (max: 2)"
    # then instructions in index order
    e = program_error(Instruction("EXIT"), bad_ins, Instruction("BRA", target="nowhere"))
    assert e.index == 1
    e = program_error(Instruction("EXIT"), Instruction("BRA", target="nowhere"), bad_ins)
    assert e.index == 1
    assert e.message == "undefined label 'nowhere' referenced in instruction 1"


def test_undefined_labels():
    e = program_error(Instruction("BRA", target="undefined"))
    assert e.index == 0
    assert e.message == "undefined label 'undefined' referenced in instruction 0"
    assert e.instruction == "bra @undefined"
    e = program_error(*[Instruction("EXIT")] * 10, Instruction("CALL", target="missing"))
    assert e.index == 10
    assert e.message == "undefined label 'missing' referenced in instruction 10"
    e = program_error(Instruction("EXIT"), Instruction("LOOP", count=0, body="body"),
                      labels={"Body": 0})
    assert e.index == 1   # labels are case-sensitive
    e = program_error(Instruction("BRA", target="x", pred=2))
    assert e.instruction == "bra.p2 @x"


def test_original_program_vectors():
    assert len(Program()) == 0 and dict(Program().labels) == {}
    p = Program([Instruction("MOV", ty=I32, dst=0, src=1), Instruction("EXIT")])
    assert len(p) == 2 and len(p.labels) == 0
    p = assemble("start:\nexit\nend:")
    assert dict(p.labels) == {"start": 0, "end": 1}
    p = assemble("loop_start: mov.i32 r0, r1\nbra @loop_start")
    assert p.labels["loop_start"] == 0 and p.labels.get("unknown") is None
    p = assemble("a: exit\nb: exit\nc: exit")
    assert [p.labels[n] for n in "abc"] == [0, 1, 2]
    with pytest.raises(AssemblyError) as ei:
        assemble("loop:\nloop:")
    assert "duplicate label" in ei.value.message and "loop" in ei.value.message
    assert ei.value.line == 2
    with pytest.raises(AssemblyError) as ei:
        assemble("bra @undefined")
    assert ei.value.message == "undefined label 'undefined' referenced in instruction 0"


# ------------------------------------------------------------------------------------------------
# Φ coordinates and register ranges (§7.4 item 4; ORIGINAL-TEST-VECTORS §3)

@pytest.mark.parametrize("variant", ["LDG", "STG", "LDS", "STS", "ATOM", "ATOMS", "ATOM_CAS",
                                     "ATOMS_CAS"])
def test_phi_coordinate_ranges(variant):
    for c, p, b in ((0, 0, 0), (0, 0, 255), (0, 1, 0), (1, 0, 0), (95, 47, 255), (95, 0, 0),
                    (0, 47, 0)):
        Program([make(variant, U32, addr=PhiCoordinate(c, p, b))])
    for c, p in ((96, 0), (0, 48), (255, 0), (0, 255), (96, 48)):
        e = program_error(Instruction("EXIT"), Instruction("EXIT"),
                          make(variant, U32, addr=PhiCoordinate(c, p, 0)))
        assert e.index == 2
        assert "class < 96" in e.message and "page < 48" in e.message
    with pytest.raises(AssemblyError) as ei:
        assemble("exit\nldg.f32 r0, [Φ(0, 48, 0)]")
    assert (ei.value.line, ei.value.column) == (2, 1)
    with pytest.raises(AssemblyError):
        assemble("ldg.f32 r0, [Φ(96, 0, 0)]")


@pytest.mark.parametrize("variant", ["ReduceAdd", "ReduceMin", "ReduceMax", "ReduceMul"])
def test_reduction_register_range(variant):
    for base, count in ((250, 6), (255, 1), (0, 256), (0, 0), (255, 0), (1, 255), (128, 128)):
        Program([make(variant, F32, src_base=base, count=count)])
    for base, count in ((250, 7), (255, 2), (0, 257), (1, 256), (1, 2**32 - 1), (129, 128)):
        e = program_error(Instruction("EXIT"), make(variant, F32, src_base=base, count=count))
        assert e.index == 1
        assert "r255" in e.message
    with pytest.raises(AssemblyError) as ei:
        assemble(f"exit\n {variant.replace('Reduce', 'reduce.').lower()}.f32 r0, r250, 7")
    assert (ei.value.line, ei.value.column) == (2, 2)


# ------------------------------------------------------------------------------------------------
# Field ranges (§7.4 item 2): checked when an instruction is built

@pytest.mark.parametrize("variant,fields", [
    ("ADD", dict(ty=F32, dst=256, src1=1, src2=2)),
    ("ADD", dict(ty=F32, dst=-1, src1=1, src2=2)),
    ("ADD", dict(ty=F32, dst=1.0, src1=1, src2=2)),
    ("ADD", dict(ty=F32, dst=True, src1=1, src2=2)),
    ("ADD", dict(ty=F32, dst="r1", src1=1, src2=2)),
    ("ADD", dict(ty="f128", dst=0, src1=1, src2=2)),
    ("ADD", dict(ty=12, dst=0, src1=1, src2=2)),
    ("ADD", dict(ty=F32, dst=0, src1=1)),
    ("ADD", dict(ty=F32, dst=0, src1=1, src2=2, src3=3)),
    ("SETcc", dict(ty=I32, cond=Cond.EQ, dst=16, src1=1, src2=2)),
    ("SETcc", dict(ty=I32, cond="ult", dst=0, src1=1, src2=2)),
    ("SEL", dict(ty=I32, dst=0, pred=-1, src_true=1, src_false=2)),
    ("BRA", dict(target="x", pred=16)),
    ("BRA", dict(target=5)),
    ("BarSync", dict(id=256)),
    ("PhaseAdv", dict(delta=65536)),
    ("NbrGet", {"class": 0, "index": 256, "dst": 1}),
    ("ReduceAdd", dict(ty=F32, dst=0, src_base=0, count=2**32)),
    ("MOV_IMM", dict(ty=U64, dst=0, value=2**64)),
    ("MOV_IMM", dict(ty=I64, dst=0, value=-1)),
    ("MOV_IMM", dict(ty=F32, dst=0, value=1.5)),
    ("PoolAlloc", dict(size=2**64, dst=0)),
    ("LDG", dict(ty=F32, dst=0, addr=BufferOffset(2**64, 0))),
    ("LDG", dict(ty=F32, dst=0, addr=BufferOffset(0, -1))),
    ("LDG", dict(ty=F32, dst=0, addr=RegisterIndirect(1, 2**31))),
    ("LDG", dict(ty=F32, dst=0, addr=RegisterIndirect(1, -2**31 - 1))),
    ("LDG", dict(ty=F32, dst=0, addr=RegisterIndirect(256, 0))),
    ("LDG", dict(ty=F32, dst=0, addr=RegisterIndirectComputed(1, 256))),
    ("LDG", dict(ty=F32, dst=0, addr=PhiCoordinate(0, 0, 256))),
    ("LDG", dict(ty=F32, dst=0, addr=(1, 0))),
    ("MemFence", dict(scope="Global")),
    ("MOV_SREG", dict(dst=0, sreg="%lane.w")),
    ("UnityTest", dict(dst=0, epsilon="0.5")),
    ("UnityTest", dict(dst=0, epsilon=True)),
    ("NOP", {}),
    ("LayerNorm", {}),
    ("Gemm", {}),
])
def test_field_ranges(variant, fields):
    with pytest.raises(ProgramError):
        Instruction(variant, **fields)


def test_field_range_limits_accepted():
    Program([Instruction("ADD", ty=F32, dst=255, src1=0, src2=255),
             Instruction("SEL", ty=I32, dst=0, pred=15, src_true=1, src_false=2),
             Instruction("BarSync", id=255), Instruction("PhaseAdv", delta=65535),
             Instruction("NbrGet", **{"class": 0, "index": 255, "dst": 1}),
             Instruction("MOV_IMM", ty=U64, dst=0, value=2**64 - 1),
             Instruction("PoolAlloc", size=2**64 - 1, dst=0),
             Instruction("LDG", ty=F32, dst=0, addr=BufferOffset(2**64 - 1, 2**64 - 1)),
             Instruction("LDG", ty=F32, dst=0, addr=RegisterIndirect(255, -2**31)),
             Instruction("LDG", ty=F32, dst=0, addr=RegisterIndirect(0, 2**31 - 1)),
             Instruction("UnityTest", dst=15, epsilon=10**400),
             Instruction("UnityTest", dst=15, epsilon=-10**400)])
    assert Instruction("UnityTest", dst=0, epsilon=10**400).epsilon == math.inf
    assert Instruction("UnityTest", dst=0, epsilon=-10**400).epsilon == -math.inf
    # enums and types accept their text and JSON names
    assert Instruction("ADD", ty="f32", dst=0, src1=1, src2=2) == \
        Instruction("ADD", ty="F32", dst=0, src1=1, src2=2)
    assert Instruction("MemFence", scope="block").scope is Scope.Block
    assert Instruction("MemFence", scope="Block").scope is Scope.Block


def test_bra_pred_defaults_to_none():
    assert Instruction("BRA", target="x").pred is None
    assert Instruction("BRA", target="x", pred=None) == Instruction("BRA", target="x")


def test_directive_validation():
    for kw in (dict(shared_memory=-1), dict(shared_memory=1.5), dict(shared_memory=True),
               dict(shared_memory=2**64), dict(block=(2**32, 1, 1)), dict(block=(1, 2, 3, 4)),
               dict(block=()), dict(block=(-1,)), dict(block=(1.5,)), dict(block="8"),
               dict(name=5)):
        with pytest.raises(ProgramError):
            Program([], **kw)
    p = Program([], name="k", block=(2**32 - 1, 1, 1), shared_memory=2**64 - 1)
    assert assemble(p.disassemble()) == p
    assert Program([], block=8).block == (8, 1, 1)
    assert Program([], block=(8, 2)).block == (8, 2, 1)


# ------------------------------------------------------------------------------------------------
# Errors, equality, immutability

def test_exception_hierarchy():
    assert issubclass(ProgramError, HologramError)
    assert issubclass(AssemblyError, ProgramError)
    e = ProgramError("boom", 3, "exit")
    assert (e.message, e.index, e.instruction) == ("boom", 3, "exit")
    assert str(e) == "instruction 3 (exit): boom"
    assert str(ProgramError("boom")) == "boom"
    a = AssemblyError("bad", 2, 5, "  foo")
    assert (a.line, a.column, a.source, a.message, a.index) == (2, 5, "  foo", "bad", None)
    assert str(a).startswith("line 2, column 5: bad")


def test_first_failure_is_reported():
    e = program_error(Instruction("EXIT"), make("AND", F32), make("ABS", U32),
                      make("FMA", I32))
    assert e.index == 1


def test_instruction_equality():
    nan_a = Instruction("UnityTest", dst=0, epsilon=math.nan)
    nan_b = Instruction("UnityTest", dst=0, epsilon=-math.nan)
    assert nan_a == nan_b and hash(nan_a) == hash(nan_b)
    assert Instruction("UnityTest", dst=0, epsilon=0.0) != Instruction("UnityTest", dst=0,
                                                                        epsilon=-0.0)
    assert Instruction("MOV_IMM", ty=F32, dst=0, value=0x7FC00000) != \
        Instruction("MOV_IMM", ty=F32, dst=0, value=0x7FC00001)
    assert Instruction("ADD", ty=F32, dst=0, src1=1, src2=2) != \
        Instruction("SUB", ty=F32, dst=0, src1=1, src2=2)
    assert Instruction("ADD", ty=F32, dst=0, src1=1, src2=2) != \
        Instruction("ADD", ty=F64, dst=0, src1=1, src2=2)
    p = Program([Instruction("EXIT")], {"a": 0})
    assert p == Program([Instruction("EXIT")], {"a": 0})
    assert p != Program([Instruction("EXIT")], {"b": 0})
    assert p != Program([Instruction("EXIT")], {"a": 1})
    assert p != Program([Instruction("EXIT")], {"a": 0}, name="k")
    assert p != Program([Instruction("EXIT")], {"a": 0}, block=1)
    assert p != Program([Instruction("EXIT")], {"a": 0}, shared_memory=0)


def test_programs_and_instructions_are_immutable():
    p = Program([Instruction("EXIT")], {"a": 0})
    assert isinstance(p.instructions, tuple)
    with pytest.raises(TypeError):
        p.labels["b"] = 0  # type: ignore[index]
    ins = Instruction("EXIT")
    with pytest.raises(AttributeError):
        ins.variant = "RET"  # type: ignore[misc]
    add = Instruction("ADD", ty=F32, dst=0, src1=1, src2=2)
    with pytest.raises(AttributeError):
        add.dst = 3
    assert add.args == {"ty": F32, "dst": 0, "src1": 1, "src2": 2}
    assert list(add.args) == ["ty", "dst", "src1", "src2"]
