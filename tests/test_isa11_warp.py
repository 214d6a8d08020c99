"""ISA 1.1 warp collectives (ISA.md §12.4): shfl, vote, ballot, %laneid / %warpid and the
convergence rule (partial warps, exited lanes, read faults, WarpDivergence), on every engine.

Expectations are worked out by hand from §12.4, or (the hypothesis test at the end) by a small
independent model of the convergence rule. On the VM every case runs with 1 and 2 threads and
must give the same result.
"""

from __future__ import annotations

from typing import List, Optional, Tuple

import numpy as np
import pytest
from helpers import shfl_down_sum
from hypothesis import given, settings
from hypothesis import strategies as st

import hologram as hg


def launch(backend_name: str, text: str, block, grid=1, dtype=np.uint32, shared=0,
           params=None, max_steps=None, outputs_per_lane: int = 1):
    """Run ``text`` with r9 = an output array of ``outputs_per_lane`` values per lane (the
    program stores at gid·outputs·size); returns (out, error). On the VM, with 1 and 2 threads,
    which must agree."""
    prog = hg.assemble(text)
    shape = (grid if isinstance(grid, int) else int(np.prod(grid))) * \
        (block if isinstance(block, int) else int(np.prod(block)))
    results = []
    configs = [("reference", None)] if backend_name == "reference" else [("vm", 1), ("vm", 2)]
    for engine, nt in configs:
        be = hg.ReferenceBackend() if engine == "reference" else hg.CpuBackend(num_threads=nt)
        out = np.zeros(shape * outputs_per_lane, dtype)
        try:
            be.execute_program(prog, hg.LaunchConfig(grid, block, shared),
                               {"r9": out, **(params or {})}, max_steps=max_steps)
            err = None
        except hg.ExecutionError as e:
            err = e
        results.append((out, err))
    out, err = results[0]
    for other, e2 in results[1:]:
        key = lambda e: None if e is None else (type(e), e.global_lane_id, e.pc, e.message)  # noqa
        assert key(e2) == key(err)
        if err is None:
            assert np.array_equal(other, out)
    return out, err


# the value each lane offers (u32): 100 + linear lane index; stores r5 at out[gid]
PROLOGUE = """
        mov.u32 r1, %lane.x
        mov_imm.u32 r2, 100
        add.u32 r4, r1, r2              ; r4 = 100 + lane
        mov.u64 r6, %gid
        shl.u64 r6, r6, 2
"""
STORE = "        stg.u32 [r9 + r6], r5\n"


def lanes(values) -> List[int]:
    return [int(v) for v in values]


# --------------------------------------------------------------------------------------------
# shfl

def test_shfl_modes_full_warp(backend_name):
    for body, want in [
        ("shfl.idx.u32 r5, r4, 5", [105] * 32),
        ("shfl.idx.u32 r5, r4, 37", [105] * 32),                  # L mod 32
        ("shfl.up.u32 r5, r4, 1", [100] + [100 + i - 1 for i in range(1, 32)]),
        ("shfl.up.u32 r5, r4, 3", [100, 101, 102] + [100 + i - 3 for i in range(3, 32)]),
        ("shfl.down.u32 r5, r4, 16", [116 + i for i in range(16)] + [116 + i for i in range(16)]),
        ("shfl.down.u32 r5, r4, 0", [100 + i for i in range(32)]),
        ("shfl.xor.u32 r5, r4, 1", [100 + (i ^ 1) for i in range(32)]),
        ("shfl.xor.u32 r5, r4, 31", [100 + (31 - i) for i in range(32)]),
        ("shfl.xor.u32 r5, r4, 32", [100 + i for i in range(32)]),   # i xor 32 >= 32: own
        ("shfl.up.u32 r5, r4, 4294967295", [100 + i for i in range(32)]),
    ]:
        out, err = launch(backend_name, PROLOGUE + body + "\n" + STORE, 32)
        assert err is None
        assert lanes(out) == want, body


