"""Programs: instructions, labels and directives; validation (ISA.md §7.4) and JSON (§9)."""

from __future__ import annotations

import json
import math
import re
from types import MappingProxyType
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from .errors import ProgramError
from .isa import (ADDRESS_DEFAULTS, ADDRESS_MODES, ENUMS, F64, FLAG, GADDR, IDENT, LABEL, REGIMM,
                  SADDR, SPEC_BY_VARIANT, TYPE, UNSUPPORTED_VARIANTS, DType, Imm, Instruction,
                  ParamDecl, check_types)

__all__ = ["Program"]

Shape = Tuple[int, int, int]


def _shape(value: Union[int, Sequence[int], None], what: str) -> Optional[Shape]:
    if value is None:
        return None
    items: Any = (value,) if isinstance(value, int) and not isinstance(value, bool) else value
    try:
        dims = [int(v) if not isinstance(v, bool) and int(v) == v else None for v in items]
    except (TypeError, ValueError):
        raise ProgramError(f"{what} must be an int or a tuple of 1-3 ints, got {value!r}") from None
    if not 1 <= len(dims) <= 3 or any(d is None or d < 0 for d in dims):
        raise ProgramError(f"{what} must be an int or a tuple of 1-3 ints >= 0, got {value!r}")
    return tuple(dims + [1] * (3 - len(dims)))  # type: ignore[return-value]


