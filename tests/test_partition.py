"""The static check of chunked launches (hologram/_partition.py), without dask.

A program is chunk-local for given parameter roles when every access to a partitioned array
stays in the lane's own element, handles are parameters, atomics update reduced arrays only
(their old value unused), replicated arrays are only read. Each rejection names the
instruction and the parameter; what the check cannot decide is left to the run-time window
check (listed in ``Analysis.runtime_checked``).
"""

from __future__ import annotations

import pytest

import hologram as hg
from hologram import kernels
from hologram._partition import NotPartitionable, Role, check
from hologram.isa import DType

from helpers import HISTOGRAM, HISTOGRAM_ATOMIC, histogram


def P(name: str, itemsize: int) -> Role:
    return Role("partitioned", name, itemsize=itemsize)


def S(name: str, value=None) -> Role:
    return Role("scalar", name, value=value)


R = Role("replicated", "r1")


def red(name: str, op: str = "add", dtype: DType = DType.U32) -> Role:
    return Role("reduced", name, op=op, dtype=dtype)


def hist(atomic: str = HISTOGRAM_ATOMIC) -> hg.Program:
    return histogram(atomic)


def elementwise(load: str, block: int = 256) -> hg.Program:
    """out[gid] = x[offset] where the offset (r0) is computed by ``load`` lines."""
    return hg.assemble(f"""
.block {block}
        setgeu.u64   p0, r255, r3
        bra.p0       @done
        mov_imm.u32  r30, 2
        {load}
        ldg.f32      r10, [r1 + r0]
        shl.u64      r31, r255, r30
        stg.f32      [r2 + r31], r10
done:
        exit
""")


ROLES = {1: P("r1", 4), 2: P("r2", 4), 3: S("r3", 1000)}


def reject(program: hg.Program, roles, match: str, pc=None) -> NotPartitionable:
    with pytest.raises(NotPartitionable, match=match) as e:
        check(program, roles, program.block[0] if program.block else 1)
    if pc is not None:
        assert e.value.pc == pc and e.value.instruction == str(program.instructions[pc])
    return e.value


# ---- accepted programs

@pytest.mark.parametrize("t", ["f32", "f64", "u8", "i16", "u64"])
@pytest.mark.parametrize("op", ["add", "div", "max"])
def test_the_ops_binary_kernels_are_chunk_local(t, op):
    prog = hg.assemble(kernels.render("binary", T=t, OP=op, NAME="k"))
    size = DType.parse(t).size
    a = check(prog, {1: P("a", size), 2: P("b", size), 3: P("c", size), 4: S("n", 10)}, 256)
    assert a.written == {3} and a.runtime_checked == [] and not a.uses_resonance


@pytest.mark.parametrize("name,subs", [("gelu", dict(T="f32", C="f32")),
                                       ("unary", dict(T="f16", C="f32", OP="tanh")),
                                       ("relu", dict(T="i32")), ("scalar", dict(T="f32", OP="mul"))])
def test_unary_kernels_are_chunk_local(name, subs):
    prog = hg.assemble(kernels.render(name, NAME="k", **subs))
    size = DType.parse(subs["T"]).size
    roles = {1: P("x", size), 3: P("out", size), 4: S("n", 5), 5: S("s")}
    assert check(prog, roles, 256).written == {3}


def test_loss_terms_with_another_itemsize_are_chunk_local():
    prog = hg.assemble(kernels.render("loss", ("mse",), T="f16", C="f32", KIND="mse"))
    assert check(prog, {1: P("a", 2), 2: P("b", 2), 3: P("terms", 4), 4: S("n", 7)}, 256)


def test_histogram_through_a_reduced_array_and_gather_through_a_replicated_one():
    a = check(hist(), {1: P("x", 1), 2: red("bins"), 3: S("n", 10)}, 256)
    assert a.written == set()
    gather = hg.assemble(kernels.render("gather", T="f32", I="i64"))
    roles = {1: R, 2: P("idx", 8), 3: P("out", 4), 4: S("n", 9), 5: S("m", 9), 6: S("m", 9)}
    assert check(gather, roles, 256).written == {3}