def test_shfl_register_lane_and_types(backend_name):
    # lane i reads lane 31 - i (a register source lane); f64 and i8 values are moved bit-exactly
    text = """
        mov.u32 r1, %laneid
        mov_imm.u32 r2, 31
        sub.u32 r3, r2, r1
        cvt.f64.u32 r4, r1
        mov_imm.f64 r7, 0.25
        add.f64 r4, r4, r7              ; lane + 0.25
        shfl.idx.f64 r5, r4, r3
        mov.u64 r6, %gid
        shl.u64 r6, r6, 3
        stg.f64 [r9 + r6], r5
        cvt.i8.u32 r10, r1
        neg.i8 r10, r10
        shfl.idx.i8 r11, r10, r3        ; -(31 - i)
        mov.u64 r6, %gid
        stg.i8 [r12 + r6], r11
    """
    extra = np.zeros(32, np.int8)
    out, err = launch(backend_name, text, 32, dtype=np.float64, params={"r12": extra})
    assert err is None
    assert out.tolist() == [31 - i + 0.25 for i in range(32)]
    assert extra.tolist() == [-(31 - i) for i in range(32)]


def test_shfl_partial_warp(backend_name):
    # block of 40 lanes: warp 1 holds lanes 32..39 (warp lanes 0..7)
    out, err = launch(backend_name, PROLOGUE + "shfl.down.u32 r5, r4, 4\n" + STORE, 40)
    assert err is None
    want = [104 + i for i in range(28)] + [128 + i for i in range(4)]   # warp 0: 28..31 own
    want += [136, 137, 138, 139, 136, 137, 138, 139]                     # j = 8..11 absent
    assert lanes(out) == want
    out, err = launch(backend_name, PROLOGUE + "shfl.idx.u32 r5, r4, 10\n" + STORE, 40)
    assert lanes(out) == [110] * 32 + [132 + i for i in range(8)]       # lane 10 of warp 1


def test_shfl_warp_sum(backend_name):
    """The CUDA warp reduction: after down-shuffles by 16, 8, 4, 2, 1 warp lane 0 holds the
    sum of its warp."""
    text = f"""
        mov.u32 r1, %lane.x
{shfl_down_sum(last="r5")}
        mov.u64 r6, %gid
        shl.u64 r6, r6, 2
        stg.u32 [r9 + r6], r5
    """
    out, err = launch(backend_name, text, 64, grid=2)
    assert err is None
    for b in range(2):
        assert out[64 * b] == sum(range(32)) and out[64 * b + 32] == sum(range(32, 64))


def test_shfl_with_exited_lanes(backend_name):
    # odd lanes exit first: even lanes xor-1 with an absent partner keep their own value,
    # xor-2 reach the next even lane
    text = PROLOGUE + """
        mov_imm.u32 r7, 1
        and.u32 r8, r1, r7
        setne.u32 p0, r8, 0
        bra.!p0 @stay
        exit
    stay:
        shfl.xor.u32 r5, r4, 1
        shfl.xor.u32 r10, r4, 2
        add.u32 r5, r5, r10
    """ + STORE
    out, err = launch(backend_name, text, 32)
    assert err is None
    assert lanes(out) == [(100 + i) + (100 + (i ^ 2)) if i % 2 == 0 else 0 for i in range(32)]


# --------------------------------------------------------------------------------------------
# vote and ballot

def test_vote_and_ballot(backend_name):
    text = """
        mov.u32 r1, %laneid
        mov_imm.u32 r2, 1
        and.u32 r3, r1, r2
        seteq.u32 p0, r3, 0             ; even lanes
        seteq.u32 p1, r1, 5             ; only lane 5
        setlt.u32 p2, r1, 40            ; every lane
        ballot.u32 r10, p0
        ballot.u32 r11, p1
        vote.any p3, p1
        vote.all p4, p1
        vote.all p5, p2
        vote.any p6, p0
        mov_imm.u32 r20, 0
        mov_imm.u32 r21, 1
        sel.u32 r12, p3, r21, r20
        sel.u32 r13, p4, r21, r20
        sel.u32 r14, p5, r21, r20
        sel.u32 r15, p6, r21, r20
        mov.u64 r6, %gid
        shl.u64 r6, r6, 5
        stg.u32 [r9 + r6], r10
        stg.u32 [r9 + r6 + 4], r11
        stg.u32 [r9 + r6 + 8], r12
        stg.u32 [r9 + r6 + 12], r13
        stg.u32 [r9 + r6 + 16], r14
        stg.u32 [r9 + r6 + 20], r15
        ballot.u32 r16, p2
        stg.u32 [r9 + r6 + 24], r16
    """
    out, err = launch(backend_name, text, 40, outputs_per_lane=8)
    assert err is None
    rows = out.reshape(40, 8)[:, :7].tolist()
    full = [0x55555555, 1 << 5, 1, 0, 1, 1, 0xFFFFFFFF]
    partial = [0x55, 1 << 5, 1, 0, 1, 1, 0xFF]     # warp 1: lanes 32..39 (warp lane 5 = 37)
    assert rows[:32] == [full] * 32
    assert rows[32:] == [partial] * 8


