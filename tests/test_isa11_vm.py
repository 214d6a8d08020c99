"""How the VM runs ISA 1.1 (hologram/vm.py, the _vm_*.pxi files): the paths of its own that the
semantic and differential tests may reach only by chance. Immediates live in constant rows and,
beyond ``vm.CONST_ROWS`` distinct values, share one row rewritten before use; scaled addresses
take the group fast paths (shapes, one bounds check per group) unless their offsets wrap; warp
collectives run at once when their warps are complete, else when the scheduler resolves them.
Every case runs on the reference too and expectations are worked out by hand.
"""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import hologram as hg
from hologram import vm
import test_differential as td
import test_isa11_differential as t11
from helpers import shfl_down_sum


def run_all(text: str, grid, block, params, shared: int = 0):
    """Run on the reference, the VM with 1 and 2 threads; the outputs (the arrays in params,
    copied) and errors must agree. Returns the reference's (arrays, error)."""
    results = []
    for engine, nt in (("reference", None), ("vm", 1), ("vm", 2)):
        be = hg.ReferenceBackend() if engine == "reference" else hg.CpuBackend(num_threads=nt)
        bound = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in params.items()}
        try:
            be.execute_program(hg.assemble(text), hg.LaunchConfig(grid, block, shared), bound)
            err = None
        except hg.ExecutionError as e:
            err = (type(e), e.global_lane_id, e.pc, e.message)
        results.append(({k: v for k, v in bound.items() if isinstance(v, np.ndarray)}, err))
    for arrays, err in results[1:]:
        assert err == results[0][1]
        for k, v in arrays.items():
            assert np.array_equal(v, results[0][0][k]), k
    return results[0]


# --------------------------------------------------------------------------------------------
# Immediates: constant rows, and the shared row beyond CONST_ROWS distinct values

def _many_immediates(count: int) -> str:
    """out[gid] = ((gid + 1 + 2 + ... + count) shifted left by 1, then right by 1), each add
    with its own immediate; a setcc and a shfl with immediates in between."""
    lines = ["mov.u64 r1, %gid", "mov.u64 r2, %gid"]
    for k in range(1, count + 1):
        lines.append(f"add.u64 r1, r1, {k}")
    lines += ["shl.u64 r1, r1, 1", "shr.u64 r1, r1, 1",
              f"setlt.u64 p1, r2, {count + 1000}",      # always true
              "bra.!p1 @skip",
              "shfl.xor.u64 r3, r1, 1",                 # the neighbour's value
              "stg.u64 [r9 + r2*8], r1",
              "stg.u64 [r10 + r2*8], r3",
              "skip:"]
    return "\n".join(lines)


@pytest.mark.parametrize("count", [3, vm.CONST_ROWS - 3, vm.CONST_ROWS + 5, 3 * vm.CONST_ROWS])
def test_many_immediates(count):
    n = 64
    (arrays, err) = run_all(_many_immediates(count), 2, 32,
                            {"r9": np.zeros(n, np.uint64), "r10": np.zeros(n, np.uint64)})
    assert err is None
    total = count * (count + 1) // 2
    assert arrays["r9"].tolist() == [g + total for g in range(n)]
    assert arrays["r10"].tolist() == [(g ^ 1) + total for g in range(n)]


def test_constant_rows_are_counted_by_register_content():
    # 1 as u32, u64 and i64 and -1 as i32/i64 are the same register content: two rows
    prog = hg.assemble("mov_imm.u32 r1, 0\nadd.u32 r1, r1, 1\nmov_imm.u64 r2, 0\n"
                       "add.u64 r2, r2, 1\nmov_imm.i64 r3, 0\nsub.i64 r3, r3, 1\n"
                       "mov_imm.i32 r4, 0\nadd.i32 r4, r4, -1\nshl.u32 r1, r1, 1")
    low = vm.lower(prog)
    assert sorted(v for _, _, v in low.constants) == [1, 2**64 - 1]
    assert low.nslots == low.nregs + 2