def test_gid_from_block_and_lane_and_isa11_addressing():
    """%block.x * %blockdim.x + %lane.x (the CUDA idiom, in u32) and [r1 + r0*4] are the
    global lane id."""
    prog = elementwise("""mov.u32 r40, %block.x
        mov.u32 r41, %blockdim.x
        mov.u32 r42, %lane.x
        mad.u32 r43, r40, r41, r42
        cvt.u64.u32 r44, r43
        shl.u64 r0, r44, r30""", block=128)
    assert check(prog, ROLES, 128).runtime_checked == []
    scaled = hg.assemble("""
.block 64
        add.u64      r5, r255, 0
        ldg.f32      r10, [r1 + r5*4]
        ldg.u8       r11, [r2 + r255*4 + 3]
    """)
    assert check(scaled, ROLES, 64).runtime_checked == []


def test_merged_offsets_are_left_to_the_run_time_check():
    prog = elementwise("""mov.u64 r20, r255
        setne.u64 p1, r255, r3
        bra.p1 @same
        add.u64 r20, r20, 1
same:
        shl.u64 r0, r20, r30""")
    a = check(prog, ROLES, 256)
    assert a.runtime_checked == [(8, 1)]          # the ldg of r1


def test_res_accum_is_noticed():
    prog = hg.assemble("""
        mov_imm.u8 r1, 3
        mov_imm.f64 r2, 1.0
        res.accum r1, r2
    """)
    assert check(prog, {}, 32).uses_resonance


# ---- rejections

def test_gather_through_loaded_indices():
    prog = elementwise("""mov_imm.u32 r32, 3
        shl.u64 r21, r255, r32
        ldg.u64 r20, [r4 + r21]
        shl.u64 r0, r20, r30""")
    e = reject(prog, {**ROLES, 4: P("idx", 8)}, "depends on memory contents", pc=7)
    assert e.param == "r1" and e.global_lane_id is None


@pytest.mark.parametrize("code", [
    "div.u64 r20, r255, r21\n rem.u64 r22, r255, r21\n mul.u64 r23, r22, r21\n "
    "add.u64 r24, r23, r20\n shl.u64 r0, r24, r30",                       # a transpose
    "mul.u64 r20, r255, r255\n shl.u64 r0, r20, r30",                     # gid^2
    "and.u64 r20, r255, r21\n shl.u64 r0, r20, r30",
])
def test_non_affine_offsets(code):
    prog = elementwise("mov_imm.u64 r21, 10\n" + code)
    reject(prog, ROLES, "not an affine function")


@pytest.mark.parametrize("code,what", [
    ("add.u64 r20, r255, 1\n shl.u64 r0, r20, r30", "4·g \\+ 4"),            # a stencil
    ("mov_imm.u64 r0, 0", "0·g \\+ 0"),                                     # one element
    ("mov_imm.u32 r31, 3\n shl.u64 r0, r255, r31", "8·g \\+ 0"),            # two per lane
])
def test_affine_offsets_outside_the_lanes_element(code, what):
    reject(elementwise(code), ROLES, f"lane g accesses bytes {what} of r1")


def test_lane_or_block_index_alone():
    prog = elementwise("mov.u32 r20, %lane.x\n cvt.u64.u32 r21, r20\n shl.u64 r0, r21, r30")
    reject(prog, ROLES, "uses %lane.x or %block.x other than through the global lane id")


