"""JSON codec (ISA.md §9): exact shape, round trips, and rejection of everything else."""

from __future__ import annotations

import copy
import json
import math

import pytest
from hypothesis import given, strategies as st

from hologram import AssemblyError, Program, ProgramError, assemble
from hologram.isa import SPECS, DType, Instruction

from isa_testlib import VECTOR_ADD, programs

# ------------------------------------------------------------------------------------------------
# §9: the start of vector_add, verbatim

SECTION_9 = """\
{"instructions": [
  {"SETcc": {"ty": "U64", "cond": "GEU", "dst": 0, "src1": 255, "src2": 4}},
  {"BRA": {"target": "done", "pred": 0}},
  {"MOV_IMM": {"ty": "U32", "dst": 250, "value": 2}},
  {"SHL": {"ty": "U64", "dst": 0, "src": 255, "amount": 250}},
  {"LDG": {"ty": "F32", "dst": 10, "addr": {"RegisterIndirectComputed": {"handle_reg": 1, "offset_reg": 0}}}},
  "…", "EXIT"],
 "labels": {"done": 8}, "name": "vector_add", "block": [256, 1, 1]}
"""

VECTOR_ADD_REST = [
    {"LDG": {"ty": "F32", "dst": 11,
             "addr": {"RegisterIndirectComputed": {"handle_reg": 2, "offset_reg": 0}}}},
    {"ADD": {"ty": "F32", "dst": 12, "src1": 10, "src2": 11}},
    {"STG": {"ty": "F32", "src": 12,
             "addr": {"RegisterIndirectComputed": {"handle_reg": 3, "offset_reg": 0}}}},
]


def _full_vector_add() -> dict:
    data = json.loads(SECTION_9)
    ins = data["instructions"]
    k = ins.index("…")
    data["instructions"] = ins[:k] + VECTOR_ADD_REST + ins[k + 1:]
    return data


def test_section_9_start_of_vector_add():
    p = assemble(VECTOR_ADD)
    snippet = json.loads(SECTION_9)
    ours = json.loads(p.to_json())
    assert ours["instructions"][:5] == snippet["instructions"][:5]
    assert ours["instructions"][-1] == "EXIT"
    assert ours["labels"] == snippet["labels"]
    assert (ours["name"], ours["block"]) == ("vector_add", [256, 1, 1])
    # each of the five instructions shown loads to the assembled one
    for i, item in enumerate(snippet["instructions"][:5]):
        q = Program.from_json(json.dumps({"instructions": [item], "labels": {"done": 1}}))
        assert q[0] == p[i]
    full = _full_vector_add()
    assert Program.from_json(json.dumps(full)) == p
    assert Program.from_dict(full) == p
    # the writer produces exactly this document: same keys, same order, same values
    assert p.to_json() == json.dumps(full, ensure_ascii=False)
    assert list(json.loads(p.to_json())) == ["instructions", "labels", "name", "block"]


def test_section_9_snippet_as_is_is_rejected():
    # "…" is not an instruction
    with pytest.raises(ProgramError) as ei:
        Program.from_json(SECTION_9)
    assert ei.value.index == 5


# ------------------------------------------------------------------------------------------------
# Shapes