def test_vote_ignores_exited_lanes(backend_name):
    # lanes >= 16 exit; the rest all have p true: vote.all is true, ballot has 16 bits
    text = """
        mov.u32 r1, %laneid
        setge.u32 p0, r1, 16
        bra.!p0 @go
        exit
    go:
        setlt.u32 p1, r1, 16
        vote.all p2, p1
        ballot.u32 r5, p1
        mov_imm.u32 r7, 0
        mov_imm.u32 r8, 7
        sel.u32 r10, p2, r8, r7
        add.u32 r5, r5, r10
        mov.u64 r6, %gid
        shl.u64 r6, r6, 2
        stg.u32 [r9 + r6], r5
    """
    out, err = launch(backend_name, text, 32)
    assert err is None
    assert lanes(out) == [0xFFFF + 7] * 16 + [0] * 16


def test_laneid_and_warpid(backend_name):
    # block (8, 4, 2): linear lane x + 8y + 32z; %laneid = x + 8y, %warpid = z
    text = """
        mov.u32 r1, %laneid
        mov.u32 r2, %warpid
        mov_imm.u32 r3, 1000
        mul.u32 r2, r2, r3
        add.u32 r5, r1, r2
        mov.u64 r6, %gid
        shl.u64 r6, r6, 2
        stg.u32 [r9 + r6], r5
    """
    out, err = launch(backend_name, text, (8, 4, 2), grid=2)
    assert err is None
    want = [(x + 8 * y) + 1000 * z for z in range(2) for y in range(4) for x in range(8)]
    assert lanes(out) == want * 2


def test_collective_in_a_uniform_loop_and_late_arrivals(backend_name):
    # even lanes run extra instructions before the shuffle: lanes arrive at different times
    # but at the same instruction, so the warp converges; the shuffle runs 3 times
    text = PROLOGUE + """
        mov_imm.u32 r11, 2
    top:
        mov_imm.u32 r7, 1
        and.u32 r8, r1, r7
        setne.u32 p0, r8, 0
        bra.p0 @odd
        add.u32 r4, r4, 0
        add.u32 r4, r4, 0
    odd:
        shfl.xor.u32 r4, r4, 1
        loop r11, @top
        mov.u32 r5, r4
    """ + STORE
    out, err = launch(backend_name, text, 32)
    assert err is None
    assert lanes(out) == [100 + (i ^ 1) for i in range(32)]      # swapped an odd number of times


# --------------------------------------------------------------------------------------------
# faults: read faults inside a collective, WarpDivergence, steps

def test_read_fault_ends_only_that_lane(backend_name):
    # lane 3 never writes r4: it faults at the shuffle and does not participate; lane 2 keeps
    # its own value
    text = """
        mov.u32 r1, %laneid
        seteq.u32 p0, r1, 3
        bra.p0 @skip
        mov_imm.u32 r2, 100
        add.u32 r4, r1, r2
    skip:
        shfl.xor.u32 r5, r4, 1
        mov.u64 r6, %gid
        shl.u64 r6, r6, 2
        stg.u32 [r9 + r6], r5
    """
    out, err = launch(backend_name, text, 32)
    assert isinstance(err, hg.UninitializedRegister)
    assert (err.global_lane_id, err.pc, err.message) == (3, 5, "uninitialized register: r4")
    want = [100 + (i ^ 1) for i in range(32)]
    want[2], want[3] = 102, 0
    assert lanes(out) == want


