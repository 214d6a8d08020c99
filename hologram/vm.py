"""Lowering of a Program to the VM's flat arrays, and the VM engine of CpuBackend
(:class:`VmEngine`).

A program is lowered once (cached on the immutable Program): every instruction becomes one row
of ``_core.LAYOUT["NCOL"]`` int64 columns, driven by the field kinds and roles of
:data:`hologram.isa.SPECS`; registers are renamed to dense *slots* (only registers the program
names get storage), and each instruction gets the list of register reads the VM must
type-check, in field order.

An immediate operand (ISA 1.1 §12.1) is read from a *constant row*: a slot after the
registers that holds the value in every lane, written once per launch like a parameter. So the
element-wise loops need no form of their own for immediates, and register shapes see them as
uniform values. A program with more than ``CONST_ROWS`` distinct immediates gives the most used
ones a row each; the others share one row that the VM rewrites before an instruction that needs
another value (C_KREFILL).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np

from . import _core, atlas, faults, verify
from .isa import (COLLECTIVES, FLAG, GADDR, IMM, LABEL, OPTPRED, PRED, REG, REGIMM, SADDR,
                  TYPE, U8, U16, U32, U64, ENUMS, BufferOffset, DType, Imm, Instruction,
                  PhiCoordinate, RegisterIndirect, RegisterIndirectComputed, registers_used)
from .launch import Launch
from .program import Program

L_ = _core.LAYOUT
NCOL = L_["NCOL"]
OPCODES = _core.OPCODES
CONST_ROWS = L_["MAX_CONSTS"]     # immediates with a constant row of their own

_core.set_atlas_tables(atlas.MIRROR, atlas.DEGREE,
                       [k for row in atlas.NEIGHBOUR_TABLE for k in row], atlas.IS_UNITY)


@dataclass
class Lowered:
    code: np.ndarray          # (n, NCOL) int64, read-check columns empty
    nslots: int
    slot_of: np.ndarray       # register -> slot, -1 if unused
    sreg_slot: np.ndarray     # slots of r252..r255
    uses_calls: bool
    program: Program
    # parameter types -> _core.Prepared (the code with its read checks for that signature)
    by_signature: Dict[Tuple[Tuple[int, DType], ...], "_core.Prepared"]
    slot_list: List[int]      # slot_of as a list (fast indexing on the launch path)
    uses_accum: bool          # the program has res.accum (else no resonance array is made)
    nregs: int                # register slots; constant rows follow them
    constants: List[Tuple[int, int, int]]   # constant rows as launch init entries (slot, 0, value)


def _i64(v: int) -> int:
    """A u64 as the int64 with the same bits."""
    v &= 2**64 - 1
    return v - 2**64 if v >= 2**63 else v


def canonical(ty: DType, value: int) -> int:
    """Register content of an integer (sign/zero-extended to 64 bits) or float bit pattern."""
    if ty.is_float:
        return value & ((1 << ty.bits) - 1)
    v = value & ((1 << ty.bits) - 1)
    if ty.is_signed and v >= 1 << (ty.bits - 1):
        v -= 1 << ty.bits
    return v & (2**64 - 1)


_ONE = {DType.F16: 0x3C00, DType.BF16: 0x3F80, DType.F32: 0x3F800000, DType.F64: 0x3FF0000000000000}
_INF = {DType.F16: 0x7C00, DType.BF16: 0x7F80, DType.F32: 0x7F800000, DType.F64: 0x7FF0000000000000}


def reduction_identity(variant: str, ty: DType) -> int:
    """Identity of reduce.add/mul/min/max in type ty (ISA.md §5.7), as register content."""
    if variant == "ReduceAdd":
        return 0
    if variant == "ReduceMul":
        return _ONE[ty] if ty.is_float else 1
    sign = 1 << (ty.bits - 1)
    if variant == "ReduceMin":       # the type's maximum
        if ty.is_float:
            return _INF[ty]
        return canonical(ty, sign - 1 if ty.is_signed else (1 << ty.bits) - 1)
    if ty.is_float:                  # ReduceMax: the type's minimum
        return _INF[ty] | sign
    return canonical(ty, sign if ty.is_signed else 0)


def lower(program: Program) -> Lowered:
    """Lower a validated program (cached on the program object)."""
    cached = program._lowered
    if cached is not None:
        return cached
    used = sorted({r for ins in program.instructions for r in registers_used(ins)})
    slot_of = np.full(256, -1, np.int64)
    slot_of[used] = np.arange(len(used))
    # Constant rows: the most used immediates first (ties: first use), one shared row beyond
    uses = Counter(v for ins in program.instructions for _, v in immediates(ins))
    own = sorted(uses, key=lambda v: -uses[v])[:CONST_ROWS]
    const_slot = {v: len(used) + k for k, v in enumerate(own)}
    refills = len(uses) > len(own)
    shared_row = len(used) + len(own)
    code = np.zeros((len(program), NCOL), np.int64)
    for pc, ins in enumerate(program.instructions):
        _lower_instruction(ins, code[pc], slot_of, program.labels, const_slot, shared_row)
    lowered = Lowered(code, shared_row + refills, slot_of, slot_of[252:256].copy(),
                      # RET too: its call-stack depth must be reset even without any CALL
                      any(ins.variant in ("CALL", "RET") for ins in program.instructions),
                      program, {},
                      [int(x) for x in slot_of],
                      any(ins.variant == "ResAccum" for ins in program.instructions),
                      len(used), [(k, 0, v) for v, k in const_slot.items()])
    program._lowered = lowered
    return lowered


def immediates(ins: Instruction) -> List[Tuple[str, int]]:
    """The immediate operands of an instruction as (field, register content): the value that
    a register of the operand's type would hold (ISA 1.1 §12.1)."""
    return [(f.name, canonical(ins.reg_type(f), v.value))
            for f, v in zip(ins.spec.fields, ins.values) if isinstance(v, Imm)]