# every variant's JSON fields, in order, as listed in ISA.md §5, §6 and §9
EXPECTED_FIELDS = {
    "LDG": ["ty", "dst", "addr"], "STG": ["ty", "src", "addr"], "LDS": ["ty", "dst", "addr"],
    "STS": ["ty", "src", "addr"], "MOV": ["ty", "dst", "src"], "MOV_IMM": ["ty", "dst", "value"],
    "MOV_SREG": ["dst", "sreg"], "CVT": ["src_ty", "dst_ty", "dst", "src"],
    **{v: ["ty", "dst", "src1", "src2"] for v in ("ADD", "SUB", "MUL", "DIV", "REM", "MIN",
                                                  "MAX", "AND", "OR", "XOR", "POW")},
    "MAD": ["ty", "dst", "a", "b", "c"], "FMA": ["ty", "dst", "a", "b", "c"],
    **{v: ["ty", "dst", "src"] for v in ("ABS", "NEG", "NOT", "EXP", "LOG", "LOG2", "LOG10",
                                         "SQRT", "RSQRT", "SIN", "COS", "TAN", "TANH",
                                         "SIGMOID")},
    "SHL": ["ty", "dst", "src", "amount"], "SHR": ["ty", "dst", "src", "amount"],
    "SETcc": ["ty", "cond", "dst", "src1", "src2"],
    "SEL": ["ty", "dst", "pred", "src_true", "src_false", "negate"],
    **{v: ["ty", "dst", "src_base", "count"] for v in ("ReduceAdd", "ReduceMin", "ReduceMax",
                                                       "ReduceMul")},
    "ATOM": ["op", "ty", "dst", "addr", "src"], "ATOMS": ["op", "ty", "dst", "addr", "src"],
    "ATOM_CAS": ["ty", "dst", "addr", "cmp", "src"],
    "ATOMS_CAS": ["ty", "dst", "addr", "cmp", "src"],
    "PoolAlloc": ["size", "dst"], "PoolFree": ["handle"],
    "PoolLoad": ["ty", "pool", "offset", "dst"], "PoolStore": ["ty", "pool", "offset", "src"],
    "ClsGet": ["dst"], "MIRROR": ["dst", "src"], "UnityTest": ["dst", "epsilon"],
    "NbrCount": ["class", "dst"], "NbrGet": ["class", "index", "dst"],
    "ResAccum": ["class", "value"], "PhaseGet": ["dst"], "PhaseAdv": ["delta"],
    "BoundMap": ["class", "page", "byte", "dst"],
    "BRA": ["target", "pred", "negate"], "CALL": ["target"], "RET": [],
    "LOOP": ["count", "body"], "EXIT": [], "BarSync": ["id"], "MemFence": ["scope"],
    # ISA 1.1 (§12.3-§12.5)
    **{v: ["dst", "src1", "src2"] for v in ("PAND", "POR", "PXOR")}, "PNOT": ["dst", "src"],
    "SHFL": ["mode", "ty", "dst", "src", "lane"], "VOTE": ["mode", "dst", "src"],
    "BALLOT": ["dst", "src"],
    **{v: ["ty", "dst", "src"] for v in ("ERF", "EXP2", "FLOOR", "CEIL", "TRUNC", "ROUND")},
}


def test_variant_table_matches_the_spec():
    assert {s.variant for s in SPECS} == set(EXPECTED_FIELDS)
    for spec in SPECS:
        assert [f.name for f in spec.fields] == EXPECTED_FIELDS[spec.variant], spec.variant


