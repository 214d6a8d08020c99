"""Write hologram/_vm_ops.pxi, the VM's per-instruction code, from the instruction table.

    python -m hologram._vmgen            rewrite hologram/_vm_ops.pxi
    python -m hologram._vmgen --check    exit 1 if the committed file is out of date

The VM (hologram/_core.pyx) includes the generated file. From :data:`hologram.isa.SPECS`, the
ISA's enums and limits, the Atlas geometry and the fault codes it writes:

* the ``Op`` enum and ``OPCODES`` in table order, the ``T_``, ``CC_``, ``AO_``, ``SR_``,
  ``SH_``, ``VO_`` and ``F_`` enums, ``FAULT_CODES`` and the ISA's constants;
* the per-opcode flags of :data:`~hologram.isa.VM_FLAGS` (``op_lazy``, ``op_own_rows``);
* the element-wise semantics, each spec's :class:`~hologram.isa.CSem` as C (``int_binop``,
  ``real_binop``, ...): ladders on an opcode that is a constant wherever they are called, so
  the compiler keeps one arm;
* ``exec_op``, the one switch that runs an instruction over a group: an arm per instruction
  and, for the element-wise families, per operand kind, each calling an inline loop with
  constant arguments (setup.py forces the inlining, so each arm becomes its own loop). Every
  switch ends in ``vm_bug``, which faults the group with ``F_INTERNAL``: a VM bug, never a
  program's fault;
* ``run_collective``, the switch that runs a warp collective (family ``warp``) once its warps
  are resolved (exec_op's arm only makes the lanes wait: ``ctl_collective``).

A spec this module cannot turn into code (an unknown family, missing semantics for a type it
allows) raises :class:`GenerationError`: a new instruction without its VM part fails here and
in the test that the committed file is current, never silently at run time.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Iterable, List, Sequence, Tuple

from . import atlas, faults
from .isa import (CALL_DEPTH, FAMILIES, NUM_PREDS, REGIMM, SPECS, VM_FLAGS, WARP_SIZE, AtomOp,
                  Cond, CSem, DType, ShflMode, SReg, Spec, VoteMode)

__all__ = ["render", "main", "OUTPUT", "GenerationError", "c_name"]

OUTPUT = Path(__file__).with_name("_vm_ops.pxi")

ELEMENTWISE = {"binary": "binop_rows", "unary": "unop_rows", "ternary": "ternop_rows"}
SHARED_HANDLERS = {"memory": "exec_memory", "atomic": "exec_atomic",
                   "predicate": "exec_predicate"}

# Operand kinds of the element-wise loops (_vm_arith.pxi) and the canonical-form shift each arm
# passes: a constant where the type fixes it, the row's C_SH (`sh`) for 8/16-bit types.
D = DType
INT_ARMS = (((D.I64,), "K_SIGNED", "0"), ((D.U64,), "K_UNSIGNED", "0"),
            ((D.I32,), "K_SIGNED", "32"), ((D.U32,), "K_UNSIGNED", "32"),
            ((D.I8, D.I16), "K_SIGNED", "sh"), ((D.U8, D.U16), "K_UNSIGNED", "sh"))
FLOAT_ARMS = (((D.F32,), "K_F32", "32"), ((D.F64,), "K_F64", "0"),
              ((D.F16, D.BF16), "K_HALF", "sh"))
BITS_ARMS = (((D.F32,), "K_BITS", "32"), ((D.F64,), "K_BITS", "0"),
             ((D.F16, D.BF16), "K_BITS", "sh"))

CTX = "c, w, ins, g, n[0], pc[0], first"      # the arguments every handler takes


class GenerationError(Exception):
    """The table asks for something the VM generator cannot write."""


def c_name(name: str) -> str:
    """``"ReduceAdd"`` -> ``"REDUCE_ADD"``, ``"SETcc"`` -> ``"SETCC"``."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", "_", name).upper()


def op_name(spec: Spec) -> str:
    return "OP_" + c_name(spec.variant)