class Program:
    """An Atlas ISA program: instructions, a label map and optional directives.

    ``labels`` maps names to instruction indices in ``[0, len]`` (``len`` = end of program).
    ``name``, ``block`` and ``shared_memory`` are the ``.kernel``, ``.block`` and ``.shared``
    directives, used as launch defaults; ``params`` the ``.param`` declarations
    (:class:`~hologram.isa.ParamDecl`, ISA 1.1 §12.6), which make launches check their
    parameters and validation reject reads that can never succeed. Programs are validated on
    construction unless ``validate=False``; build them with :func:`hologram.assemble`,
    :meth:`from_json` or directly from :class:`~hologram.isa.Instruction` objects.
    """

    def __init__(self, instructions: Iterable[Instruction] = (),
                 labels: Optional[Mapping[str, int]] = None, *, name: Optional[str] = None,
                 block: Union[int, Sequence[int], None] = None,
                 shared_memory: Optional[int] = None, params: Iterable[ParamDecl] = (),
                 validate: bool = True):
        self._instructions: Tuple[Instruction, ...] = tuple(instructions)
        self._labels: Mapping[str, int] = MappingProxyType(dict(labels or {}))
        self.name = name
        self.block = _shape(block, "block")
        self.shared_memory = shared_memory
        self.params: Tuple[ParamDecl, ...] = tuple(params)
        self._lowered: Any = None     # the VM's lowered form, made once (the program is immutable)
        self._validated = False
        if validate:
            self.validate()

    @property
    def instructions(self) -> Tuple[Instruction, ...]:
        """The instructions (a tuple: programs are immutable)."""
        return self._instructions

    @property
    def labels(self) -> Mapping[str, int]:
        """Label name -> instruction index (read-only)."""
        return self._labels

    # ---- container protocol and equality

    def __len__(self) -> int:
        return len(self.instructions)

    def __getitem__(self, i: int) -> Instruction:
        return self.instructions[i]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Program):
            return NotImplemented
        return (self.instructions == other.instructions and dict(self.labels) == dict(other.labels)
                and self.name == other.name and self.block == other.block
                and self.shared_memory == other.shared_memory and self.params == other.params)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        name = f" {self.name!r}" if self.name else ""
        return f"<Program{name}: {len(self)} instructions, {len(self.labels)} labels>"

    # ---- validation

    def validate(self) -> "Program":
        """Check the program (ISA.md §7.4); raise ProgramError for the first failure."""
        n = len(self.instructions)
        for name in self.labels:
            if not isinstance(name, str):
                raise ProgramError(f"label name {name!r} is not a string")
        for name in sorted(self.labels):
            idx = self.labels[name]
            if isinstance(idx, bool) or not isinstance(idx, int) or not 0 <= idx <= n:
                raise ProgramError(f"label '{name}' points to invalid instruction index {idx} "
                                   f"(max: {n})")
        if self.name is not None and not isinstance(self.name, str):
            raise ProgramError(f"kernel name must be a string, got {self.name!r}")
        if self.shared_memory is not None and (isinstance(self.shared_memory, bool) or not
                                               isinstance(self.shared_memory, int) or
                                               self.shared_memory < 0):
            raise ProgramError(f"shared memory size must be an int >= 0, got {self.shared_memory!r}")
        # Directive ranges of the text syntax (.shared: u64, .block extents: u32), so that every
        # valid program can be disassembled and assembled back.
        if self.shared_memory is not None and self.shared_memory > 2**64 - 1:
            raise ProgramError(f"shared memory size {self.shared_memory} out of range [0, 2^64-1]")
        if self.block is not None and any(d > 2**32 - 1 for d in self.block):
            raise ProgramError(f"block extents {self.block} out of range [0, 2^32-1]")
        _check_params(self.params)
        for i, ins in enumerate(self.instructions):
            if not isinstance(ins, Instruction):
                raise ProgramError(f"not an Instruction: {ins!r}", i)
            try:
                for f, v in zip(ins.spec.fields, ins.values):
                    if f.kind == LABEL and v not in self.labels:
                        raise ProgramError(f"undefined label '{v}' referenced in instruction {i}")
                check_types(ins)
            except ProgramError as e:
                raise ProgramError(e.message, i, str(ins)) from None
        if self.params:                 # §12.6: with declarations every register type is known
            from .verify import static_type_error
            found = static_type_error(self)
            if found is not None:
                i, operand, message, field = found
                raise ProgramError(message, i, str(self.instructions[i]), operand, field)
        self._validated = True
        return self

    # ---- text

    def disassemble(self) -> str:
        """Canonical text (ISA.md §8.4); ``assemble(p.disassemble()) == p``."""
        for name in self.labels:
            if not IDENT.match(name):
                raise ProgramError(f"label name {name!r} cannot be written as text")
        if self.name is not None and not IDENT.match(self.name):
            raise ProgramError(f"kernel name {self.name!r} cannot be written as text")
        at: Dict[int, List[str]] = {}
        for name, idx in self.labels.items():
            at.setdefault(idx, []).append(name)
        out: List[str] = []
        if self.name is not None:
            out.append(f".kernel {self.name}")
        if self.block is not None:
            out.append(".block {}, {}, {}".format(*self.block))
        if self.shared_memory is not None:
            out.append(f".shared {self.shared_memory}")
        out.extend(str(p) for p in self.params)
        for i in range(len(self.instructions) + 1):
            out.extend(f"{name}:" for name in sorted(at.get(i, ())))
            if i < len(self.instructions):
                out.append("    " + str(self.instructions[i]))
        return "\n".join(out) + "\n"

    def __str__(self) -> str:
        return self.disassemble()

    # ---- JSON

    def to_dict(self) -> Dict[str, Any]:
        """The JSON object of ISA.md §9 as Python data."""
        instrs: List[Any] = []
        for ins in self.instructions:
            if not ins.spec.fields:
                instrs.append(ins.variant)
                continue
            body: Dict[str, Any] = {}
            for f, v in zip(ins.spec.fields, ins.values):
                if f.kind != FLAG or v:           # "negate" is written only when true
                    body[f.name] = _to_json_value(f.kind, v)
            instrs.append({ins.variant: body})
        labels = dict(sorted(self.labels.items(), key=lambda kv: (kv[1], kv[0])))
        out: Dict[str, Any] = {"instructions": instrs, "labels": labels}
        if self.name is not None:
            out["name"] = self.name
        if self.block is not None:
            out["block"] = list(self.block)
        if self.shared_memory is not None:
            out["shared_memory"] = self.shared_memory
        if self.params:
            out["params"] = [_param_to_json(p) for p in self.params]
        return out

    def to_json(self, indent: Optional[int] = None) -> str:
        """Serialise to JSON (ISA.md §9); the original's loader reads the instruction part."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False, allow_nan=False)

    @classmethod
    def from_json(cls, text: Union[str, bytes]) -> "Program":
        """Load a program from JSON (ours or the original's); ProgramError if invalid."""
        try:
            data = json.loads(text, parse_constant=_reject_constant)
        except (ValueError, TypeError, RecursionError) as e:
            raise ProgramError(f"invalid JSON: {e}") from None
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Any) -> "Program":
        if not isinstance(data, dict):
            raise ProgramError("a program must be a JSON object")
        unknown = set(data) - {"instructions", "labels", "name", "block", "shared_memory",
                               "params"}
        if unknown:
            raise ProgramError(f"unknown program key(s) {sorted(unknown)}")
        if "instructions" not in data:
            raise ProgramError("missing key 'instructions'")
        raw = data["instructions"]
        if not isinstance(raw, list):
            raise ProgramError("'instructions' must be a list")
        labels = data.get("labels", {})
        if not isinstance(labels, dict):
            raise ProgramError("'labels' must be an object")
        instructions = []
        for i, item in enumerate(raw):
            try:
                instructions.append(_instruction_from_json(item))
            except ProgramError as e:
                raise ProgramError(e.message, i) from None
        block = data.get("block")
        if block is not None and (not isinstance(block, list) or any(
                isinstance(v, bool) or not isinstance(v, int) for v in block)):
            raise ProgramError("'block' must be a list of 1-3 integers")
        name = data.get("name")
        if name is not None and not isinstance(name, str):
            raise ProgramError("'name' must be a string")
        raw_params = data.get("params", [])
        if not isinstance(raw_params, list):
            raise ProgramError("'params' must be a list")
        return cls(instructions, labels, name=name, block=block,
                   shared_memory=data.get("shared_memory"),
                   params=[_param_from_json(p) for p in raw_params])


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _check_params(params: Tuple[ParamDecl, ...]) -> None:
    """The ``.param`` declarations (§12.6): well-formed, one per register and per name."""
    regs: Dict[int, ParamDecl] = {}
    names: Dict[str, ParamDecl] = {}
    for p in params:
        if not isinstance(p, ParamDecl):
            raise ProgramError(f"not a ParamDecl: {p!r}")
        if isinstance(p.reg, bool) or not isinstance(p.reg, int) or not 0 <= p.reg <= 255:
            raise ProgramError(f"parameter register {p.reg!r} out of range (r0-r255)")
        if not isinstance(p.type, DType) or not isinstance(p.buffer, bool):
            raise ProgramError(f"parameter r{p.reg}: type must be a DType and buffer a bool")
        if p.name is not None:
            if not isinstance(p.name, str) or not IDENT.match(p.name):
                raise ProgramError(f"parameter name {p.name!r} is not an identifier")
            if re.fullmatch(r"[rR]\d+", p.name):   # launch keys "r5" mean registers
                raise ProgramError(f"parameter name {p.name!r} looks like a register")
            if p.name in names:
                raise ProgramError(f"parameter name {p.name!r} is declared twice")
            names[p.name] = p
        if p.reg in regs:
            raise ProgramError(f"parameter register r{p.reg} is declared twice")
        regs[p.reg] = p