@pytest.mark.parametrize("atomic,roles,match", [
    ("atom.add.u32 r15, [r2 + r13], r14", {2: P("bins", 4)}, "atomics on bins, a partitioned"),
    ("atom.add.u32 r15, [r2 + r13], r14", {2: Role("replicated", "bins")}, "writes bins"),
    ("atom.exch.u32 r15, [r2 + r13], r14", {2: red("bins")}, "this atomic on bins"),
    ("atom.cas.u32 r15, [r2 + r13], r14, r14", {2: red("bins")}, "this atomic on bins"),
    ("atom.add.u32 r15, [r2 + r13], r14", {2: red("bins", "max")}, "combined with 'max'"),
    ("atom.add.u32 r15, [r2 + r13], r14", {2: red("bins", dtype=DType.I32)},
     "a reduced array of i32"),
    ("ldg.u32 r15, [r2 + r13]", {2: red("bins")}, "loads from bins, a reduced"),
    ("stg.u32 [r2 + r13], r14", {2: red("bins")}, "stores to bins, a reduced"),
    ("atom.add.u32 r15, [r2 + r13], r14\n add.u32 r16, r15, r14", {2: red("bins")},
     "reads r15, the old value returned by the atomic at pc 7"),
])
def test_atomics_and_reduced_arrays(atomic, roles, match):
    roles = {1: P("x", 1), 3: S("n", 5), **roles}
    reject(hist(atomic), roles, match)


def test_atomic_value_read_after_a_merge():
    prog = hist("atom.add.u32 r15, [r2 + r13], r14\n bra @done\n mov.u32 r15, r14")
    prog2 = hg.assemble(HISTOGRAM.format(atomic=HISTOGRAM_ATOMIC).replace(
        "exit", "sel.u32 r16, p0, r15, r14\n exit"))
    assert check(prog, {1: P("x", 1), 2: red("bins"), 3: S("n", 5)}, 256)
    reject(prog2, {1: P("x", 1), 2: red("bins"), 3: S("n", 5)}, "reads r15")


def test_stores_to_replicated():
    prog = elementwise("shl.u64 r0, r255, r30")
    reject(prog, {1: P("x", 4), 2: Role("replicated", "out"), 3: S("n", 5)},
           "writes out, a replicated")


@pytest.mark.parametrize("code,match", [
    ("pool.alloc r20, 64", "pools are state of one backend"),
    ("ldg.f32 r20, [Φ(1, 2, 3)]", "the boundary pool"),
    ("ldg.f32 r20, [buf0 + 8]", "the boundary pool"),
    ("ldg.f32 r20, [buf7 + 8]", "the fixed handle 7"),
    ("mov_imm.u64 r21, 0\n ldg.f32 r20, [r21 + r255]", "handle in r21 is not provably"),
    ("ldg.u64 r21, [r4 + r255]\n ldg.f32 r20, [r21 + r255]", "handle in r21 is not provably"),
    ("ldg.f32 r20, [r3 + r255]", "handle in r3 is not provably"),
])
def test_backend_state_and_handles_that_are_not_parameters(code, match):
    prog = hg.assemble(".block 64\n" + code)
    reject(prog, {**ROLES, 4: Role("replicated", "table")}, match)


def test_handles_merged_from_two_parameters():
    prog = hg.assemble("""
.block 64
        mov.u64 r20, r1
        setne.u64 p1, r255, r3
        bra.p1 @x
        mov.u64 r20, r2
x:
        ldg.f32 r10, [r20 + r255]
    """)
    reject(prog, ROLES, "handle in r20 is not provably one parameter's", pc=4)


def test_unreachable_code_is_not_judged():
    prog = hg.assemble("""
.block 64
        exit
        ldg.f32 r20, [buf7 + 8]
    """)
    assert check(prog, ROLES, 64)


def test_the_error_pickles():
    import pickle
    e = NotPartitionable("m", pc=3, instruction="x", param="r1", global_lane_id=5, offset=9)
    back = pickle.loads(pickle.dumps(e))
    assert (str(back), back.pc, back.param, back.global_lane_id, back.offset) == \
        (str(e), 3, "r1", 5, 9)
    assert isinstance(back, hg.HologramError)