def checked_code(low: Lowered, param_types: Tuple[Tuple[int, DType], ...]) -> "_core.Prepared":
    """The code with its table of run-time read checks for launches whose parameter registers
    have these types: reads the verifier proves safe get no check (cached per signature)."""
    hit = low.by_signature.get(param_types)
    if hit is not None:
        return hit
    states = verify.reachable_states(low.program, verify.entry_types(param_types))
    code = low.code.copy()
    checks: List[Tuple[int, int, int, int]] = []
    for pc, ins in enumerate(low.program.instructions):
        code[pc, L_["C_CHK0"]] = len(checks)
        for kind, index, ty in ins.reads():
            if verify.proven(states[pc], kind, index, ty):
                continue
            if kind == "p":
                checks.append((1, index, -1, index))
            else:
                checks.append((0, int(low.slot_of[index]), int(ty), index))
        code[pc, L_["C_CHKN"]] = len(checks) - code[pc, L_["C_CHK0"]]
        if ins.variant in COLLECTIVES:     # read when the warp is resolved, not on arrival
            code[pc, L_["C_CHKW"]], code[pc, L_["C_CHKN"]] = code[pc, L_["C_CHKN"]], 0
    # Register rows each instruction reads (kind 2 entries after the checks): the VM writes
    # rows of registers with a known shape only when something reads them.
    for pc, ins in enumerate(low.program.instructions):
        code[pc, L_["C_RD0"]] = len(checks)
        regs = {index for kind, index, _ in ins.reads() if kind == "r"}
        regs.update(v for f, v in zip(ins.spec.fields, ins.values) if f.role == "sel")
        checks.extend((2, int(low.slot_of[r]), 0, r) for r in sorted(regs))
        code[pc, L_["C_RDN"]] = len(checks) - code[pc, L_["C_RD0"]]
    table = np.array(checks or [(0, 0, 0, 0)], np.int32).reshape(-1, 4)
    instrs = low.program.instructions
    # SEL reads only the selected source: proven sources need no tag check (C_TY2 = 1).
    unproven_sel = False
    for pc, ins in enumerate(instrs):
        if ins.variant == "SEL":
            ok = all(verify.proven(states[pc], "r", r, ins.ty) for r in (ins.src_true, ins.src_false))
            code[pc, L_["C_TY2"]] = int(ok)
            unproven_sel |= not ok
    needs_tags = any(k != 2 for k, _, _, _ in checks) or unproven_sel
    preds = [v for ins in instrs for f, v in zip(ins.spec.fields, ins.values)
             if f.kind in (PRED, OPTPRED) and v is not None]
    written = np.zeros(max(low.nslots, 1), np.uint8)
    for ins in instrs:
        for f, v in zip(ins.spec.fields, ins.values):
            if f.kind == REG and f.role in ("w", "rw"):
                written[low.slot_of[v]] = 1
    result = _core.Prepared(code, table, low.nslots, low.nregs, low.sreg_slot, low.uses_calls,
                            any(ins.variant in ("PhaseGet", "PhaseAdv") for ins in instrs),
                            needs_tags, max(preds, default=-1) + 1, written,
                            any(ins.variant in COLLECTIVES for ins in instrs))
    low.by_signature[param_types] = result
    return result