def handler(spec: Spec) -> str:
    """The C function that runs a non-element-wise instruction."""
    if spec.family in SHARED_HANDLERS:
        return SHARED_HANDLERS[spec.family]
    prefix = "ctl_" if spec.family == "control" else "exec_"
    return prefix + c_name(spec.variant).lower()


def _is_operator(entry: str) -> bool:
    return not re.fullmatch(r"\w+", entry)


def _apply(entry: str, args: Sequence[str], extra: Sequence[str] = ()) -> str:
    """One C expression: an operator between the operands, or a helper called with them."""
    if not _is_operator(entry):
        return f"{entry}({', '.join([*args, *extra])})"
    if len(args) == 1:
        return f"0 - {args[0]}" if entry == "-" else f"{entry}{args[0]}"
    if len(args) == 2:
        return f"{args[0]} {entry} {args[1]}"
    raise GenerationError(f"operator {entry!r} with {len(args)} operands")


def _arms(spec: Spec) -> List[Tuple[Tuple[DType, ...], str, str]]:
    """(types, kind, shift) of each loop an element-wise instruction needs."""
    sem = spec.sem
    if sem is None:
        raise GenerationError(f"{spec.variant}: the {spec.family} family needs `sem`")
    out = []
    ints = [t for t in spec.types if t.is_int]
    floats = [t for t in spec.types if t.is_float]
    if ints and not sem.ints:
        raise GenerationError(f"{spec.variant}: integer types allowed but no `sem.ints`")
    if sem.ints and not ints:
        raise GenerationError(f"{spec.variant}: `sem.ints` given but no integer type allowed")
    if floats and not (sem.floats or sem.bits):
        raise GenerationError(f"{spec.variant}: float types allowed but no `sem.floats`")
    if (sem.floats or sem.bits) and not floats:
        raise GenerationError(f"{spec.variant}: float semantics given but no float type allowed")
    if sem.floats and sem.bits:
        raise GenerationError(f"{spec.variant}: give `sem.floats` or `sem.bits`, not both")
    table = (BITS_ARMS if sem.bits else FLOAT_ARMS) + INT_ARMS
    for types, kind, sh in table:
        allowed = tuple(t for t in types if t in spec.types)
        if allowed:
            out.append((allowed, kind, sh))
    covered = [t for types, _, _ in out for t in types]
    assert sorted(covered) == sorted(spec.types), spec.variant
    return out


def _signature(head: str, params: str, tail: str = " noexcept nogil:") -> List[str]:
    """``head(params)tail`` wrapped at a comma, the rest aligned after the parenthesis."""
    line = f"{head}({params}){tail}"
    if len(line) <= 96:
        return [line]
    cut = params.rfind(", ", 0, 96 - len(head) - 1)
    return [f"{head}({params[:cut + 1]}", " " * (len(head) + 1) + f"{params[cut + 2:]}){tail}"]


def _or(var: str, names: Iterable[str], indent: str) -> str:
    """``var == A or var == B ...`` wrapped to the line length."""
    terms = [f"{var} == {n}" for n in names]
    lines, cur = [], ""
    for t in terms:
        piece = t if not cur else f"{cur} or {t}"
        if len(indent) + len(piece) > 88 and cur:
            lines.append(cur + " or")
            cur = t
        else:
            cur = piece
    lines.append(cur)
    if len(lines) == 1:
        return lines[0]
    return "(" + f"\n{indent} ".join(lines) + ")"


# ---------------------------------------------------------------------------------------------
# Sections of the generated file

def _header() -> List[str]:
    return [
        "# GENERATED by hologram/_vmgen.py from hologram.isa.SPECS -- do not edit.",
        "# Regenerate with `python -m hologram._vmgen` after changing the table;",
        "# tests/test_vm_ops.py checks that this file is current.",
        "#",
        "# The VM's per-instruction code: opcodes, ISA constants, per-opcode flags, element-wise",
        "# semantics and exec_op, the switch that runs one instruction over a group.",
        "",
    ]


