"""A verifier that proves register reads safe before a launch (ISA.md §3.1 allows omitting
run-time checks for reads proven safe).

For a program and the types of the launch's parameter registers, a forward dataflow analysis
computes, at every instruction, the set of tags each register may hold (uninitialized or one of
the 12 types) and whether each predicate may be unwritten. A read of type T is proven when the
only possible tag is T; the VM then skips its check. Reads that are not proven keep their
run-time check, so a program that does read wrongly faults exactly as without the verifier.

The same analysis finds the static type errors of programs with ``.param`` declarations (ISA
1.1 §12.6): reachable reads whose register can never hold the read type.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Mapping, Optional, Protocol, Sequence, Tuple

from .isa import PRED, REG, DType, Instruction


class Program(Protocol):
    """What the verifier reads of a :class:`hologram.program.Program` (program.py imports
    this module for its validation, so this one cannot import it)."""
    instructions: Sequence[Instruction]
    labels: Mapping[str, int]
    params: Tuple[Any, ...]

UNINIT = 1                 # bit 0: never written; bit t+1: holds type t
PRED_SET = 2               # predicate states: bit 0 unwritten, bit 1 written
NREG = 256


def _tbit(t: Optional[DType]) -> int:
    assert t is not None, "register fields always have a type"
    return 1 << (int(t) + 1)


def _successors(pc: int, ins: Instruction, labels, return_points: Sequence[int]) -> List[int]:
    v = ins.variant
    if v == "BRA":
        return [labels[ins.target]] + ([] if ins.pred is None else [pc + 1])
    if v == "CALL":
        return [labels[ins.target]]
    if v == "RET":
        return list(return_points)
    if v == "LOOP":
        return [labels[ins.body], pc + 1]
    if v == "EXIT":
        return []
    return [pc + 1]


def _transfer(state: List[int], ins: Instruction) -> List[int]:
    out = list(state)
    # A read that does not fault leaves the register holding the type it was read with.
    for kind, index, ty in ins.reads():
        if kind == "r":
            out[index] = _tbit(ty)
        else:
            out[NREG + index] = PRED_SET
    for f, v in zip(ins.spec.fields, ins.values):
        if f.role in ("w", "rw"):
            if f.kind == REG:
                out[v] = _tbit(ins.reg_type(f))
            elif f.kind == PRED:
                out[NREG + v] = PRED_SET
    return out


def reachable_states(program: "Program", entry_types: Dict[int, DType]
                     ) -> List[Optional[List[int]]]:
    """The possible register tags before each instruction (None: unreachable)."""
    entry = [UNINIT] * (NREG + 16)
    for reg, ty in entry_types.items():
        entry[reg] = _tbit(ty)
    return fixpoint(program, entry, lambda pc, ins, state: _transfer(state, ins),
                    lambda cur, out: [a | b for a, b in zip(cur, out)])


def fixpoint(program: "Program", entry: List[Any],
             transfer: Callable[[int, Instruction, List[Any]], List[Any]],
             join: Callable[[List[Any], List[Any]], List[Any]]) -> List[Optional[List[Any]]]:
    """A forward dataflow analysis to its fixed point: the state before each instruction
    (None: unreachable), from ``entry`` at pc 0, ``transfer(pc, ins, state)`` -> the state
    after ``ins`` and ``join(a, b)`` at merges (monotone, over a lattice of finite height)."""
    n = len(program.instructions)
    states: List[Optional[List[Any]]] = [None] * (n + 1)
    states[0] = entry
    # RET continues after the CALLs reached so far (a CALL found later re-runs the RETs)
    return_points: List[int] = []
    rets: List[int] = []
    work = [0]
    while work:
        pc = work.pop()
        if pc >= n:
            continue
        ins = program.instructions[pc]
        if ins.variant == "CALL" and pc + 1 not in return_points:
            return_points.append(pc + 1)
            work.extend(r for r in rets if states[r] is not None)
        elif ins.variant == "RET" and pc not in rets:
            rets.append(pc)
        out = transfer(pc, ins, states[pc])  # type: ignore[arg-type]
        for s in _successors(pc, ins, program.labels, return_points):
            cur = states[s]
            if cur is None:
                states[s] = out
                work.append(s)
            else:
                merged = join(cur, out)
                if merged != cur:
                    states[s] = merged
                    work.append(s)
    return states


def entry_types(param_types: Sequence[Tuple[int, DType]]) -> Dict[int, DType]:
    """Register types at lane start: the special registers, then the parameters."""
    types = {252: DType.U32, 253: DType.U32, 254: DType.U32, 255: DType.U64}
    types.update(dict(param_types))
    return types


def static_type_error(program: "Program") -> Optional[Tuple[int, str, str, str]]:
    """The first reachable read (in index order) of a program with ``.param`` declarations
    that can never succeed (§12.6): (index, "r20", message, field read), or None."""
    types = entry_types([(p.reg, DType.U64 if p.buffer else p.type) for p in program.params])
    states = reachable_states(program, types)
    for pc, ins in enumerate(program.instructions):
        state = states[pc]
        if state is None:
            continue
        state = list(state)
        for field, kind, index, ty in ins.read_fields():   # in read order: a read that
            if kind == "p":                                # passes fixes the next one's tag
                if not state[NREG + index] & PRED_SET:
                    return pc, f"p{index}", f"p{index} is never written here", field
                state[NREG + index] = PRED_SET
                continue
            tags = state[index]
            if not tags & _tbit(ty):
                assert ty is not None
                return (pc, f"r{index}", f"r{index} is never {ty.text} here ({_holds(tags)})",
                        field)
            state[index] = _tbit(ty)
    return None


def _holds(tags: int) -> str:
    held = [t.text for t in DType if tags & _tbit(t)]
    if not held:
        return "it is never written"
    return "it holds " + " or ".join(held) + (", or nothing on some path" if tags & UNINIT
                                              else "")


def proven(state: Optional[List[int]], kind: str, index: int, ty: Optional[DType]) -> bool:
    """Is a read of (register or predicate) `index` with type `ty` safe in `state`?"""
    if state is None:
        return True                       # unreachable instruction: never executes
    if kind == "p":
        return state[NREG + index] == PRED_SET
    return state[index] == _tbit(ty)