def _lower_instruction(ins: Instruction, row: np.ndarray, slot_of: np.ndarray, labels,
                       const_slot: Dict[int, int], shared_row: int) -> None:
    row[L_["C_OP"]] = OPCODES[ins.variant]
    row[L_["C_PRED"]] = -1
    written = [v for f, v in zip(ins.spec.fields, ins.values) if f.kind == REG and f.role in ("w", "rw")]
    assert len(written) <= 1, ins.variant     # the VM tracks one written register per instruction
    row[L_["C_WREG"]] = slot_of[written[0]] if written else -1
    sources = [L_["C_A"], L_["C_B"], L_["C_C"]]
    types = [f for f in ins.spec.fields if f.kind == TYPE]
    if types:
        ty = getattr(ins, types[0].name)
        row[L_["C_TY"]] = ty
        row[L_["C_SH"]] = 64 - ty.bits
    for f, v in zip(ins.spec.fields, ins.values):
        k = f.kind
        if f.name == "dst_ty":
            row[L_["C_TY2"]] = v
            row[L_["C_SH2"]] = 64 - v.bits
        elif k in ENUMS:
            row[L_["C_TY2"]] = int(v)
        elif k == OPTPRED:
            row[L_["C_PRED"]] = -1 if v is None else v
        elif k in (REG, PRED) and f.role == "w":
            row[L_["C_DST"]] = slot_of[v] if k == REG else v
        elif isinstance(v, Imm):         # a constant row (ISA 1.1 §12.1)
            value = canonical(ins.reg_type(f), v.value)
            row[sources.pop(0)] = const_slot.get(value, shared_row)
            row[L_["C_IMM"]] = _i64(value)
            row[L_["C_KREFILL"]] = value not in const_slot
        elif k == REG and f.role == "range":
            row[L_["C_A"]] = slot_of[v]
            row[L_["C_B"]] = _i64(reduction_identity(ins.variant, ins.ty))
        elif k in (REG, PRED, REGIMM):
            row[sources.pop(0)] = slot_of[v] if k != PRED else v
        elif k == LABEL:
            row[L_["C_IMM"]] = labels[v]
        elif k == IMM:
            row[L_["C_IMM"]] = _i64(canonical(ins.ty, v))
        elif k in (U8, U16, U32, U64):
            row[L_["C_IMM"]] = _i64(v)
        elif k in (GADDR, SADDR):
            _lower_address(v, row, slot_of)
        elif k == FLAG:                  # bra.!pN (§12.3)
            row[L_["C_TY2"]] = int(v)
    if ins.variant == "SEL":     # original register numbers, for the fault message
        row[L_["C_IMM"]] = ins.src_true
        row[L_["C_PRED"]] = ins.src_false
        row[L_["C_TY2"]] = 0
        if ins.negate:           # sel.T rD, !pP, rT, rF selects like sel.T rD, pP, rF, rT
            for a, b in (("C_B", "C_C"), ("C_IMM", "C_PRED")):
                row[L_[a]], row[L_[b]] = row[L_[b]], row[L_[a]]