def _libm() -> List[str]:
    """The C math functions named by `sem` ("expf/exp"); helpers live in _vm_values.pxi."""
    names = sorted({n for s in SPECS if s.sem and re.fullmatch(r"\w+/\w+", s.sem.floats)
                    for n in s.sem.floats.split("/")})
    out, line = ["from libc.math cimport ("], "   "
    for name in names:
        if len(line) + len(name) + 2 > 96:
            out.append(line)
            line = "   "
        line += f" {name},"
    out += [line.rstrip(",") + ")", ""]
    return out if names else []


def _enum(comment: str, names: Iterable[Tuple[str, int]]) -> List[str]:
    out = [f"cdef enum:   # {comment}"]
    out += [f"    {n} = {v}" for n, v in names]
    return out + [""]


def _constants() -> List[str]:
    out: List[str] = []
    out += _enum("value types (hologram.isa.DType)", ((f"T_{t.name}", int(t)) for t in DType))
    out += _enum("SETcc conditions (hologram.isa.Cond)", ((f"CC_{c.name}", int(c)) for c in Cond))
    out += _enum("atomic operations (hologram.isa.AtomOp)",
                 ((f"AO_{a.name}", int(a)) for a in AtomOp))
    out += _enum("special registers of MOV_SREG (hologram.isa.SReg)",
                 ((f"SR_{c_name(r.name)}", int(r)) for r in SReg))
    out += _enum("shuffle modes (hologram.isa.ShflMode)", ((f"SH_{m.name}", int(m)) for m in ShflMode))
    out += _enum("vote modes (hologram.isa.VoteMode)", ((f"VO_{m.name}", int(m)) for m in VoteMode))
    out += _enum("fault codes (hologram.faults)",
                 ((f"F_{n}", code) for code, n in enumerate(faults.NAMES)))
    out += _enum("Atlas geometry (hologram.atlas) and ISA limits (hologram.isa)", (
        ("NUM_CLASSES", atlas.NUM_CLASSES), ("PAGES", atlas.PAGES),
        ("PAGE_BYTES", atlas.PAGE_BYTES), ("CLASS_BYTES", atlas.CLASS_BYTES),
        ("BOUNDARY_BYTES", atlas.BOUNDARY_BYTES), ("PHASE_MODULUS", atlas.PHASE_MODULUS),
        ("MAX_DEGREE", atlas.MAX_DEGREE), ("NUM_PREDS", NUM_PREDS), ("CALL_DEPTH", CALL_DEPTH),
        ("WARP_SIZE", WARP_SIZE)))
    out += [f"cdef uint64_t CLASS_HANDLE_BASE = {atlas.CLASS_HANDLE_BASE:#X}ULL"
            .replace("0X", "0x"), ""]
    out += ["cdef enum Op:   # one per instruction, in the order of hologram.isa.SPECS"]
    out += [f"    {op_name(s)} = {i}" for i, s in enumerate(SPECS)]
    out += ["", f"NUM_OPS = {len(SPECS)}", ""]
    out += ["OPCODES = {"]
    out += [f"    {s.variant!r}: {op_name(s)}," for s in SPECS]
    out += ["}", ""]
    out += ["FAULT_CODES = {"]
    out += [f"    {n!r}: F_{n}," for n in faults.NAMES]
    out += ["}", "", ""]
    return out


def _flags() -> List[str]:
    out: List[str] = []
    for flag, meaning in VM_FLAGS.items():
        ops = [op_name(s) for s in SPECS if flag in s.flags]
        out += [f"cdef inline bint op_{flag}(int op) noexcept nogil:",
                f'    """{meaning[0].upper() + meaning[1:]}."""',
                f"    if {_or('op', ops, '    ')}:",
                "        return 1",
                "    return 0", "", ""]
    unknown = {f for s in SPECS for f in s.flags} - set(VM_FLAGS)
    if unknown:
        raise GenerationError(f"unknown VM flags {sorted(unknown)}")
    return out