SHAPES = [
    ("ldg.f32 r10, [buf5 + 128]",
     '{"LDG": {"ty": "F32", "dst": 10, "addr": {"BufferOffset": {"handle": 5, "offset": 128}}}}'),
    ("stg.bf16 [Φ(5, 12, 200)], r1",
     '{"STG": {"ty": "BF16", "src": 1, "addr": '
     '{"PhiCoordinate": {"class": 5, "page": 12, "byte": 200}}}}'),
    ("lds.i8 r1, [r10 - 32]",
     '{"LDS": {"ty": "I8", "dst": 1, "addr": {"RegisterIndirect": {"base": 10, "offset": -32}}}}'),
    ("sts.u16 [r1 + r0], r2",
     '{"STS": {"ty": "U16", "src": 2, "addr": '
     '{"RegisterIndirectComputed": {"handle_reg": 1, "offset_reg": 0}}}}'),
    ("mov.i16 r2, r1", '{"MOV": {"ty": "I16", "dst": 2, "src": 1}}'),
    ("mov_imm.i32 r1, -1",
     '{"MOV_IMM": {"ty": "I32", "dst": 1, "value": 18446744073709551615}}'),
    ("mov_imm.f32 r0, 42.0", '{"MOV_IMM": {"ty": "F32", "dst": 0, "value": 1109917696}}'),
    ("mov_imm.f64 r0, -nan",
     '{"MOV_IMM": {"ty": "F64", "dst": 0, "value": 18444492273895866368}}'),
    ("mov.u32 r5, %block.y", '{"MOV_SREG": {"dst": 5, "sreg": "BlockY"}}'),
    ("mov.u64 r5, %gid", '{"MOV_SREG": {"dst": 5, "sreg": "GlobalId"}}'),
    ("mov.u32 r5, %blockdim.z", '{"MOV_SREG": {"dst": 5, "sreg": "BlockDimZ"}}'),
    ("cvt.f32.i32 r2, r1", '{"CVT": {"src_ty": "I32", "dst_ty": "F32", "dst": 2, "src": 1}}'),
    ("rem.u32 r3, r1, r2", '{"REM": {"ty": "U32", "dst": 3, "src1": 1, "src2": 2}}'),
    ("fma.f16 r4, r1, r2, r3", '{"FMA": {"ty": "F16", "dst": 4, "a": 1, "b": 2, "c": 3}}'),
    ("shr.i64 r3, r1, r2", '{"SHR": {"ty": "I64", "dst": 3, "src": 1, "amount": 2}}'),
    ("setltu.i32 p3, r1, r2",
     '{"SETcc": {"ty": "I32", "cond": "LTU", "dst": 3, "src1": 1, "src2": 2}}'),
    ("setle.f64 p0, r1, r2",
     '{"SETcc": {"ty": "F64", "cond": "LE", "dst": 0, "src1": 1, "src2": 2}}'),
    ("sel.u8 r3, p15, r1, r2",
     '{"SEL": {"ty": "U8", "dst": 3, "pred": 15, "src_true": 1, "src_false": 2}}'),
    ("reduce.mul.u64 r10, r1, 4",
     '{"ReduceMul": {"ty": "U64", "dst": 10, "src_base": 1, "count": 4}}'),
    ("sigmoid.bf16 r2, r1", '{"SIGMOID": {"ty": "BF16", "dst": 2, "src": 1}}'),
    ("atom.add.f32 r14, [r2 + r33], r13",
     '{"ATOM": {"op": "ADD", "ty": "F32", "dst": 14, "addr": '
     '{"RegisterIndirectComputed": {"handle_reg": 2, "offset_reg": 33}}, "src": 13}}'),
    ("atoms.cas.u64 r5, [buf0 + 0], r6, r7",
     '{"ATOMS_CAS": {"ty": "U64", "dst": 5, "addr": {"BufferOffset": {"handle": 0, "offset": 0}}, '
     '"cmp": 6, "src": 7}}'),
    ("atoms.exch.i64 r5, [r0 + 8], r6",
     '{"ATOMS": {"op": "EXCH", "ty": "I64", "dst": 5, "addr": '
     '{"RegisterIndirect": {"base": 0, "offset": 8}}, "src": 6}}'),
    ("atom.cas.f64 r5, [Φ(0, 0, 8)], r6, r7",
     '{"ATOM_CAS": {"ty": "F64", "dst": 5, "addr": '
     '{"PhiCoordinate": {"class": 0, "page": 0, "byte": 8}}, "cmp": 6, "src": 7}}'),
    ("pool.alloc r1, 18446744073709551615",
     '{"PoolAlloc": {"size": 18446744073709551615, "dst": 1}}'),
    ("pool.free r1", '{"PoolFree": {"handle": 1}}'),
    ("pool.load.f32 r4, r1, r3", '{"PoolLoad": {"ty": "F32", "pool": 1, "offset": 3, "dst": 4}}'),
    ("pool.store.f32 r1, r3, r2",
     '{"PoolStore": {"ty": "F32", "pool": 1, "offset": 3, "src": 2}}'),
    ("cls.get r0", '{"ClsGet": {"dst": 0}}'),
    ("mirror r1, r0", '{"MIRROR": {"dst": 1, "src": 0}}'),
    ("unity.test p0, 0.5", '{"UnityTest": {"dst": 0, "epsilon": 0.5}}'),
    ("unity.test p1, -2.5e-10", '{"UnityTest": {"dst": 1, "epsilon": -2.5e-10}}'),
    ("unity.test p0, nan", '{"UnityTest": {"dst": 0, "epsilon": null}}'),
    ("unity.test p0, inf", '{"UnityTest": {"dst": 0, "epsilon": null}}'),
    ("unity.test p0, -inf", '{"UnityTest": {"dst": 0, "epsilon": null}}'),
    ("nbr.count r1, r0", '{"NbrCount": {"class": 0, "dst": 1}}'),
    ("nbr.get r2, r0, 3", '{"NbrGet": {"class": 0, "index": 3, "dst": 2}}'),
    ("res.accum r0, r1", '{"ResAccum": {"class": 0, "value": 1}}'),
    ("phase.get r0", '{"PhaseGet": {"dst": 0}}'),
    ("phase.adv 30", '{"PhaseAdv": {"delta": 30}}'),
    ("bound.map r3, r0, r1, r2", '{"BoundMap": {"class": 0, "page": 1, "byte": 2, "dst": 3}}'),
    ("bra.p0 @done", '{"BRA": {"target": "done", "pred": 0}}'),
    ("bra @done", '{"BRA": {"target": "done", "pred": null}}'),
    ("call @done", '{"CALL": {"target": "done"}}'),
    ("loop r0, @done", '{"LOOP": {"count": 0, "body": "done"}}'),
    ("ret", '"RET"'),
    ("exit", '"EXIT"'),
    ("bar.sync 7", '{"BarSync": {"id": 7}}'),
    ("memfence.thread", '{"MemFence": {"scope": "Thread"}}'),
    ("memfence.block", '{"MemFence": {"scope": "Block"}}'),
    ("memfence.device", '{"MemFence": {"scope": "Device"}}'),
    ("memfence.system", '{"MemFence": {"scope": "System"}}'),
]


