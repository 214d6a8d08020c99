"""The instruction-set reference (docs/reference.md), generated from :data:`hologram.isa.SPECS`.

``python -m hologram isa-reference -o docs/reference.md`` writes it; a test checks that the
committed file equals :func:`render_reference`, so the reference cannot drift from the table
the assembler, JSON codec, validator and VM are driven by.
"""

from __future__ import annotations

from typing import Dict, FrozenSet, List, Tuple

from .isa import (ADDRESS_DEFAULTS, ADDRESS_MODES, ATOMOP, COND, F64, FLAG, GADDR, IMM, LABEL,
                  OPTPRED, PRED, REG, REGIMM, SADDR, SCOPE, SHFLMODE, SPECS, SREG, T_ALL,
                  T_FLOAT, T_INT, T_SIGNED, T_WIDE, T_WIDE_INT, TYPE, U8, U16, U32, U64,
                  VOTEMODE, AtomOp, BufferOffset, Cond, DType, Field, PhiCoordinate,
                  RegisterIndirect, RegisterIndirectComputed, Scope, ShflMode, Spec, SReg,
                  VoteMode)

__all__ = ["render_reference"]

# Section titles of the groups of SPECS, with the ISA.md section that gives their semantics.
GROUPS: Dict[str, str] = {
    "memory": "Loads and stores (ISA.md §5.1, §4)",
    "move": "Moves and conversion (ISA.md §5.1, §3.3, §5.5)",
    "arith": "Arithmetic (ISA.md §5.2)",
    "bitwise": "Bitwise and shifts (ISA.md §5.3)",
    "compare": "Compare and select (ISA.md §5.4)",
    "control": "Control flow and synchronization (ISA.md §6)",
    "reduction": "Register-range reductions (ISA.md §5.7)",
    "transcendental": "Transcendentals (ISA.md §5.6)",
    "atomic": "Atomics (ISA.md §5.8)",
    "pool": "Pools (ISA.md §5.9)",
    "atlas": "Atlas instructions (ISA.md §5.10)",
    "predicate": "Predicate logic (ISA.md §12.3)",
    "warp": "Warp collectives (ISA.md §12.4)",
    "math": "Math functions (ISA.md §12.5)",
}

_NAMED_SETS: List[Tuple[FrozenSet[DType], str]] = [
    (T_ALL, "all 12"),
    (T_INT, "integers"),
    (T_FLOAT, "floats"),
    (T_SIGNED | T_FLOAT, "signed integers, floats"),
    (T_WIDE_INT, "i32 i64 u32 u64"),
    (T_WIDE, "i32 i64 u32 u64 f32 f64"),
]

_KIND_TEXT = {
    REG: "register", PRED: "predicate", OPTPRED: "optional predicate (`.pN` suffix)",
    TYPE: "type", LABEL: "label", GADDR: "global address", SADDR: "shared address",
    U8: "u8 immediate", U16: "u16 immediate", U32: "u32 immediate", U64: "u64 immediate",
    F64: "f64 immediate", IMM: "immediate of the instruction's type", COND: "condition",
    SCOPE: "scope", SREG: "special register", ATOMOP: "atomic operation",
    REGIMM: "register or immediate (ISA.md §12.1)", FLAG: "flag: `!` before `pred` (JSON: "
    "written only when true)", SHFLMODE: "shuffle mode", VOTEMODE: "vote mode",
}

_ROLE_TEXT = {"w": "written", "r": "read", "rw": "read, then written",
              "sel": "read if selected", "range": "first of `count` registers read"}


def _types(types: FrozenSet[DType]) -> str:
    if not types:
        return "—"
    for s, name in _NAMED_SETS:
        if types == s:
            return name
    return " ".join(t.text for t in sorted(types))


def _field(spec: Spec, f: Field) -> str:
    text = f"`{f.name}`: {_KIND_TEXT[f.kind]}"
    extra = []
    if f.role:
        extra.append(_ROLE_TEXT[f.role])
    if isinstance(f.rtype, DType):
        extra.append(f"as {f.rtype.text}")
    elif f.rtype == "sreg":
        extra.append("as the special register's type")
    elif f.rtype:
        extra.append(f"as `{f.rtype}`")
    return text + (f" ({', '.join(extra)})" if extra else "")