def _ladder(signature: str, doc: str, ret: str, entries: List[Tuple[Spec, List[str]]],
            tail: str) -> List[str]:
    """A value function: one arm per instruction (its op is a constant wherever it is called,
    so after inlining only that arm is left)."""
    head, params = signature[:-1].split("(", 1)
    out = _signature(f"cdef inline {head}", params) + [f'    """{doc}"""']
    if ret:
        out.append(f"    cdef {ret}")
    for k, (spec, body) in enumerate(entries):
        out.append(f"    {'if' if k == 0 else 'elif'} op == {op_name(spec)}:")
        out += ["        " + line for line in body]
    out += [tail, "", ""]
    return out


def _real_body(entry: str, args: Sequence[str]) -> List[str]:
    if re.fullmatch(r"\w+/\w+", entry):
        f32, f64 = entry.split("/")
        return ["if real is float:", f"    return {_apply(f32, args)}", "else:",
                f"    return {_apply(f64, args)}"]
    return [f"return {_apply(entry, args)}"]


def _semantics() -> List[str]:
    """int_*op / real_*op (binary, unary, ternary) and bits_unop: the `sem` columns as C."""
    out: List[str] = []
    for family, name, operands, what in (("binary", "binop", "xy", "x OP y"),
                                          ("unary", "unop", "x", "OP x"),
                                          ("ternary", "ternop", "xyz", "OP(x, y, z)")):
        sems = [(s, s.sem) for s in SPECS if s.family == family and s.sem is not None]
        ints, reals = tuple(operands), tuple("abc"[:len(operands)])
        out += _ladder(
            f"uint64_t int_{name}(int op, {', '.join(f'uint64_t {x}' for x in ints)}, "
            "bint sgn, int sh)",
            f"{what} on canonical integers (sign- or zero-extended from 64 - sh bits).",
            "uint64_t r",
            [(s, [f"r = {_apply(m.ints, ints, ('sgn', 'sh'))}"]) for s, m in sems if m.ints],
            f"    else:\n        r = 0          # not an integer {family} instruction: never "
            "passed\n    return canon(r, sh, sgn)")
        out += _ladder(
            f"real real_{name}(int op, {', '.join(f'real {a}' for a in reals)})",
            f"The {family} instructions on f32 or f64 values (one rounding in the type).", "",
            [(s, _real_body(m.floats, reals)) for s, m in sems if m.floats],
            f"    return 0          # not a float {family} instruction: never passed")
        if family == "unary":
            out += _ladder(
                "uint64_t bits_unop(int op, uint64_t x, uint64_t sign)",
                "OP x on a float's bit pattern (sign: the type's sign bit).", "",
                [(s, [f"return {_apply(m.bits, ('x', 'sign'))}"]) for s, m in sems if m.bits],
                "    return x          # not a bit-pattern unary instruction: never passed")
    return out


HANDLER_ARGS = ("Ctx* c, Worker* w, const int64_t* ins, int32_t* g, int n, int64_t pc, "
                "int first")


def _elementwise_handler(spec: Spec) -> List[str]:
    """exec_<name>: one loop per operand kind the instruction allows. Not inline: each is a
    function of its own, which keeps the compiler's work per function small (one switch with
    every loop inlined would be a single huge function)."""
    rows = ELEMENTWISE[spec.family]
    divisor = spec.sem is not None and spec.sem.zero_divisor_faults
    out = _signature(f"cdef void {handler(spec)}", HANDLER_ARGS) + [
           f'    """{spec.variant}: {FAMILIES[spec.family]}."""',
           "    cdef int ty = <int>ins[C_TY], sh = <int>ins[C_SH]"]
    if any(f.kind == REGIMM for f in spec.fields):     # an immediate in the shared row
        out += ["    if ins[C_KREFILL]:", "        refill_constant(c, w, ins)"]
    for j, (types, kind, sh) in enumerate(_arms(spec)):
        cond = _or("ty", (f"T_{t.name}" for t in types), "    ")
        out.append(f"    {'if' if j == 0 else 'elif'} {cond}:")
        tail = ""
        if spec.family == "binary":      # integer DIV/REM check their divisor
            tail = ", 1" if divisor and kind in ("K_SIGNED", "K_UNSIGNED") else ", 0"
        out.append(f"        {rows}(c, w, ins, g, n, pc, first, {op_name(spec)}, {kind}, "
                   f"{sh}{tail})")
    out += ["    else:", "        vm_bug(w, ins, g, n, pc)", "", ""]
    return out


