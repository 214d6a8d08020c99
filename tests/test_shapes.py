"""Addresses the VM derives from register shapes (registers known to be affine in the lane).

The VM bounds-checks a group's loads/stores at once, and copies contiguous rows, when the
address registers were computed by whole-block 64-bit arithmetic from the lane id, parameters
and immediates. These tests compute addresses in such ways, and in ways that must *not* be
treated as affine (divergent writes, 32-bit wrap-around, loaded values), with groups partly
out of bounds or wrapping around 2^64, and compare the VM (1 and 2 threads) with the reference
interpreter: same memory, same error.
"""

from __future__ import annotations

from typing import List, Optional, Tuple

import numpy as np
import pytest
from hypothesis import given, strategies as st

import hologram as hg

TYPES = ["u8", "i8", "i16", "u16", "f16", "i32", "u32", "f32", "i64", "u64", "f64"]
SIZE = {"u8": 1, "i8": 1, "i16": 2, "u16": 2, "f16": 2, "i32": 4, "u32": 4, "f32": 4,
        "i64": 8, "u64": 8, "f64": 8}


def outcome(engine: str, threads: int, source: str, src: np.ndarray, nlanes: int, block: int,
            extra: Optional[dict] = None) -> Tuple[bytes, bytes, Optional[tuple]]:
    """Run the program on lanes 0..nlanes-1; r1 = src, r2 = out (8 bytes per lane)."""
    be = hg.CpuBackend(num_threads=threads) if engine == "vm" else hg.ReferenceBackend()
    inp = src.copy()
    out = np.zeros(8 * nlanes + 64, np.uint8)
    params = {"r1": inp, "r2": out, "r3": ("u64", nlanes)}
    params.update(extra or {})
    err = None
    try:
        be.execute_program(hg.assemble(source), hg.LaunchConfig(-(-nlanes // block), block),
                           params, num_threads=threads)
    except hg.ExecutionError as e:
        err = (type(e).__name__, e.global_lane_id, e.pc, str(e))
    return inp.tobytes(), out.tobytes(), err


def check(source: str, src: np.ndarray, nlanes: int, block: int = 64, extra=None) -> None:
    ref = outcome("ref", 1, source, src, nlanes, block, extra)
    for threads in (1, 2):
        vm = outcome("vm", threads, source, src, nlanes, block, extra)
        assert vm[2] == ref[2], (threads, source)
        assert vm[0] == ref[0], ("input buffer", threads, source)
        assert vm[1] == ref[1], ("output buffer", threads, source)


def program(offset_code: List[str], ty: str, store_back: bool = False) -> str:
    """Load src[offset] (offset in r0, computed by offset_code) into out[8 * gid]; optionally
    also store it back at the same address (a read-modify-write through the same shape)."""
    lines = [
        "setgeu.u64 p0, r255, r3",
        "bra.p0 @done",
        *offset_code,
        f"ldg.{ty} r10, [r1 + r0]",
        "mov_imm.u64 r30, 3",
        "shl.u64 r31, r255, r30",
        f"stg.{ty} [r2 + r31], r10",
    ]
    if store_back:
        lines.append(f"stg.{ty} [r1 + r0], r10")
    lines += ["done:", "exit"]
    return "\n".join(lines)


def scaled_gid(ty: str, stride_elems: int, start_bytes: int) -> List[str]:
    """r0 = gid * stride_elems * size + start_bytes, by shl/mul/add/sub of 64-bit registers."""
    return [f"mov_imm.u64 r20, {stride_elems * SIZE[ty] & (2**64 - 1)}",
            "mul.u64 r0, r255, r20",
            f"mov_imm.u64 r21, {abs(start_bytes)}",
            f"{'add' if start_bytes >= 0 else 'sub'}.u64 r0, r0, r21"]


@pytest.mark.parametrize("ty", TYPES)
def test_dense_rows_every_type(ty):
    rng = np.random.default_rng(SIZE[ty])
    src = rng.integers(0, 256, 200 * 8, dtype=np.uint8)
    code = ["mov_imm.u32 r20, %d" % (SIZE[ty].bit_length() - 1), "shl.u64 r0, r255, r20"]
    check(program(code, ty, store_back=True), src, 150, block=64)


@pytest.mark.parametrize("ty", ["u8", "i16", "f32", "f64"])
@pytest.mark.parametrize("stride,start", [(2, 0), (3, 5), (-1, 4000), (0, 7), (1, 1), (-3, 1000)])
def test_strided_and_reversed(ty, stride, start):
    rng = np.random.default_rng(7)
    src = rng.integers(0, 256, 4096, dtype=np.uint8)
    check(program(scaled_gid(ty, stride, start), ty, store_back=True), src, 150, block=32)


@pytest.mark.parametrize("nbytes", [0, 3, 400, 596, 599, 600])
def test_group_partly_out_of_bounds(nbytes):
    """Lanes past the buffer's end fault: the lowest one is reported, the others' stores
    before the fault are the reference's."""
    src = np.arange(nbytes, dtype=np.uint8)
    check(program(["mov_imm.u32 r20, 2", "shl.u64 r0, r255, r20"], "f32"), src, 150)


@pytest.mark.parametrize("start", [-8, -1, -(2**62)])
def test_offsets_wrapping_around_2_64(start):
    """Offsets gid*4 - k wrap below zero for the first lanes: huge, out of bounds."""
    src = np.arange(1024, dtype=np.uint8)
    check(program(scaled_gid("u32", 1, start), "u32"), src, 100)


def test_huge_stride_is_not_trusted():
    src = np.arange(1024, dtype=np.uint8)
    check(program(["mov_imm.u64 r20, 0x100000001", "mul.u64 r0, r255, r20"], "u8"), src, 40)
    check(program(["mov_imm.u64 r20, 63", "shl.u64 r0, r255, r20"], "u8"), src, 40)


def test_divergent_write_invalidates_the_shape():
    """Some lanes change r0 in a branch: the merged group's offsets are no longer affine."""
    code = ["mov_imm.u32 r20, 2", "shl.u64 r0, r255, r20",
            "mov_imm.u64 r22, 5", "setltu.u64 p1, r255, r22", "bra.p1 @skip",
            "mov_imm.u64 r23, 40", "add.u64 r0, r0, r23",
            "skip:"]
    src = np.arange(2048, dtype=np.uint8)
    check(program(code, "u32"), src, 200)


def test_32_bit_arithmetic_is_not_affine():
    """u32 arithmetic wraps at 2^32 (canonical form), so a shl.u32 result is not linear."""
    code = ["cvt.u32.u64 r5, r255", "mov_imm.u32 r20, 30", "shl.u32 r6, r5, r20",
            "cvt.u64.u32 r0, r6", "mov_imm.u64 r21, 30", "shr.u64 r0, r0, r21"]
    src = np.arange(64, dtype=np.uint8)
    check(program(code, "u8"), src, 16, block=16)


def test_loaded_offsets_and_offset_register_overwritten_by_the_load():
    """ldg r0, [r1 + r0]: the loaded values (not affine) become the next offsets."""
    src = (np.arange(512, dtype=np.uint64) * 37 % 4000).astype(np.uint64).view(np.uint8)
    code = ["mov_imm.u32 r20, 3", "shl.u64 r0, r255, r20", "ldg.u64 r0, [r1 + r0]"]
    check(program(code, "u8"), src, 300, block=128)


def test_loop_carried_pointer():
    """r0 advances by a uniform step each iteration (a whole-block add): the shape follows."""
    source = """
        mov_imm.u32 r20, 2
        shl.u64     r0, r255, r20
        mov_imm.u64 r21, 256
        mov_imm.u32 r9, 3
        mov_imm.f32 r12, 0.0
    body:
        ldg.f32     r10, [r1 + r0]
        add.f32     r12, r12, r10
        add.u64     r0, r0, r21
        loop        r9, @body
        mov_imm.u32 r20, 3
        shl.u64     r31, r255, r20
        stg.f32     [r2 + r31], r12
    """
    src = np.random.default_rng(3).random(256, dtype=np.float32).view(np.uint8)
    check(source, src, 64, block=64)          # the 4th iteration reads past the end: a fault
    check(source, np.concatenate([src, src]), 64, block=64)


def test_lane_x_and_block_registers():
    """Offsets from %lane.x (affine only for 1-D blocks) and %block.x (uniform)."""
    source = """
        mov.u32     r5, %lane.x
        cvt.u64.u32 r5, r5
        mov.u32     r6, %block.x
        cvt.u64.u32 r6, r6
        mov_imm.u64 r7, 64
        mul.u64     r6, r6, r7
        add.u64     r0, r5, r6
        ldg.u8      r10, [r1 + r0]
        mov_imm.u32 r20, 3
        shl.u64     r31, r255, r20
        stg.u8      [r2 + r31], r10
    """
    src = np.arange(256, dtype=np.uint8)
    check(source, src, 256, block=64)
    # 2-D blocks: %lane.x repeats, so offsets are not affine in the lane index
    for engine_threads in (1, 2):
        ref = outcome("ref", 1, source.replace("r5, %lane.x", "r5, %lane.y"), src, 128, 64)
        vm = outcome("vm", engine_threads, source.replace("r5, %lane.x", "r5, %lane.y"), src,
                     128, 64)
        assert vm == ref


def test_two_d_block_lane_x():
    source = """
        mov.u32     r5, %lane.x
        cvt.u64.u32 r0, r5
        ldg.u8      r10, [r1 + r0]
        mov_imm.u32 r20, 3
        shl.u64     r31, r255, r20
        stg.u8      [r2 + r31], r10
    """
    src = np.arange(100, 164, dtype=np.uint8)
    be_ref, be_vm = hg.ReferenceBackend(), hg.CpuBackend(num_threads=2)
    outs = []
    for be in (be_ref, be_vm):
        out = np.zeros(8 * 64, np.uint8)
        be.execute_program(hg.assemble(source), hg.LaunchConfig(1, (8, 8)),
                           {"r1": src, "r2": out})
        outs.append(out)
    np.testing.assert_array_equal(outs[0], outs[1])
    assert list(outs[1][::8][:10]) == [100, 101, 102, 103, 104, 105, 106, 107, 100, 101]


def test_unaligned_dense_rows():
    """A contiguous run starting at an odd byte: loaded and stored element by element."""
    src = np.arange(1024, dtype=np.uint8)
    check(program(scaled_gid("f32", 1, 1), "f32", store_back=True), src, 200)
    check(program(scaled_gid("i64", 1, 3), "i64", store_back=True), src, 100)


@given(ty=st.sampled_from(TYPES),
       ops=st.lists(st.tuples(st.sampled_from(["add", "sub", "mul", "shl", "mov"]),
                              st.integers(0, 2**64 - 1)), min_size=1, max_size=4),
       nlanes=st.integers(1, 300), block=st.sampled_from([1, 7, 32, 64, 256]),
       nbytes=st.integers(0, 3000), seed=st.integers(0, 2**32 - 1))
def test_random_affine_offsets(ty, ops, nlanes, block, nbytes, seed):
    """Random chains of 64-bit arithmetic on the lane id as offsets: the VM's shortcut must
    agree with the reference lane by lane (including faults and wrap-around)."""
    code = ["mov.u64 r0, r255"]
    for k, (op, imm) in enumerate(ops):
        if op == "shl":
            imm %= 80
        elif imm > 1 << 12 and seed % 3:
            imm %= 1 << 12                       # mostly small constants, sometimes huge
        code.append(f"mov_imm.u64 r{40 + k}, {imm}")
        code.append("mov.u64 r0, r0" if op == "mov" else f"{op}.u64 r0, r0, r{40 + k}")
    src = np.random.default_rng(seed).integers(0, 256, nbytes, dtype=np.uint8)
    check(program(code, ty, store_back=seed % 2 == 0), src, nlanes, block)


@pytest.mark.parametrize("block", [1, 2, 3, 4, 5, 7, 8, 9, 63, 64, 255, 256, 1024])
@pytest.mark.parametrize("op", ["add.u64 r5, r234, r221", "mul.u64 r5, r234, r220",
                                "shl.u64 r5, r234, r222", "sub.u64 r5, r221, r234"])
def test_affine_rows_every_block_size(block, op):
    """The rows of whole-block results known affine (written without executing the op),
    read back directly: regression for a row writer that GCC 12.2 -O3 miscompiled."""
    source = f"""
        mov.u64     r234, %gid
        mov_imm.u64 r220, 3
        mov_imm.u64 r221, 1000
        mov_imm.u32 r222, 2
        {op}
        mov_imm.u32 r225, 3
        shl.u64     r224, r234, r225
        stg.u64     [r240 + r224], r5
    """
    gid = np.arange(2 * block, dtype=np.uint64)
    expected = {"add": gid + 1000, "mul": gid * 3, "shl": gid << np.uint64(2),
                "sub": np.uint64(1000) - gid}[op[:3]]
    for threads in (1, 2):
        out = np.zeros(2 * block, np.uint64)
        hg.CpuBackend(num_threads=threads).execute_program(
            hg.assemble(source), hg.LaunchConfig(2, block), {"r240": out})
        np.testing.assert_array_equal(out, expected)


CONDS = ["eq", "ne", "lt", "le", "gt", "ge", "ltu", "leu", "gtu", "geu"]


@given(cond=st.sampled_from(CONDS), ty=st.sampled_from(["u64", "i64"]),
       base=st.one_of(st.integers(0, 600), st.integers(0, 2**64 - 1),
                      st.sampled_from([2**63 - 3, 2**63, 2**64 - 5])),
       stride=st.one_of(st.integers(-9, 9), st.sampled_from([2**32, -(2**32), 2**32 + 1, 2**62])),
       cut=st.one_of(st.integers(-20, 600), st.integers(0, 2**64 - 1)),
       swap=st.booleans(), block=st.sampled_from([1, 3, 64, 256]))
def test_setcc_affine_against_uniform(cond, ty, base, stride, cut, swap, block):
    """setcc of a lane-affine register against a uniform one, both operand orders, all
    conditions, signed and unsigned, strides that do and do not wrap around 2^64."""
    cut_value = (base + cut) % 2**64 if cut < 2**16 else cut
    a, b = ("r5", "r6") if not swap else ("r6", "r5")
    source = f"""
        mov.u64     r234, %gid
        mov_imm.u64 r20, {stride % 2**64}
        mul.u64     r5, r234, r20
        mov_imm.u64 r21, {base}
        add.u64     r5, r5, r21
        mov_imm.u64 r6, {cut_value}
        cvt.{ty}.u64 r5, r5
        cvt.{ty}.u64 r6, r6
        set{cond}.{ty} p1, {a}, {b}
        mov_imm.u8  r7, 1
        mov_imm.u8  r8, 0
        sel.u8      r9, p1, r7, r8
        stg.u8      [r240 + r234], r9
    """.replace("cvt.u64.u64", "mov.u64")
    outs = []
    for be in (hg.ReferenceBackend(), hg.CpuBackend(num_threads=1), hg.CpuBackend(num_threads=2)):
        out = np.zeros(2 * block, np.uint8)
        be.execute_program(hg.assemble(source), hg.LaunchConfig(2, block), {"r240": out})
        outs.append(out)
    np.testing.assert_array_equal(outs[1], outs[0])
    np.testing.assert_array_equal(outs[2], outs[0])


@pytest.mark.parametrize("cond", CONDS)
@pytest.mark.parametrize("ty", ["u64", "i64"])
@pytest.mark.parametrize("stride", [-3, -1, 0, 1, 3])
@pytest.mark.parametrize("swap", [False, True])
def test_setcc_affine_boundaries(cond, ty, stride, swap):
    """Uniform operands placed exactly on, just before and just after the first, a middle and
    the last lane's value (block of 16 lanes, lane values 100 + stride * lane), and across
    the signed/unsigned boundary."""
    base = 100 if ty == "u64" or stride else 2**63 - 1
    values = [base + stride * k for k in (0, 7, 15)]
    cuts = sorted({(v + d) % 2**64 for v in values for d in (-1, 0, 1)} | {0, 2**63, 2**64 - 1})
    lines = ["mov.u64 r234, %gid", f"mov_imm.u64 r20, {stride % 2**64}",
             "mul.u64 r5, r234, r20", f"mov_imm.u64 r21, {base}", "add.u64 r5, r5, r21",
             f"cvt.{ty}.u64 r5, r5".replace("cvt.u64.u64", "mov.u64"),
             "mov_imm.u8 r7, 1", "mov_imm.u8 r8, 0", f"mov_imm.u64 r22, {len(cuts)}",
             "mul.u64 r23, r234, r22"]
    for k, cut in enumerate(cuts):
        a, b = ("r5", "r6") if not swap else ("r6", "r5")
        lines += [f"mov_imm.u64 r6, {cut}", f"cvt.{ty}.u64 r6, r6".replace("cvt.u64.u64", "mov.u64"),
                  f"set{cond}.{ty} p1, {a}, {b}", "sel.u8 r9, p1, r7, r8",
                  f"stg.u8 [r240 + r23], r9", "mov_imm.u64 r24, 1", "add.u64 r23, r23, r24"]
    program = hg.assemble("\n".join(lines))
    outs = []
    for be in (hg.ReferenceBackend(), hg.CpuBackend(num_threads=1), hg.CpuBackend(num_threads=2)):
        out = np.zeros(16 * len(cuts), np.uint8)
        be.execute_program(program, hg.LaunchConfig(1, 16), {"r240": out})
        outs.append(out)
    np.testing.assert_array_equal(outs[1], outs[0])
    np.testing.assert_array_equal(outs[2], outs[0])