@pytest.mark.parametrize("text,shape", SHAPES, ids=[t for t, _ in SHAPES])
def test_instruction_shape(text, shape):
    p = assemble(text + "\ndone:")
    item = p.to_dict()["instructions"][0]
    assert json.dumps(item, ensure_ascii=False) == shape
    assert json.dumps(json.loads(p.to_json())["instructions"][0], ensure_ascii=False) == shape
    back = Program.from_json('{"instructions": [%s], "labels": {"done": 1}}' % shape)
    if "epsilon" in shape and "null" in shape:
        assert math.isnan(back[0].epsilon)
    else:
        assert back == p


def test_all_type_and_cond_names():
    p = Program([Instruction("MOV", ty=t, dst=0, src=1) for t in DType])
    assert [d["MOV"]["ty"] for d in p.to_dict()["instructions"]] == [
        "I8", "I16", "I32", "I64", "U8", "U16", "U32", "U64", "F16", "BF16", "F32", "F64"]
    conds = ["EQ", "NE", "LT", "LE", "GT", "GE", "LTU", "LEU", "GTU", "GEU"]
    p = Program([Instruction("SETcc", ty="u32", cond=c, dst=0, src1=1, src2=2) for c in conds])
    assert [d["SETcc"]["cond"] for d in p.to_dict()["instructions"]] == conds
    sregs = ["LaneX", "LaneY", "LaneZ", "BlockX", "BlockY", "BlockZ", "BlockDimX", "BlockDimY",
             "BlockDimZ", "GridDimX", "GridDimY", "GridDimZ", "GlobalId"]
    text = "\n".join(f"mov.{'u64' if s == 'GlobalId' else 'u32'} r1, "
                     f"%{'gid' if s == 'GlobalId' else s[:-1].lower() + '.' + s[-1].lower()}"
                     for s in sregs)
    assert [d["MOV_SREG"]["sreg"] for d in assemble(text).to_dict()["instructions"]] == sregs
    ops = ["ADD", "MIN", "MAX", "EXCH", "AND", "OR", "XOR"]
    text = "\n".join(f"atom.{o.lower()}.u32 r1, [r2 + r3], r4" for o in ops)
    assert [d["ATOM"]["op"] for d in assemble(text).to_dict()["instructions"]] == ops


def test_program_keys_and_label_order():
    p = Program([Instruction("EXIT"), Instruction("RET")], {"z": 0, "b": 1, "a": 1, "end": 2})
    assert p.to_json() == ('{"instructions": ["EXIT", "RET"], '
                           '"labels": {"z": 0, "a": 1, "b": 1, "end": 2}}')
    p = Program([], name="k", block=(4, 2, 1), shared_memory=64)
    assert p.to_json() == ('{"instructions": [], "labels": {}, "name": "k", '
                           '"block": [4, 2, 1], "shared_memory": 64}')
    assert Program([], block=8).to_json() == '{"instructions": [], "labels": {}, "block": [8, 1, 1]}'
    assert Program([], shared_memory=0).to_json() == \
        '{"instructions": [], "labels": {}, "shared_memory": 0}'
    assert Program([], name="n").to_json() == '{"instructions": [], "labels": {}, "name": "n"}'
    # indent only changes whitespace
    q = assemble(".kernel k\nx: exit")
    assert json.loads(q.to_json(indent=2)) == json.loads(q.to_json())
    assert "\n" in q.to_json(indent=2)


def test_big_integers_are_exact():
    p = assemble("mov_imm.u64 r0, 18446744073709551615\n"
                 "ldg.u8 r0, [buf18446744073709551615 + 18446744073709551614]\n"
                 "pool.alloc r0, 18446744073709551613\n"
                 "mov_imm.f64 r0, 9221120237041090561")
    text = p.to_json()
    assert '"value": 18446744073709551615' in text
    assert '"handle": 18446744073709551615, "offset": 18446744073709551614' in text
    assert '"size": 18446744073709551613' in text
    assert '"value": 9221120237041090561' in text
    assert "e+" not in text and ".0" not in text
    assert Program.from_json(text) == p