def _lower_address(a, row: np.ndarray, slot_of: np.ndarray) -> None:
    if isinstance(a, BufferOffset):
        row[L_["C_AMODE"]], row[L_["C_AX"]], row[L_["C_AY"]] = L_["AM_IMM"], _i64(a.handle), _i64(a.offset)
    elif isinstance(a, PhiCoordinate):
        row[L_["C_AMODE"]], row[L_["C_AX"]] = L_["AM_IMM"], 0
        row[L_["C_AY"]] = atlas.boundary_offset(a.cls, a.page, a.byte)
    elif isinstance(a, RegisterIndirect):
        row[L_["C_AMODE"]], row[L_["C_AX"]], row[L_["C_AY"]] = L_["AM_REG_IMM"], slot_of[a.base], a.offset
    else:                        # [rH + rO*S ± D]: the offset is (rO << log2 S) + D
        row[L_["C_AMODE"]] = L_["AM_REG_REG"]
        row[L_["C_AX"]], row[L_["C_AY"]] = slot_of[a.handle_reg], slot_of[a.offset_reg]
        row[L_["C_ASH"]], row[L_["C_ADISP"]] = a.scale.bit_length() - 1, a.disp


class VmEngine:
    """The Cython VM as a backend's engine: it keeps the per-thread scratch memory across
    launches and the C table of the backend's host buffers until they change."""

    name = "vm"

    def __init__(self, pools: Any, boundary: np.ndarray):
        self._core = _core.Engine(pools, boundary)
        self._host: Optional[_core.HostTable] = None

    def buffers_changed(self) -> None:
        """The backend allocated or freed a host buffer."""
        self._host = None

    def run(self, launch: Launch, buffers: Mapping[int, np.ndarray]
            ) -> Tuple[Optional[np.ndarray], Optional[faults.Fault]]:
        if self._host is None:
            self._host = _core.HostTable(dict(buffers))
        return run(launch, self._core, self._host)

    def run_compiled(self, launch: Launch, buffers: Mapping[int, np.ndarray], compiled: Any,
                     boundary: np.ndarray) -> Tuple[None, Optional[faults.Fault]]:
        """Run a launch with a native block function (hologram.jit); as run()."""
        if self._host is None:
            self._host = _core.HostTable(dict(buffers))
        windows = {h: w.base for h, w in launch.windows.items()} if launch.windows else None
        result = _core.run_jit(compiled.address, compiled.nrows, compiled.npreds,
                               compiled.lanes_padded, launch.grid, launch.block, self._host,
                               launch.params, [v for _, _, v in launch.reg_init],
                               launch.num_threads, boundary, launch.timeout or 0.0,
                               launch.block_range, windows, launch.max_steps)
        if result is None:
            return None, None
        code_, lane, pc = result[:3]
        detail = tuple(int(d) & 0xFFFFFFFFFFFFFFFF for d in result[3:])
        return None, faults.Fault(int(code_), int(lane), int(pc), detail)


def run(launch: Launch, engine: "_core.Engine", host: "_core.HostTable"
        ) -> Tuple[Optional[np.ndarray], Optional[faults.Fault]]:
    """Run a launch on the VM. The resonance accumulator is None when the program has no
    res.accum (it is then all zeros)."""
    state = launch.engine_state
    if state is None:
        low = lower(launch.program)
        signature = tuple([(r, ty) for r, ty, _ in launch.reg_init])
        prepared = low.by_signature.get(signature)
        if prepared is None:
            prepared = checked_code(low, signature)
        # Register content: ints are in range, so two's complement to 64 bits is the
        # canonical sign/zero extension; floats are already bit patterns.
        slots = low.slot_list
        init = [(slots[r], ty + 1, v & 0xFFFFFFFFFFFFFFFF)
                for r, ty, v in launch.reg_init if slots[r] >= 0] + low.constants
        windows = {h: w.base for h, w in launch.windows.items()} if launch.windows else None
        state = launch.engine_state = (prepared, init, launch.params, low.uses_accum, windows)
    prepared, init, params, uses_accum, windows = state
    resonance = np.zeros(atlas.NUM_CLASSES, np.float64) if uses_accum else None
    result = engine.run(prepared, launch.grid, launch.block, launch.shared_memory,
                        launch.max_steps, host, params, init, launch.num_threads, resonance,
                        launch.timeout or 0.0, launch.block_range, windows)
    if result is None:
        return resonance, None
    code_, lane, pc = result[:3]
    # The core reports details as int64; fault details are u64 values (faults.py).
    detail = tuple(int(d) & 0xFFFFFFFFFFFFFFFF for d in result[3:])
    return resonance, faults.Fault(int(code_), int(lane), int(pc), detail)
