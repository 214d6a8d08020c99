"""Run-time fault codes shared by the VM and the reference interpreter.

Engines report a fault as ``Fault(code, global_lane, pc, detail)``; :func:`raise_fault` turns it
into the exception of ISA.md §7.5 with the same message whichever engine found it. The VM's
``F_*`` enum is generated from :data:`NAMES` (hologram/_vmgen.py).
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Tuple, Type

from . import errors as E
from .isa import DType

OK = 0
UNINIT_REG = 1
UNINIT_PRED = 2
TYPE_MISMATCH = 3
INVALID_HANDLE = 4
OUT_OF_BOUNDS = 5
SHARED_OUT_OF_BOUNDS = 6
MISALIGNED = 7
DIV_ZERO = 8
CALL_OVERFLOW = 9
CALL_UNDERFLOW = 10
BARRIER_DIVERGENCE = 11
INVALID_COORDINATE = 12
ALLOC_FAILED = 13
STEP_LIMIT = 14
INTERRUPTED = 15
TIMEOUT = 16
WARP_DIVERGENCE = 17
INTERNAL = 18          # the VM met an opcode it has no code for: a bug, never a program's fault

#: Fault names in code order (hologram/_vmgen.py writes the VM's F_* enum from it).
NAMES = ("OK", "UNINIT_REG", "UNINIT_PRED", "TYPE_MISMATCH", "INVALID_HANDLE", "OUT_OF_BOUNDS",
         "SHARED_OUT_OF_BOUNDS", "MISALIGNED", "DIV_ZERO", "CALL_OVERFLOW", "CALL_UNDERFLOW",
         "BARRIER_DIVERGENCE", "INVALID_COORDINATE", "ALLOC_FAILED", "STEP_LIMIT", "INTERRUPTED",
         "TIMEOUT", "WARP_DIVERGENCE", "INTERNAL")
assert all(globals()[name] == code for code, name in enumerate(NAMES))

CLASSES: Tuple[Optional[Type[E.ExecutionError]], ...] = (
    None, E.UninitializedRegister, E.UninitializedPredicate, E.TypeMismatch, E.InvalidHandle,
    E.OutOfBounds, E.SharedOutOfBounds, E.Misaligned, E.DivisionByZero, E.CallStackOverflow,
    E.CallStackUnderflow, E.BarrierDivergence, E.InvalidCoordinate, E.AllocationFailed,
    E.StepLimitExceeded, E.Interrupted, E.Timeout, E.WarpDivergence, E.ExecutionError)

SHARED = 2**64 - 1   # the "handle" of shared memory in a Misaligned detail


class Fault(NamedTuple):
    """A lane's fault: code, global lane id, pc and up to five detail integers, each a u64
    value (see message)."""
    code: int
    lane: int
    pc: int
    detail: Tuple[int, ...] = ()


def _offset(v: int) -> str:
    """A u64 offset; one with the top bit set also as the negative number it may have been."""
    v &= 2**64 - 1
    return f"{v} ({v - (1 << 64)})" if v >= 1 << 63 else str(v)


def message(code: int, detail: Tuple[int, ...]) -> str:
    """Human-readable message of a fault (the exception's ``message``)."""
    d = tuple(detail) + (0, 0, 0, 0, 0)
    if code == UNINIT_REG:
        return f"uninitialized register: r{d[0]}"
    if code == UNINIT_PRED:
        return f"uninitialized predicate: p{d[0]}"
    if code == TYPE_MISMATCH:
        return f"type mismatch: r{d[0]}: expected {DType(d[1]).text}, got {DType(d[2]).text}"
    if code == INVALID_HANDLE:
        return f"invalid {'pool id' if d[1] else 'buffer handle'}: {d[0] & (2**64 - 1)}"
    if code == OUT_OF_BOUNDS:
        return (f"out of bounds: {d[2]} bytes at offset {_offset(d[1])} of "
                f"{'pool' if d[4] else 'buffer'} {d[0] & (2**64 - 1)} (size {d[3]})")
    if code == SHARED_OUT_OF_BOUNDS:
        return f"shared memory out of bounds: {d[1]} bytes at offset {_offset(d[0])} (size {d[2]})"
    if code == MISALIGNED:
        where = "shared memory" if d[0] == SHARED else f"buffer {d[0] & (2**64 - 1)}"
        return f"misaligned atomic: {d[2]} bytes at offset {_offset(d[1])} of {where}"
    if code == DIV_ZERO:
        return "division by zero"
    if code == CALL_OVERFLOW:
        return "call stack overflow (depth 256)"
    if code == CALL_UNDERFLOW:
        return "call stack underflow"
    if code == BARRIER_DIVERGENCE:
        return "barrier divergence: lanes of the block wait at different barrier ids"
    if code == INVALID_COORDINATE:
        return f"invalid coordinate: {'page' if d[1] else 'class'} {d[0]}"
    if code == ALLOC_FAILED:        # d[1]: refused by the backend's pool quota d[2]
        why = (f" (the pools would hold more than the backend's pool_quota of {d[2]} bytes)"
               if d[1] else "")
        return f"pool allocation of {d[0]} bytes failed{why}"
    if code == STEP_LIMIT:
        return f"step limit exceeded (max_steps={d[0]})"
    if code == INTERRUPTED:
        return "launch interrupted"
    if code == TIMEOUT:
        return f"launch timed out (timeout={d[0] / 1e6:g} s)"
    if code == WARP_DIVERGENCE:      # detail: the warp's index in its block
        return (f"warp divergence: the lanes of warp {d[0]} do not all wait at this warp "
                f"collective")
    if code == INTERNAL:
        return (f"internal error of the VM: no code for opcode {d[0]} with type {d[1]} "
                "(a bug in hologram, not in the program; please report it)")
    return f"fault {code}"