def test_unity_test_epsilon_null_and_nan():
    p = Program.from_json('{"instructions": [{"UnityTest": {"dst": 2, "epsilon": null}}], '
                          '"labels": {}}')
    assert math.isnan(p[0].epsilon)
    assert p.disassemble() == "    unity.test p2, nan\n"
    for eps in (math.nan, -math.nan, math.inf, -math.inf):
        q = Program([Instruction("UnityTest", dst=0, epsilon=eps)])
        assert q.to_json() == '{"instructions": [{"UnityTest": {"dst": 0, "epsilon": null}}], ' \
                              '"labels": {}}'
        assert math.isnan(Program.from_json(q.to_json())[0].epsilon)
    q = Program.from_json('{"instructions": [{"UnityTest": {"dst": 0, "epsilon": 1}}], '
                          '"labels": {}}')
    assert q[0].epsilon == 1.0 and isinstance(q[0].epsilon, float)
    q = Program.from_json('{"instructions": [{"UnityTest": {"dst": 0, "epsilon": -0.0}}], '
                          '"labels": {}}')
    assert math.copysign(1.0, q[0].epsilon) == -1.0
    assert q.to_json() == '{"instructions": [{"UnityTest": {"dst": 0, "epsilon": -0.0}}], ' \
                          '"labels": {}}'
    q = Program.from_json('{"instructions": [{"UnityTest": {"dst": 0, "epsilon": 1e-320}}], '
                          '"labels": {}}')
    assert q[0].epsilon == 1e-320
    # a number beyond the f64 range reads as the nearest f64 (±inf), never an OverflowError
    q = Program.from_json('{"instructions": [{"UnityTest": {"dst": 0, "epsilon": 1%s}}], '
                          '"labels": {}}' % ("0" * 400))
    assert q[0].epsilon == math.inf
    q = Program.from_json('{"instructions": [{"UnityTest": {"dst": 0, "epsilon": -1e400}}], '
                          '"labels": {}}')
    assert q[0].epsilon == -math.inf
    assert "NaN" not in Program([Instruction("UnityTest", dst=0, epsilon=math.nan)]).to_json()


def test_bra_pred_null_or_missing():
    base = '{"instructions": [%s], "labels": {"x": 0}}'
    a = Program.from_json(base % '{"BRA": {"target": "x", "pred": null}}')
    b = Program.from_json(base % '{"BRA": {"target": "x"}}')
    c = Program.from_json(base % '{"BRA": {"pred": 4, "target": "x"}}')
    assert a == b == Program([Instruction("BRA", target="x")], {"x": 0})
    assert a[0].pred is None and c[0].pred == 4
    assert json.loads(b.to_json())["instructions"][0] == {"BRA": {"target": "x", "pred": None}}
    # only pred may be missing
    with pytest.raises(ProgramError):
        Program.from_json(base % '{"BRA": {"pred": 1}}')
    with pytest.raises(ProgramError):
        Program.from_json(base % '{"CALL": {}}')


def test_original_style_documents_load():
    # no directive keys, fields in another order, labels in any order, bytes input
    text = ('{"labels": {"end": 2, "start": 0}, "instructions": ['
            '{"ADD": {"src2": 2, "src1": 1, "dst": 0, "ty": "I32"}}, '
            '{"LDG": {"addr": {"BufferOffset": {"offset": 4, "handle": 1}}, "dst": 3, "ty": "U8"}}'
            ']}')
    p = Program.from_json(text)
    assert p == assemble("start: add.i32 r0, r1, r2\nldg.u8 r3, [buf1 + 4]\nend:")
    assert Program.from_json(text.encode()) == p
    assert (p.name, p.block, p.shared_memory) == (None, None, None)


def _shuffle_keys(obj):
    if isinstance(obj, dict):
        return {k: _shuffle_keys(obj[k]) for k in reversed(list(obj))}
    if isinstance(obj, list):
        return [_shuffle_keys(v) for v in obj]
    return obj


@given(programs(finite_epsilon=True))
def test_json_round_trip(p):
    text = p.to_json()
    q = Program.from_json(text)
    assert q == p
    assert q.to_json() == text
    assert Program.from_dict(p.to_dict()) == p
    # readers accept fields (and program keys) in any order
    assert Program.from_json(json.dumps(_shuffle_keys(json.loads(text)))) == p
    # the writer emits only JSON (no NaN/Infinity) and exact integers
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"),
               parse_float=lambda f: float(f))


@given(programs(finite_epsilon=False))
def test_json_round_trip_with_infinite_epsilons(p):
    q = Program.from_json(p.to_json())
    assert len(q) == len(p) and dict(q.labels) == dict(p.labels)
    for a, b in zip(p, q):
        if a.variant == "UnityTest" and math.isinf(a.epsilon):
            assert math.isnan(b.epsilon)            # ±inf is written as null
        else:
            assert a == b


@given(programs(max_instructions=6, finite_epsilon=True))
def test_json_and_text_agree(p):
    assert Program.from_json(assemble(p.disassemble()).to_json()) == p
    assert assemble(Program.from_json(p.to_json()).disassemble()) == p


# ------------------------------------------------------------------------------------------------
# Rejections: always ProgramError (never another exception type)

ADD = '{"ADD": {"ty": "F32", "dst": 0, "src1": 1, "src2": 2}}'


def prog(*items: str, labels: str = "{}", extra: str = "") -> str:
    return '{"instructions": [%s], "labels": %s%s}' % (", ".join(items), labels, extra)