def test_read_fault_of_the_lane_operand(backend_name):
    text = PROLOGUE + """
        mov_imm.u64 r3, 1
        shfl.idx.u32 r5, r4, r3
    """ + STORE
    out, err = launch(backend_name, text, 32)
    assert isinstance(err, hg.TypeMismatch)
    assert (err.global_lane_id, err.pc) == (0, 6)
    assert err.message == "type mismatch: r3: expected u32, got u64"
    assert not out.any()


def test_warp_divergence_between_collectives(backend_name):
    # warp 0 converges; in warp 1 even lanes shuffle at one instruction, odd lanes at another
    text = PROLOGUE + """
        mov.u32 r7, %warpid
        seteq.u32 p1, r7, 0
        mov_imm.u32 r8, 1
        and.u32 r8, r1, r8
        seteq.u32 p0, r8, 0
        or.pred p0, p0, p1
        bra.!p0 @odd
        shfl.xor.u32 r5, r4, 2
        bra @done
    odd:
        shfl.xor.u32 r5, r4, 2
    done:
    """ + STORE
    out, err = launch(backend_name, text, 64)
    assert isinstance(err, hg.WarpDivergence)
    assert isinstance(err, hg.ExecutionError)
    assert (err.global_lane_id, err.pc) == (32, 12)
    assert err.message == ("warp divergence: the lanes of warp 1 do not all wait at this warp "
                           "collective")
    assert err.instruction == "shfl.xor.u32 r5, r4, 2"
    assert lanes(out) == [100 + (i ^ 2) for i in range(32)] + [0] * 32


def test_warp_divergence_with_a_barrier(backend_name):
    # lane 0 waits at bar.sync while lanes 1..31 wait at a vote: the voters fault (they are
    # resolved first); then the barrier releases lane 0, which stores 1
    text = """
        mov.u32 r1, %laneid
        mov_imm.u32 r5, 1
        setne.u32 p0, r1, 0
        bra.p0 @vote
        bar.sync 0
        bra @store
    vote:
        vote.any p1, p0
        mov_imm.u32 r5, 2
    store:
        mov.u64 r6, %gid
        shl.u64 r6, r6, 2
        stg.u32 [r9 + r6], r5
    """
    out, err = launch(backend_name, text, 32)
    assert isinstance(err, hg.WarpDivergence)
    assert (err.global_lane_id, err.pc) == (1, 6)
    assert lanes(out) == [1] + [0] * 31


def test_different_warps_never_wait_for_each_other(backend_name):
    # warp 0 shuffles, warp 1 takes a different collective: no divergence (per-warp rule)
    text = PROLOGUE + """
        mov.u32 r7, %warpid
        setne.u32 p0, r7, 0
        bra.p0 @w1
        shfl.idx.u32 r5, r4, 0
        bra @done
    w1:
        setge.u32 p1, r1, 40
        ballot.u32 r5, p1
    done:
    """ + STORE
    out, err = launch(backend_name, text, 64)
    assert err is None
    assert lanes(out) == [100] * 32 + [0xFFFFFF00] * 32


def test_collective_counts_one_step(backend_name):
    text = """
        mov.u32 r1, %laneid
        shfl.idx.u32 r2, r1, 0
        mov.u32 r3, r2
    """
    _, err = launch(backend_name, text, 32, max_steps=3)
    assert err is None
    _, err = launch(backend_name, text, 32, max_steps=2)
    assert isinstance(err, hg.StepLimitExceeded) and (err.global_lane_id, err.pc) == (0, 2)
    _, err = launch(backend_name, text, 32, max_steps=1)
    assert isinstance(err, hg.StepLimitExceeded) and (err.global_lane_id, err.pc) == (0, 1)


# --------------------------------------------------------------------------------------------
# Divergence scenarios against an independent model of §12.4 and §6.3

EXIT, SHFL, BALLOT, BAR = range(4)