def _param_to_json(p: ParamDecl) -> Dict[str, Any]:
    out: Dict[str, Any] = {"reg": p.reg, "type": p.type.name, "buffer": p.buffer}
    if p.name is not None:
        out["name"] = p.name
    return out


def _param_from_json(item: Any) -> ParamDecl:
    if not isinstance(item, dict) or not {"reg", "type"} <= set(item) or \
            not set(item) <= {"reg", "type", "buffer", "name"}:
        raise ProgramError(f"a parameter declaration is {{\"reg\", \"type\", \"buffer\", "
                           f"\"name\"}} (reg and type required), got {item!r}")
    ty = item["type"]
    if not isinstance(ty, str) or ty not in DType.__members__:
        raise ProgramError(f"parameter declaration: unknown type {ty!r}")
    name = item.get("name")
    if name is not None and not isinstance(name, str):
        raise ProgramError(f"parameter declaration: name must be a string, got {name!r}")
    return ParamDecl(item["reg"], DType[ty], item.get("buffer", False), name)


def _to_json_value(kind: str, v: Any) -> Any:
    if kind == TYPE:
        return v.name
    if kind in ENUMS:
        return v.json
    if kind == REGIMM and isinstance(v, Imm):
        return {"Imm": v.value}
    if kind in (GADDR, SADDR):
        for mode, (cls, flds) in ADDRESS_MODES.items():
            if isinstance(v, cls):
                return {mode: {key: getattr(v, attr) for key, attr, _, _ in flds
                               if ADDRESS_DEFAULTS.get(key) != getattr(v, attr)}}
    if kind == F64:
        return None if math.isnan(v) or math.isinf(v) else v
    return v