def _table(rows: List[List[str]], header: List[str]) -> List[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def render_reference() -> str:
    """The Markdown instruction-set reference, from the package's instruction table."""
    out: List[str] = [
        "# Atlas ISA instruction reference",
        "",
        "<!-- Generated from hologram/isa.py (SPECS) by `python -m hologram isa-reference -o "
        "docs/reference.md`; do not edit by hand. -->",
        "",
        "Every instruction of the table that drives hologram's assembler, disassembler, JSON "
        "codec, validator and VM. [ISA.md](ISA.md) is the normative specification: it gives "
        "the semantics; this page gives the forms. In the syntax column, `{ty}` is a type suffix "
        "(`add.f32`), `{dst}`/`{src…}` are registers `r0`…`r255`, predicates are `p0`…`p15`, "
        "labels are written `@name`. In JSON an instruction is `{\"VARIANT\": {fields}}` "
        "(no fields: the bare string), with the fields listed here. Instructions marked "
        "*1.1* are ISA 1.1 additions (ISA.md §12).",
        "",
        "**Immediates (ISA.md §12.1).** A field that takes a register or an immediate (the last "
        "source of `add sub mul div rem min max and or xor pow` and `setCC`, shift amounts, "
        "shuffle lanes) is written `add.u64 r1, r1, 4`, `mul.f32 r2, r2, 0.5`; in JSON it holds "
        "`{\"Imm\": V}`, V the u64 bit pattern as in `MOV_IMM.value` (u32 for shift amounts "
        "and lanes). For a float type a decimal integer literal means its value and `0x…` a "
        "bit pattern.",
        "",
        "**Parameter declarations (ISA.md §12.6).** `.param rN TYPE [NAME]` (a scalar) and "
        "`.param rN TYPE[] [NAME]` (a buffer of TYPE; `u8[]`: any bytes); JSON `\"params\": "
        "[{\"reg\": 1, \"type\": \"F32\", \"buffer\": true, \"name\": \"x\"}]`.",
        "",
        f"{len(SPECS)} instructions.",
        "",
        "## Contents",
        "",
    ]
    groups: List[str] = []
    for s in SPECS:
        if s.group not in groups:
            groups.append(s.group)
    for g in groups:
        title = GROUPS.get(g, g)
        n = sum(1 for s in SPECS if s.group == g)
        out.append(f"* {title}: {n}")
    out += ["* Operand tables: types, conditions, atomic operations, scopes, special registers, "
            "addresses", ""]
    for g in groups:
        out += [f"## {GROUPS.get(g, g)}", ""]
        rows = []
        for s in SPECS:
            if s.group != g:
                continue
            fields = "<br>".join(_field(s, f) for f in s.fields) or "—"
            ty = _types(s.types)
            if s.variant == "CVT":
                ty = f"{ty} (both `src_ty` and `dst_ty`)"
            since = " *1.1*" if s.since != "1.0" else ""
            rows.append([f"`{s.text}`", f"`{s.variant}`{since}", ty, fields])
        out += _table(rows, ["syntax", "JSON variant", "types", "fields (JSON order = read order)"])
        out.append("")
    out += ["## Types (ISA.md §2)", ""]
    out += _table([[f"`{t.text}`", f"`{t.name}`", str(int(t)), str(t.size),
                    f"`{t.numpy}`" + (" (bit pattern)" if t is DType.BF16 else "")]
                   for t in DType],
                  ["suffix", "JSON", "index", "bytes", "numpy"])
    out += ["", "## Conditions of `set{cond}` (ISA.md §5.4)", ""]
    out += _table([[f"`{c.text}`", f"`{c.json}`",
                    "unsigned comparison: integer types only" if c >= Cond.LTU else ""]
                   for c in Cond], ["text", "JSON", "note"])
    out += ["", "## Atomic operations of `atom.{op}` / `atoms.{op}` (ISA.md §5.8)", ""]
    out += _table([[f"`{a.text}`", f"`{a.json}`",
                    "integer types only" if a in (AtomOp.AND, AtomOp.OR, AtomOp.XOR) else ""]
                   for a in AtomOp], ["text", "JSON", "note"])
    out += ["", "## Modes of `shfl.{mode}` and `vote.{mode}` (ISA.md §12.4)", ""]
    out += _table([[f"`shfl.{m.text}`", f"`{m.json}`", rule] for m, rule in zip(
        ShflMode, ["lane L mod 32", "lane i − L", "lane i + L", "lane i xor L"])]
        + [[f"`vote.{m.text}`", f"`{m.json}`", rule] for m, rule in zip(
            VoteMode, ["OR over the participating lanes", "AND over the participating lanes"])],
        ["text", "JSON", "source lane / result (i: the lane's warp lane)"])
    out += ["", "## Scopes of `memfence.{scope}` (ISA.md §6.4)", ""]
    out += _table([[f"`{s.text}`", f"`{s.json}`"] for s in Scope], ["text", "JSON"])
    out += ["", "## Special registers of `mov.{type} rD, %name` (ISA.md §3.3)", ""]
    out += _table([[f"`{r.text}`", f"`{r.json}`", r.dtype.text] for r in SReg],
                  ["text", "JSON", "type"])
    out += ["", "## Addresses (ISA.md §4.6)", ""]
    examples = {BufferOffset: BufferOffset(5, 128), PhiCoordinate: PhiCoordinate(3, 2, 1),
                RegisterIndirect: RegisterIndirect(10, 64),
                RegisterIndirectComputed: RegisterIndirectComputed(1, 0, 4, -8)}
    rows = []
    for name, (cls, flds) in ADDRESS_MODES.items():
        ranges = ", ".join(
            f"`{key}` " + ("1, 2, 4 or 8" if key == "scale" else _range(lo, hi))
            + (f" (optional, default {ADDRESS_DEFAULTS[key]})" if key in ADDRESS_DEFAULTS else "")
            for key, _, lo, hi in flds)
        rows.append([f"`{examples[cls]}`", f"`{name}`", ranges])
    out += _table(rows, ["example", "JSON", "fields"])
    out += ["", "`lds`, `sts` and `atoms` take the same forms, but handles, `bufN` numbers and "
            "handle registers are ignored and not read (ISA.md §4.5, §12.2.2): the offset of "
            "`[rB ± D]` is rB ± D (ISA 1.1, §12.2.3), of `[rH + rO*S ± D]` rO·S ± D; "
            "`[rO*S ± D]` is accepted there too.", ""]
    return "\n".join(out)


def _range(lo: int, hi: int) -> str:
    def fmt(v: int) -> str:
        for k in (64, 32, 31):
            if v == 2**k - 1:
                return f"2^{k}-1"
            if v == -2**k:
                return f"-2^{k}"
        return str(v)
    return f"[{fmt(lo)}, {fmt(hi)}]"