SCENARIO = """
        mov.u32 r1, %lane.x
        cvt.u64.u32 r2, r1
        mov.u32 r20, %block.x
        cvt.u64.u32 r21, r20
        mov.u32 r22, %blockdim.x
        cvt.u64.u32 r23, r22
        mul.u64 r21, r21, r23
        add.u64 r2, r2, r21             ; gid
        ldg.u8 r3, [r8 + r2]            ; this lane's kind
        mov_imm.u32 r10, 3
        mul.u32 r4, r1, r10
        add.u32 r4, r4, 1               ; value = 3 * lane.x + 1
        mov_imm.u32 r11, 1
        and.u32 r12, r1, r11
        seteq.u32 p0, r12, 1            ; odd lanes
        shl.u64 r6, r2, 2
        seteq.u8 p1, r3, 0
        bra.!p1 @live
        exit
    live:
        seteq.u8 p2, r3, 2
        bra.p2 @ballot
        seteq.u8 p3, r3, 3
        bra.p3 @bar
        shfl.xor.u32 r5, r4, {xor}
        bra @store
    ballot:
        ballot.u32 r5, p0
        bra @store
    bar:
        bar.sync 0
        mov_imm.u32 r5, 7
    store:
        stg.u32 [r9 + r6], r5
"""
SHFL_PC, BALLOT_PC = 23, 25


def model(kinds: List[int], block: int, xor: int) -> Tuple[List[int], Optional[Tuple[int, int, int]]]:
    """Outputs per lane and (lane, pc, warp) of the lowest WarpDivergence, from §12.4/§6.3."""
    out = [0] * len(kinds)
    first: Optional[Tuple[int, int, int]] = None
    for b0 in range(0, len(kinds), block):
        for w0 in range(b0, b0 + block, 32):
            warp = list(range(w0, min(w0 + 32, b0 + block)))
            live = [g for g in warp if kinds[g] != EXIT]
            at = [g for g in live if kinds[g] in (SHFL, BALLOT)]
            if not at:
                pass
            elif len(at) == len(live) and len({kinds[g] for g in at}) == 1:
                for g in at:
                    i = g - w0
                    lx = g - b0
                    if kinds[g] == SHFL:
                        j = i ^ xor
                        out[g] = 3 * (lx - i + j) + 1 if j < 32 and w0 + j in at else 3 * lx + 1
                    else:
                        out[g] = sum(1 << (h - w0) for h in at if (h - b0) % 2 == 1)
            else:
                for g in at:
                    cand = (g, SHFL_PC if kinds[g] == SHFL else BALLOT_PC, (w0 - b0) // 32)
                    if first is None or cand < first:
                        first = cand
            for g in live:
                if kinds[g] == BAR:
                    out[g] = 7               # the barrier always releases (others are done)
        if first is not None:
            break                            # later blocks may be skipped (§7.6)
    return out, first


@pytest.mark.parametrize("engine", ["vm", "reference"])
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_divergence_scenarios_match_the_model(engine, data):
    block = data.draw(st.sampled_from([1, 5, 32, 33, 40, 64, 70]))
    grid = data.draw(st.integers(1, 2))
    n = block * grid
    uniform = data.draw(st.booleans())         # most warps take one path: collectives run
    if uniform:
        per_warp = data.draw(st.lists(st.sampled_from([SHFL, BALLOT, BAR]), min_size=n,
                                      max_size=n))
        kinds = [per_warp[g // 32] if data.draw(st.integers(0, 9)) else EXIT for g in range(n)]
    else:
        kinds = data.draw(st.lists(st.sampled_from([EXIT, SHFL, BALLOT, BAR]), min_size=n,
                                   max_size=n))
    xor = data.draw(st.sampled_from([1, 2, 16, 31, 33]))
    want, first = model(kinds, block, xor)
    out, err = launch(engine, SCENARIO.format(xor=xor), block, grid=grid,
                      params={"r8": np.array(kinds, np.uint8)})
    if first is None:
        assert err is None, err
        assert lanes(out) == want
    else:
        assert isinstance(err, hg.WarpDivergence), err
        lane, pc, warp = first
        assert (err.global_lane_id, err.pc) == (lane, pc)
        assert f"warp {warp} " in err.message
        upto = (lane // block + 1) * block
        assert lanes(out[:upto]) == want[:upto]