def _instruction_from_json(item: Any) -> Instruction:
    body: Any
    if isinstance(item, str):
        variant, body = item, {}
    elif isinstance(item, dict) and len(item) == 1:
        variant, body = next(iter(item.items()))
        if not isinstance(body, dict):
            raise ProgramError(f"fields of {variant} must be an object")
    else:
        raise ProgramError(f"an instruction must be a string or a one-key object, got {item!r}")
    spec = SPEC_BY_VARIANT.get(variant)
    if spec is None:
        what = "unsupported" if variant in UNSUPPORTED_VARIANTS else "unknown"
        raise ProgramError(f"{what} instruction {variant!r}")
    if isinstance(item, str) and spec.fields:
        raise ProgramError(f"{variant} needs fields")
    fields: Dict[str, Any] = {}
    kinds = {f.name: f.kind for f in spec.fields}
    for key, value in body.items():
        if key not in kinds:
            raise ProgramError(f"{variant}: unknown field {key!r}")
        fields[key] = _from_json_value(variant, key, kinds[key], value)
    return Instruction(variant, **fields)


def _from_json_value(variant: str, key: str, kind: str, v: Any) -> Any:
    if kind == TYPE:
        if not isinstance(v, str) or v not in DType.__members__:
            raise ProgramError(f"{variant}.{key}: unknown type {v!r}")
        return DType[v]
    if kind in ENUMS:
        enum = ENUMS[kind]
        if not isinstance(v, str) or v not in enum.__members__:
            raise ProgramError(f"{variant}.{key}: unknown {enum.__name__} {v!r}")
        return enum[v]
    if kind in (GADDR, SADDR):
        if not isinstance(v, dict) or len(v) != 1:
            raise ProgramError(f"{variant}.{key}: an address must be a one-key object")
        mode, body = next(iter(v.items()))
        if mode not in ADDRESS_MODES or not isinstance(body, dict):
            raise ProgramError(f"{variant}.{key}: unknown address mode {mode!r}")
        cls, flds = ADDRESS_MODES[mode]
        names = {k for k, _, _, _ in flds}
        required = names - set(ADDRESS_DEFAULTS)
        if not required <= set(body) <= names:
            raise ProgramError(f"{variant}.{key}: {mode} needs the fields {sorted(required)}"
                               + (f" (optional: {sorted(names - required)})"
                                  if names - required else ""))
        args = {}
        for k, attr, lo, hi in flds:
            if k not in body:
                continue
            x = body[k]
            if isinstance(x, bool) or not isinstance(x, int) or not lo <= x <= hi:
                raise ProgramError(f"{variant}.{key}.{k}: {x!r} is not an integer in [{lo}, {hi}]")
            args[attr] = x
        return cls(**args)
    if kind == F64:
        if v is None:
            return math.nan
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ProgramError(f"{variant}.{key}: expected a number, got {v!r}")
        try:
            return float(v)
        except OverflowError:                    # an integer beyond the f64 range
            return -math.inf if v < 0 else math.inf
    if kind == FLAG:
        if not isinstance(v, bool):
            raise ProgramError(f"{variant}.{key}: expected true or false, got {v!r}")
        return v
    if kind == REGIMM and isinstance(v, dict):     # §12.1: {"Imm": V}
        if set(v) != {"Imm"} or isinstance(v["Imm"], bool) or not isinstance(v["Imm"], int):
            raise ProgramError(f"{variant}.{key}: expected a register or {{\"Imm\": V}}, "
                               f"got {v!r}")
        return Imm(v["Imm"])
    if kind != LABEL and kind != "optpred" and (isinstance(v, bool) or not isinstance(v, int)):
        raise ProgramError(f"{variant}.{key}: expected an integer, got {v!r}")
    return v