def ldg(addr: str) -> str:
    return '{"LDG": {"ty": "F32", "dst": 0, "addr": %s}}' % addr


BAD_INSTRUCTIONS = [
    # unknown variants (names are case-sensitive) and malformed instruction values
    '{"FOO": {}}', '{"add": {"ty": "F32", "dst": 0, "src1": 1, "src2": 2}}', '"Exit"', '"NOP"',
    '"ADD"', '{"RET": {"x": 1}}', '{"ADD": null}', '{"ADD": []}',
    '{}', '[]', '5', 'null', 'true',
    '{"ADD": {"ty": "F32", "dst": 0, "src1": 1, "src2": 2}, "EXIT": {}}',
    # archived-version macro-instructions of the original (§11 #31)
    '{"LayerNorm": {"input": 1, "output": 2, "gamma": 3, "beta": 4, "size": 8, "eps": 1e-5}}',
    '{"Gemm": {"a": 1, "b": 2, "c": 3, "m": 4, "n": 4, "k": 4}}',
    '{"GroupNorm": {}}', '{"BatchNorm": {}}', '{"Conv2d": {}}', '{"NearestUpsample2d": {}}',
    '{"ParallelMap": {}}', '{"ParallelMapBinary": {}}', '{"ParallelReduce": {}}', '"Gemm"',
    # unknown and missing keys
    '{"ADD": {"ty": "F32", "dst": 0, "src1": 1, "src2": 2, "src3": 3}}',
    '{"ADD": {"ty": "F32", "dst": 0, "src1": 1}}',
    '{"ADD": {"dst": 0, "src1": 1, "src2": 2}}',
    '{"MOV_IMM": {"ty": "F32", "dst": 0}}',
    '{"CVT": {"ty": "F32", "dst": 0, "src": 1}}',
    # floats where integers are expected, booleans
    '{"ADD": {"ty": "F32", "dst": 1.0, "src1": 1, "src2": 2}}',
    '{"ADD": {"ty": "F32", "dst": 1e0, "src1": 1, "src2": 2}}',
    '{"MOV_IMM": {"ty": "F32", "dst": 0, "value": 1109917696.0}}',
    '{"MOV_IMM": {"ty": "F32", "dst": 0, "value": 42.5}}',
    '{"ReduceAdd": {"ty": "F32", "dst": 0, "src_base": 1, "count": 5.0}}',
    '{"ADD": {"ty": "F32", "dst": true, "src1": 1, "src2": 2}}',
    '{"MOV_IMM": {"ty": "U8", "dst": 0, "value": false}}',
    '{"UnityTest": {"dst": 0, "epsilon": true}}',
    '{"UnityTest": {"dst": 0, "epsilon": "0.5"}}',
    '{"UnityTest": {"dst": 0.0, "epsilon": 0.5}}',
    '{"BarSync": {"id": "0"}}',
    '{"PhaseAdv": {"delta": null}}',
    '{"ADD": {"ty": "F32", "dst": null, "src1": 1, "src2": 2}}',
    # out-of-range integers
    '{"ADD": {"ty": "F32", "dst": 256, "src1": 1, "src2": 2}}',
    '{"ADD": {"ty": "F32", "dst": -1, "src1": 1, "src2": 2}}',
    '{"SETcc": {"ty": "I32", "cond": "EQ", "dst": 16, "src1": 1, "src2": 2}}',
    '{"SEL": {"ty": "I32", "dst": 0, "pred": -1, "src_true": 1, "src_false": 2}}',
    '{"MOV_IMM": {"ty": "U64", "dst": 0, "value": 18446744073709551616}}',
    '{"MOV_IMM": {"ty": "I64", "dst": 0, "value": -1}}',
    '{"PoolAlloc": {"size": 18446744073709551616, "dst": 0}}',
    '{"PoolAlloc": {"size": -1, "dst": 0}}',
    '{"BarSync": {"id": 256}}', '{"PhaseAdv": {"delta": 65536}}',
    '{"NbrGet": {"class": 0, "index": 256, "dst": 1}}',
    '{"ReduceAdd": {"ty": "F32", "dst": 0, "src_base": 1, "count": 4294967296}}',
    '{"ReduceAdd": {"ty": "F32", "dst": 0, "src_base": 250, "count": 7}}',
    # enum names: JSON spellings only
    '{"ADD": {"ty": "f32", "dst": 0, "src1": 1, "src2": 2}}',
    '{"ADD": {"ty": "F128", "dst": 0, "src1": 1, "src2": 2}}',
    '{"ADD": {"ty": 10, "dst": 0, "src1": 1, "src2": 2}}',
    '{"SETcc": {"ty": "I32", "cond": "eq", "dst": 0, "src1": 1, "src2": 2}}',
    '{"MemFence": {"scope": "block"}}', '{"MemFence": {"scope": "Global"}}',
    '{"MOV_SREG": {"dst": 0, "sreg": "%block.y"}}', '{"MOV_SREG": {"dst": 0, "sreg": "blocky"}}',
    '{"ATOM": {"op": "add", "ty": "U32", "dst": 0, "addr": {"BufferOffset": '
    '{"handle": 1, "offset": 0}}, "src": 1}}',
    '{"ATOM": {"op": "CAS", "ty": "U32", "dst": 0, "addr": {"BufferOffset": '
    '{"handle": 1, "offset": 0}}, "src": 1}}',
    # addresses
    ldg('{"BufferOffset": {"handle": 18446744073709551616, "offset": 0}}'),
    ldg('{"BufferOffset": {"handle": 1, "offset": -1}}'),
    ldg('{"BufferOffset": {"handle": 1, "offset": 0.0}}'),
    ldg('{"BufferOffset": {"handle": 1}}'),
    ldg('{"BufferOffset": {"handle": 1, "offset": 0, "extra": 0}}'),
    ldg('{"BufferOffset": [1, 0]}'),
    ldg('{"RegisterIndirect": {"base": 1, "offset": 2147483648}}'),
    ldg('{"RegisterIndirect": {"base": 1, "offset": -2147483649}}'),
    ldg('{"RegisterIndirect": {"base": 256, "offset": 0}}'),
    ldg('{"RegisterIndirect": {"base": true, "offset": 0}}'),
    ldg('{"RegisterIndirectComputed": {"handle_reg": 1, "offset_reg": 300}}'),
    ldg('{"PhiCoordinate": {"class": 96, "page": 0, "byte": 0}}'),
    ldg('{"PhiCoordinate": {"class": 0, "page": 48, "byte": 0}}'),
    ldg('{"PhiCoordinate": {"class": 0, "page": 0, "byte": 256}}'),
    ldg('{"PhiCoordinate": {"cls": 0, "page": 0, "byte": 0}}'),
    ldg('{"Absolute": {"address": 0}}'),
    ldg('{"BufferOffset": {"handle": 1, "offset": 0}, "PhiCoordinate": '
        '{"class": 0, "page": 0, "byte": 0}}'),
    ldg('"BufferOffset"'), ldg('null'), ldg('{}'),
    # labels as targets
    '{"BRA": {"target": 0, "pred": null}}', '{"CALL": {"target": null}}',
    '{"LOOP": {"count": 0, "body": ["x"]}}',
    '{"BRA": {"target": "x", "pred": 16}}', '{"BRA": {"target": "x", "pred": true}}',
    '{"BRA": {"target": "x", "pred": 1.0}}', '{"BRA": {"target": "nowhere"}}',
    # type rules of §5 (validation)
    '{"AND": {"ty": "F32", "dst": 0, "src1": 1, "src2": 2}}',
    '{"SETcc": {"ty": "F32", "cond": "LTU", "dst": 0, "src1": 1, "src2": 2}}',
    '{"ATOM": {"op": "ADD", "ty": "U16", "dst": 0, "addr": {"BufferOffset": '
    '{"handle": 1, "offset": 0}}, "src": 1}}',
]