def _dispatch() -> List[str]:
    out: List[str] = []
    for spec in SPECS:
        if spec.family in ELEMENTWISE:
            out += _elementwise_handler(spec)
    out += [
        "cdef inline int exec_op(Ctx* c, Worker* w, const int64_t* ins, int32_t* g, int* n,",
        "                        int64_t* pc, int64_t* limit, int first) noexcept nogil:",
        '    """Run the instruction `ins` over the group g[0 .. n[0]) at pc[0] (first: the',
        "    group's first lane if it is contiguous, else -1). Returns ACT_NEXT (go on at the",
        "    next pc after dropping the lanes that faulted), or for control flow ACT_JUMP (the",
        "    handler set pc, n and limit) or ACT_LEAVE (the group ended, waits or split).\"\"\"",
        "    cdef int op = <int>ins[C_OP]",
    ]
    for k, spec in enumerate(SPECS):
        if spec.family not in FAMILIES:
            raise GenerationError(f"{spec.variant}: unknown family {spec.family!r}")
        out.append(f"    {'if' if k == 0 else 'elif'} op == {op_name(spec)}:")
        if spec.family == "control":
            out.append(f"        return {handler(spec)}(c, w, ins, g, n, pc, limit, first)")
        elif spec.family == "warp":      # the lanes wait for their warps (run_collective)
            out.append("        return ctl_collective(c, w, ins, g, n, pc, limit, first)")
        elif spec.family == "reduce":
            fold = spec.sem.fold if spec.sem else ""
            target = next((s for s in SPECS if s.variant == fold and s.family == "binary"), None)
            if target is None:
                raise GenerationError(f"{spec.variant}: `sem.fold` must name a binary instruction")
            out.append(f"        exec_reduce({CTX}, {op_name(target)})")
        else:
            out.append(f"        {handler(spec)}({CTX})")
    out += ["    else:",
            "        vm_bug(w, ins, g, n[0], pc[0])      # an opcode the table does not have",
            "    return ACT_NEXT", "", ""]
    return out + _collectives()


def _collectives() -> List[str]:
    """run_collective: the warp family's handlers, called when the warps are resolved."""
    out = _signature("cdef void run_collective", HANDLER_ARGS) + [
        '    """Run the warp collective `ins` for its participating lanes g[0 .. n), whole',
        '    warps in ascending lane order whose operands have been checked (ISA.md §12.4)."""',
        "    cdef int op = <int>ins[C_OP]"]
    warp = [s for s in SPECS if s.family == "warp"]
    for k, spec in enumerate(warp):
        out += [f"    {'if' if k == 0 else 'elif'} op == {op_name(spec)}:",
                f"        {handler(spec)}(c, w, ins, g, n, pc, first)"]
    out += ["    else:", "        vm_bug(w, ins, g, n, pc)", ""]
    return out


def render() -> str:
    """The text of hologram/_vm_ops.pxi for the current table."""
    lines = _header() + _libm() + _constants()
    lines += ["# hot: begin -- nothing below may touch Python objects (tests/test_build.py)", "",
              ""]
    lines += _flags() + _semantics() + _dispatch()
    lines += ["# hot: end", ""]
    return "\n".join(lines)


def main(argv: Sequence[str] = ()) -> int:
    parser = argparse.ArgumentParser(prog="python -m hologram._vmgen", description=__doc__
                                     .split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    parser.add_argument("-o", "--output", type=Path, default=OUTPUT)
    args = parser.parse_args(list(argv))
    text = render()
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date: run python -m hologram._vmgen",
                  file=sys.stderr)
            return 1
        return 0
    with open(args.output, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