def test_shared_constant_row_in_differential_programs():
    """The differential generator's 1.1 programs with one constant row: every other immediate
    goes through the shared row (refilled before use), results unchanged."""
    with mock.patch.object(vm, "CONST_ROWS", 1):
        @settings(max_examples=40, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(t11.cases(t11.ARITH, max_lanes=48))
        def arith(case):
            td.check_case(case)

        @settings(max_examples=25, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(t11.cases(t11.CONTROL))
        def control(case):
            td.check_case(case)
        arith()
        control()


# --------------------------------------------------------------------------------------------
# Scaled addresses on the group paths

def test_scaled_offsets_that_wrap_are_ordinary_offsets():
    # rO = 2^62 + i, S = 4: rO*S mod 2^64 = 4i, an in-bounds offset (§12.2.1 computes mod 2^64)
    text = """
        mov.u64 r1, %gid
        mov_imm.u64 r2, 0x4000000000000000
        add.u64 r2, r2, r1
        ldg.u32 r3, [r8 + r2*4]
        ldg.u32 r4, [r8 + r2*4 + 4]
        stg.u32 [r9 + r1*4], r3
        stg.u32 [r10 + r1*4], r4
    """
    x = np.arange(100, 133, dtype=np.uint32)
    arrays, err = run_all(text, 1, 32, {"r8": x, "r9": np.zeros(32, np.uint32),
                                        "r10": np.zeros(32, np.uint32)})
    assert err is None
    assert arrays["r9"].tolist() == list(range(100, 132))
    assert arrays["r10"].tolist() == list(range(101, 133))


def test_scaled_offsets_below_zero_are_out_of_bounds():
    # lanes 0 and 1 compute i*8 - 8: lane 0's offset wraps to 2^64 - 8 (out of bounds)
    text = """
        mov.u64 r1, %gid
        ldg.u64 r3, [r8 + r1*8 - 8]
        stg.u64 [r9 + r1*8], r3
    """
    arrays, err = run_all(text, 1, 2, {"r8": np.arange(2, dtype=np.uint64),
                                       "r9": np.zeros(2, np.uint64)})
    assert err[:3] == (hg.OutOfBounds, 0, 1)
    assert arrays["r9"].tolist() == [0, 0]          # lane 1 (offset 0) ran: it stored 0


def test_scaled_gather_with_lane_dependent_offsets():
    # offsets from data (no register shape): one bounds check for the group, scale 4, disp 8
    text = """
        mov.u64 r1, %gid
        ldg.u32 r2, [r7 + r1*4]
        cvt.u64.u32 r3, r2
        ldg.f32 r4, [r8 + r3*4 + 8]
        stg.f32 [r9 + r1*4], r4
        sts.f32 [r1*4 + 4], r4
        bar.sync 0
        lds.f32 r5, [r1*4 + 4]
        atoms.add.f32 r6, [r1*4 + 4], r5
        lds.f32 r6, [r1*4 + 4]
        stg.f32 [r10 + r1*4], r6
    """
    idx = np.array([(7 * i) % 30 for i in range(64)], np.uint32)
    x = np.arange(32, dtype=np.float32) * 0.5
    arrays, err = run_all(text, 1, 64, {"r7": idx, "r8": x, "r9": np.zeros(64, np.float32),
                                        "r10": np.zeros(64, np.float32)}, shared=4 * 65)
    assert err is None
    want = [x[(7 * i) % 30 + 2] for i in range(64)]
    assert arrays["r9"].tolist() == want
    assert arrays["r10"].tolist() == [2 * v for v in want]


# --------------------------------------------------------------------------------------------
# Collectives: resolved at once (complete warps) or by the scheduler

SUM = f"""
        mov.u32 r1, %lane.x
        {{pre}}
back:
{shfl_down_sum()}
        mov.u64 r3, %gid
        stg.u32 [r9 + r3*4], r1
done:
        exit
late:
        mov_imm.u32 r5, 3
spin:
        loop r5, @spin
        bra @back
"""


@pytest.mark.parametrize("pre, live, warp1", [
    ("", 64, sum(range(32, 64))),                   # the whole block: at once
    # warp 1 keeps 8 lanes: the first shuffle waits until the others have exited (scheduler),
    # the next ones run at once. Its lanes read their own value where the source lane is gone
    # (down 16 and 8 double every value), so lane 32 ends with 4 * (32 + ... + 39)
    ("setgeu.u32 p0, r1, 40\nbra.p0 @done", 40, 4 * sum(range(32, 40))),
    # lanes 8..15 of warp 0 arrive after the others wait: the scheduler resolves warp 0
    ("setgeu.u32 p0, r1, 8\nsetltu.u32 p1, r1, 16\nand.pred p0, p0, p1\nbra.p0 @late", 64,
     sum(range(32, 64))),
])
def test_warp_sum_on_every_path(pre, live, warp1):
    out = np.zeros(64, np.uint32)
    arrays, err = run_all(SUM.format(pre=pre), 1, 64, {"r9": out})
    assert err is None
    got = arrays["r9"].tolist()
    assert got[0] == sum(range(32)) and got[32] == warp1
    assert got[live:] == [0] * (64 - live)          # exited lanes stored nothing


def test_collective_reads_a_lazily_computed_row():
    # r2 = gid * 8 is whole-block affine (the VM leaves its row unwritten until read); the
    # collective must see the values, on the direct path and after a divergent prologue
    for pre in ("", "setgeu.u32 p0, r1, 3\nbra.p0 @x\nmov_imm.u32 r6, 0\nx:"):
        text = f"""
            mov.u32 r1, %lane.x
            {pre}
            mov.u64 r2, %gid
            shl.u64 r2, r2, 3
            shfl.idx.u64 r4, r2, 5
            mov.u64 r3, %gid
            stg.u64 [r9 + r3*8], r4
        """
        arrays, err = run_all(text, 2, 32, {"r9": np.zeros(64, np.uint64)})
        assert err is None
        assert arrays["r9"].tolist() == [8 * 5] * 32 + [8 * 37] * 32
