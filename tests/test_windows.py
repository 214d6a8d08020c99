"""Block ranges and buffer windows (both engines, 1 and 2 threads).

A launch with ``block_range=(start, stop)`` runs only those blocks of its grid, with the ids
they have in the whole grid; a :class:`hologram.BufferWindow` binds an array as a byte range of
a larger virtual buffer. Together they run a piece of a launch on a piece of its data: the
pieces must give exactly what the whole launch gives, and an access that leaves its window
must fault with an OutOfBounds naming the window.
"""

from __future__ import annotations

import pickle
from typing import Any, Dict, Optional, Tuple

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import hologram as hg
from hologram import kernels

ENGINES = [("vm", 1), ("vm", 2), ("reference", 1)]

IDS = """
.block 64
; out[gid] = (block.x, block.y, block.z, lane.x, lane.y, %gid, r253, r255) as u32/u64 fields
        mov.u32     r10, %block.x
        mov.u32     r11, %block.y
        mov.u32     r12, %block.z
        mov.u32     r13, %lane.x
        mov.u32     r14, %lane.y
        mov.u64     r15, %gid
        mov_imm.u32 r20, 5
        shl.u64     r0, r255, r20           ; 32 bytes per lane
        stg.u32     [r1 + r0], r10
        mov_imm.u64 r21, 4
        add.u64     r0, r0, r21
        stg.u32     [r1 + r0], r11
        add.u64     r0, r0, r21
        stg.u32     [r1 + r0], r12
        add.u64     r0, r0, r21
        stg.u32     [r1 + r0], r13
        add.u64     r0, r0, r21
        stg.u32     [r1 + r0], r14
        add.u64     r0, r0, r21
        stg.u32     [r1 + r0], r253
        add.u64     r0, r0, r21
        stg.u64     [r1 + r0], r15
"""


def backend(engine: str, threads: int) -> hg.CpuBackend:
    return hg.CpuBackend(num_threads=threads, engine=engine)


def ids(engine, threads, grid, block, block_range=None) -> np.ndarray:
    lanes = int(np.prod(grid)) * int(np.prod(block))
    out = np.zeros(32 * lanes, np.uint8)
    backend(engine, threads).execute_program(hg.assemble(IDS), hg.LaunchConfig(grid, block),
                                             {"r1": out}, block_range=block_range)
    return out


@pytest.mark.parametrize("engine,threads", ENGINES)
@pytest.mark.parametrize("grid,block", [(10, 64), ((3, 4), (8, 2)), ((2, 3, 2), (4, 2, 2))])
def test_block_range_runs_those_blocks_with_their_grid_ids(engine, threads, grid, block):
    full = ids(engine, threads, grid, block)
    nblocks = int(np.prod(grid))
    per_block = 32 * int(np.prod(block))
    for start, stop in [(0, nblocks), (0, 1), (1, nblocks - 1), (nblocks - 1, nblocks), (2, 2)]:
        part = ids(engine, threads, grid, block, (start, stop))
        lo, hi = start * per_block, stop * per_block
        assert (part[lo:hi] == full[lo:hi]).all(), (start, stop)
        assert not part[:lo].any() and not part[hi:].any(), (start, stop)