@pytest.mark.parametrize("bad", BAD_INSTRUCTIONS)
def test_bad_instruction_rejected_with_index(bad):
    text = prog(ADD, '"EXIT"', bad, labels='{"x": 0}')
    with pytest.raises(ProgramError) as ei:
        Program.from_json(text)
    assert type(ei.value) is ProgramError
    assert ei.value.index == 2
    with pytest.raises(ProgramError):
        Program.from_dict(json.loads(text))


def test_macro_instructions_say_unsupported():
    for name in ("LayerNorm", "Gemm", "ParallelMap"):
        with pytest.raises(ProgramError) as ei:
            Program.from_json(prog('{"%s": {"a": 1}}' % name))
        assert "unsupported" in ei.value.message and name in ei.value.message
        with pytest.raises(ProgramError):
            Instruction(name)


BAD_DOCUMENTS = [
    # not JSON
    "", " ", "{", '{"instructions": [', "[1,", "nul", "{'instructions': []}",
    '{"instructions": [], "labels": {}} trailing', '{"instructions": [], "labels": {},}',
    "NaN", "Infinity", prog('{"UnityTest": {"dst": 0, "epsilon": NaN}}'),
    prog('{"UnityTest": {"dst": 0, "epsilon": Infinity}}'),
    prog('{"UnityTest": {"dst": 0, "epsilon": -Infinity}}'),
    "[" * 100000 + "]" * 100000, '{"a":' * 50000 + "1" + "}" * 50000,
    b"\xff\xfe{}", b'{"instructions": ["EXIT"], "labels": {"\xff": 0}}',
    # not a program object
    "[]", "5", '"EXIT"', "null", "true",
    '{"labels": {}}', '{"instructions": {}, "labels": {}}', '{"instructions": "EXIT"}',
    '{"instructions": null}',
    '{"instructions": [], "labels": []}', '{"instructions": [], "labels": null}',
    '{"instructions": [], "labels": {}, "extra": 1}', '{"instructions": [], "Labels": {}}',
    # labels
    prog('"EXIT"', labels='{"x": 2}'), prog('"EXIT"', labels='{"x": -1}'),
    prog('"EXIT"', labels='{"x": 1.0}'), prog('"EXIT"', labels='{"x": true}'),
    prog('"EXIT"', labels='{"x": "0"}'), prog('"EXIT"', labels='{"x": null}'),
    # directives
    prog(extra=', "name": 5'), prog(extra=', "name": null, "block": "256"'),
    prog(extra=', "block": []'), prog(extra=', "block": [1, 2, 3, 4]'),
    prog(extra=', "block": [-1]'), prog(extra=', "block": [256.0, 1, 1]'),
    prog(extra=', "block": [1.5]'), prog(extra=', "block": [true]'),
    prog(extra=', "block": [4294967296, 1, 1]'), prog(extra=', "block": 256'),
    prog(extra=', "shared_memory": -1'), prog(extra=', "shared_memory": 1024.0'),
    prog(extra=', "shared_memory": "1024"'), prog(extra=', "shared_memory": true'),
    prog(extra=', "shared_memory": 18446744073709551616'),
]