@pytest.mark.parametrize("engine,threads", ENGINES)
def test_pieces_with_windows_equal_the_whole_launch(engine, threads):
    """vector_add over 1000 elements in pieces of whole blocks, each piece's arrays bound as
    windows of the whole arrays: the kernel's global offsets are unchanged."""
    prog = hg.assemble(kernels.render("binary", T="f32", OP="add", NAME="vadd"))
    n, B = 1000, 64
    a = np.arange(n, dtype=np.float32)
    b = np.linspace(-1, 1, n, dtype=np.float32)
    be = backend(engine, threads)
    got = np.zeros(n, np.float32)
    for s, e in [(0, 128), (128, 640), (640, 1000)]:
        out = np.zeros(e - s, np.float32)
        params = {"r1": hg.BufferWindow(a[s:e], 4 * s, 4 * n),
                  "r2": hg.BufferWindow(b[s:e], 4 * s, 4 * n),
                  "r3": hg.BufferWindow(out, 4 * s, 4 * n), "r4": ("u64", n)}
        be.execute_program(prog, hg.LaunchConfig(-(-n // B), B), params,
                           block_range=(s // B, -(-e // B)))
        got[s:e] = out
    want = np.zeros(n, np.float32)
    be.execute_program(prog, hg.LaunchConfig(-(-n // B), B),
                       {"r1": a, "r2": b, "r3": want, "r4": ("u64", n)})
    assert got.tobytes() == want.tobytes()


BLOCK_SUM = """
.block 32
.shared 128
; out[block] = sum of x[32 block .. 32 block + 31] (u32), via shared memory and bar.sync
        mov_imm.u32 r20, 2
        shl.u64     r0, r255, r20
        ldg.u32     r10, [r1 + r0]
        cvt.u64.u32 r21, r252
        shl.u64     r22, r21, r20
        sts.u32     [r0 + r22], r10
        bar.sync    0
        mov_imm.u32 r30, 0
        setne.u32   p0, r252, r30
        bra.p0      @done
        mov_imm.u32 r11, 0
        mov_imm.u64 r23, 0
        mov_imm.u64 r24, 4
        mov_imm.u32 r31, 31             ; loop runs its body count + 1 times
sum:
        lds.u32     r12, [r0 + r23]
        add.u32     r11, r11, r12
        add.u64     r23, r23, r24
        loop        r31, @sum
        cvt.u64.u32 r25, r253
        shl.u64     r26, r25, r20
        stg.u32     [r2 + r26], r11
done:
        exit
"""


@pytest.mark.parametrize("engine,threads", ENGINES)
def test_block_range_with_shared_memory_and_barriers(engine, threads):
    x = np.arange(32 * 9, dtype=np.uint32)
    prog = hg.assemble(BLOCK_SUM)
    be = backend(engine, threads)
    whole = np.zeros(9, np.uint32)
    be.execute_program(prog, hg.LaunchConfig(9), {"r1": x, "r2": whole})
    assert (whole == x.reshape(9, 32).sum(1)).all()
    part = np.zeros(9, np.uint32)
    be.execute_program(prog, hg.LaunchConfig(9), {"r1": x, "r2": part}, block_range=(3, 7))
    assert (part[3:7] == whole[3:7]).all() and not part[:3].any() and not part[7:].any()


FAULT_AT = """
.block 16
; lanes whose gid is listed in r2 (u64 flags, 1 = fault) read out of bounds
        mov_imm.u32 r20, 3
        shl.u64     r0, r255, r20
        ldg.u64     r10, [r2 + r0]
        mov_imm.u64 r11, 0
        seteq.u64   p0, r10, r11
        bra.p0      @done
        mov_imm.u64 r12, 1000000
        ldg.u8      r13, [r2 + r12]
done:
        exit
"""


@pytest.mark.parametrize("engine,threads", ENGINES)
def test_block_range_faults_name_global_lanes(engine, threads):
    flags = np.zeros(16 * 8, np.uint64)
    flags[[5, 40, 70, 100]] = 1
    be = backend(engine, threads)
    prog = hg.assemble(FAULT_AT)
    for rng, lane in [(None, 5), ((1, 8), 40), ((3, 8), 70), ((5, 6), None), ((6, 8), 100)]:
        if lane is None:
            be.execute_program(prog, hg.LaunchConfig(8), {"r2": flags}, block_range=rng)
            continue
        with pytest.raises(hg.OutOfBounds) as e:
            be.execute_program(prog, hg.LaunchConfig(8), {"r2": flags}, block_range=rng)
        assert e.value.global_lane_id == lane
        assert e.value.block_idx == (lane // 16, 0, 0)


@pytest.mark.parametrize("engine", ["vm", "reference"])
def test_block_range_resonance_counts_only_those_blocks(engine):
    prog = hg.assemble("""
        mov_imm.u8  r1, 7
        mov_imm.f64 r2, 1.0
        res.accum   r1, r2
    """)
    r = backend(engine, 1).execute_program(prog, hg.LaunchConfig(10, 4), block_range=(2, 5))
    assert r.resonance[7] == 12.0 and r.resonance.sum() == 12.0


@pytest.mark.parametrize("bad", [(2, 1), (0, 11), (-1, 3), (1,), (0.0, 1), (True, 2),
                                 "0:3", range(0, 4, 2)])
def test_block_range_validation(bad):
    be = hg.CpuBackend()
    with pytest.raises(hg.LaunchConfigError, match="block_range"):
        be.execute_program(hg.assemble("exit"), hg.LaunchConfig(10), block_range=bad)


def test_block_range_accepts_a_range_and_prepared_launches_keep_it():
    out = np.zeros(32 * 64 * 10, np.uint8)
    be = hg.CpuBackend()
    k = be.prepare(hg.assemble(IDS), hg.LaunchConfig(10, 64), {"r1": out},
                   block_range=range(4, 6))
    k()
    assert out.reshape(10, -1)[[4, 5]].any(axis=1).all()
    assert not np.delete(out.reshape(10, -1), [4, 5], axis=0).any()
    r = hg.launch(hg.assemble(IDS), 10, 64, params={"r1": np.zeros_like(out)},
                  block_range=(0, 10))
    assert r.num_threads >= 1


# ---- windows

ACCESS = """
.block 8
; lane i: r10 = load of the {ty} at offset (start + i * {step}) of r1, stored to out[8 i];
; start is r3, or (via_load) read from r4[i]
        mov_imm.u32 r21, 3
        shl.u64     r22, r255, r21
        mov_imm.u64 r20, {step}
        mul.u64     r0, r255, r20
        {start}
        add.u64     r0, r0, r23
        ldg.{ty}    r10, [r1 + r0]
        stg.{ty}    [r2 + r22], r10
"""


def run_access(engine, threads, ty, step, start, window, lanes=8, data=None, via_load=False):
    """Load through a window (base, nbytes, size) of a u8 buffer; returns (out, fault)."""
    base, nbytes, size = window
    data = np.arange(nbytes, dtype=np.uint8) if data is None else data
    # via_load: the offset comes from memory, so the VM cannot use its register shapes
    source = ACCESS.format(ty=ty, step=step, start="ldg.u64 r23, [r4 + r22]" if via_load
                           else "mov.u64 r23, r3")
    out = np.zeros(8 * lanes, np.uint8)
    params: Dict[str, Any] = {"r1": hg.BufferWindow(data, base, size), "r2": out,
                              "r3": ("u64", start), "r4": np.full(lanes, start, np.uint64)}
    err = None
    try:
        backend(engine, threads).execute_program(hg.assemble(source),
                                                 hg.LaunchConfig(-(-lanes // 8)), params)
    except hg.OutOfBounds as e:
        err = (e.global_lane_id, e.pc, str(e), e.window)
    return out.tobytes(), err


@settings(max_examples=60)
@given(ty=st.sampled_from(["u8", "u16", "u32", "f32", "u64"]), step=st.sampled_from([0, 1, 4, 8]),
       base=st.integers(0, 40), nbytes=st.integers(0, 48), extra=st.integers(0, 16),
       start=st.integers(0, 100), via_load=st.booleans())
def test_window_accesses_agree_with_the_reference(ty, step, base, nbytes, extra, start,
                                                  via_load):
    """Loads through a window at offsets in, below, above and beyond it: the VM's three
    memory paths (affine, whole group, lane by lane) agree with the reference: same values,
    same lowest faulting lane and message."""
    window = (base, nbytes, base + nbytes + extra)
    ref = run_access("reference", 1, ty, step, start, window, via_load=via_load)
    for threads in (1, 2):
        assert run_access("vm", threads, ty, step, start, window, via_load=via_load) == ref


@pytest.mark.parametrize("engine,threads", ENGINES)
def test_window_fault_messages(engine, threads):
    # below the window, inside the virtual buffer
    _, err = run_access(engine, threads, "u32", 4, 0, (16, 32, 100))
    lane, pc, text, where = err
    assert lane == 0 and "offset 0 of buffer" in text
    assert "outside the window [16, 48) bound from r1" in text
    assert where == hg.window.WindowFault(1, 16, 48, 100, 0, 4) and where.inside
    # past the window's end: the first lane beyond it
    _, err = run_access(engine, threads, "u32", 4, 16, (16, 32, 100), lanes=16)
    assert err[0] == 8 and err[3].offset == 48
    # beyond the virtual buffer
    _, err = run_access(engine, threads, "u32", 4, 90, (64, 36, 100))
    assert err[0] == 2 and "beyond the end of the 100-byte buffer" in err[2]
    assert not err[3].inside


def test_window_fault_pickles():
    _, err = run_access("vm", 1, "u32", 4, 0, (16, 32, 100))
    e = hg.OutOfBounds("x")
    try:
        backend("vm", 1).execute_program(
            hg.assemble(ACCESS.format(ty="u32", step=4, start="mov.u64 r23, r3")),
            hg.LaunchConfig(1),
            {"r1": hg.BufferWindow(np.zeros(32, np.uint8), 16, 100), "r2": np.zeros(64, np.uint8),
             "r3": ("u64", 0), "r4": np.zeros(8, np.uint64)})
    except hg.OutOfBounds as caught:
        e = caught
    back = pickle.loads(pickle.dumps(e))
    assert type(back) is hg.OutOfBounds and str(back) == str(e) == err[2]
    assert back.window == e.window and back.global_lane_id == 0 and back.pc == 6


ATOMIC = """
.block 8
; lane i: atom.add.u32 at offset r3 + 4 i of r1 (a window), old value unused
        mov_imm.u64 r20, 4
        mul.u64     r0, r255, r20
        add.u64     r0, r0, r3
        mov_imm.u32 r10, 1
        atom.add.u32 r11, [r1 + r0], r10
"""


@pytest.mark.parametrize("engine,threads", ENGINES)
@pytest.mark.parametrize("base", [0, 4, 12, 20])
def test_atomics_on_windows_keep_the_virtual_alignment(engine, threads, base):
    """A window at a base that is not a multiple of 8 is placed so that the virtual offsets'
    alignment is the memory's: atomics work (and misalignment is judged on the offset)."""
    data = np.zeros(32, np.uint32)
    be = backend(engine, threads)
    be.execute_program(hg.assemble(ATOMIC), hg.LaunchConfig(1),
                       {"r1": hg.BufferWindow(data, base, base + 128), "r3": ("u64", base)})
    assert data[:8].tolist() == [1] * 8 and not data[8:].any()
    with pytest.raises(hg.Misaligned, match="offset 6 of buffer"):
        be.execute_program(hg.assemble(ATOMIC), hg.LaunchConfig(1),
                           {"r1": hg.BufferWindow(data, 4, 200), "r3": ("u64", 6)})


@pytest.mark.parametrize("engine", ["vm", "reference"])
def test_windows_of_unaligned_and_read_only_arrays(engine):
    """An unaligned writable array is copied in and back; a read-only one is copied (as for
    plain parameters); the kernel sees the same bytes either way."""
    raw = np.zeros(4 * 32 + 1, np.uint8)
    view = raw[1:].view(np.uint32)            # address 1 mod 8 (or so): not the window's phase
    be = backend(engine, 1)
    be.execute_program(hg.assemble(ATOMIC), hg.LaunchConfig(1),
                       {"r1": hg.BufferWindow(view, 8, 1000), "r3": ("u64", 8)})
    assert view[:8].tolist() == [1] * 8
    src = np.arange(64, dtype=np.uint8)
    src.flags.writeable = False
    out = np.zeros(64, np.uint8)
    be.execute_program(hg.assemble(ACCESS.format(ty="u8", step=1, start="mov.u64 r23, r3")),
                       hg.LaunchConfig(1),
                       {"r1": hg.BufferWindow(src, 3, 100), "r2": out, "r3": ("u64", 3),
                        "r4": np.zeros(8, np.uint64)})
    assert out[::8].tolist() == list(range(8))


def test_window_validation():
    be = hg.CpuBackend()
    prog = hg.assemble("exit")
    with pytest.raises(hg.LaunchConfigError, match="does not fit a buffer of 10 bytes"):
        be.execute_program(prog, params={"r1": hg.BufferWindow(np.zeros(8, np.uint8), 4, 10)})
    for bad in [(-1, None), (2**64, None), (0, -5), (1.0, None), (True, None)]:
        with pytest.raises(ValueError, match="BufferWindow"):
            hg.BufferWindow(np.zeros(1), *bad)
    with pytest.raises(hg.LaunchConfigError, match="object"):
        be.execute_program(prog, params={"r1": hg.BufferWindow(np.zeros(2, object), 0)})
    # the default size is the window's end: an access past it is beyond the buffer
    be.execute_program(prog, params={"r1": hg.BufferWindow(b"abc", 2**64 - 3)})


def test_declared_buffers_take_windows_with_their_dtype_checked():
    prog = hg.assemble("""
    .param r1 f32[] x
    .param r2 u64 n
        exit
    """)
    be = hg.CpuBackend()
    be.execute_program(prog, params={"x": hg.BufferWindow(np.zeros(4, np.float32), 16), "n": 4})
    with pytest.raises(hg.LaunchConfigError, match="expected an array of float32"):
        be.execute_program(prog, params={"x": hg.BufferWindow(np.zeros(4, np.int32), 16),
                                         "n": 4})