@pytest.mark.parametrize("bad", BAD_DOCUMENTS, ids=[repr(b[:40]) for b in BAD_DOCUMENTS])
def test_bad_document_rejected(bad):
    with pytest.raises(ProgramError) as ei:
        Program.from_json(bad)
    assert not isinstance(ei.value, AssemblyError)


def test_label_errors_in_json():
    with pytest.raises(ProgramError) as ei:
        Program.from_json(prog('"EXIT"', labels='{"bad_label": 100}'))
    assert ei.value.message == "label 'bad_label' points to invalid instruction index 100 (max: 1)"
    assert ei.value.index is None
    with pytest.raises(ProgramError) as ei:
        Program.from_json(prog('"EXIT"', '{"BRA": {"target": "missing", "pred": null}}'))
    assert ei.value.index == 1
    assert ei.value.message == "undefined label 'missing' referenced in instruction 1"


def test_directives_accepted():
    p = Program.from_json(prog(extra=', "name": "k", "block": [8], "shared_memory": 0'))
    assert (p.name, p.block, p.shared_memory) == ("k", (8, 1, 1), 0)
    p = Program.from_json(prog(extra=', "block": [8, 2]'))
    assert p.block == (8, 2, 1)
    p = Program.from_json(prog(extra=', "name": null, "block": null, "shared_memory": null'))
    assert (p.name, p.block, p.shared_memory) == (None, None, None)
    assert p.to_json() == '{"instructions": [], "labels": {}}'


LEAVES = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(),
                   st.text(max_size=4), st.sampled_from(["F32", "EQ", "Block", "BlockY", "ADD",
                                                         "RET", "EXIT", "LayerNorm", 10**400]),
                   st.just([]), st.just({}), st.just({"BufferOffset": {}}))


def _paths(obj, prefix=()):
    if prefix:
        yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, prefix + (i,))


@given(programs(max_instructions=5, finite_epsilon=True), st.data())
def test_mutated_documents_raise_only_program_errors(p, data):
    doc = p.to_dict()
    paths = list(_paths(doc))
    if not paths:
        return
    path = data.draw(st.sampled_from(paths))
    mutated = copy.deepcopy(doc)
    parent = mutated
    for k in path[:-1]:
        parent = parent[k]
    key = path[-1]
    action = data.draw(st.sampled_from(["set", "delete", "add"]))
    if action == "set":
        parent[key] = data.draw(LEAVES)
    elif action == "delete":
        del parent[key]
    elif isinstance(parent, dict):
        parent[data.draw(st.text(max_size=4))] = data.draw(LEAVES)
    else:
        parent.insert(key, data.draw(LEAVES))
    try:
        text = json.dumps(mutated)
    except (ValueError, OverflowError):
        return
    for load in (lambda: Program.from_json(text), lambda: Program.from_dict(mutated)):
        try:
            q = load()
        except ProgramError:
            continue
        # whatever loads is a valid program that round-trips
        assert Program.from_json(q.to_json()) == q
