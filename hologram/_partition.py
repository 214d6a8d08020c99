"""Can a launch be cut into chunks of blocks? A static analysis for chunked launches.

``hologram.dask.launch`` runs one program over chunked data: each task runs a range of blocks
of the global grid, with each *partitioned* parameter bound as a window of the global array
(one lane per element: lane ``g`` owns element ``g``), *replicated* parameters whole and
read-only, and *reduced* parameters as private copies combined afterwards. That is only the
single launch's result if the program keeps to those roles. :func:`check` proves what it can
before any task runs and raises :class:`NotPartitionable` (naming the instruction and the
parameter) for what certainly breaks them:

* a memory operand whose handle is not provably one parameter's (an immediate handle, the
  boundary pool, ``[Φ(...)]``, a handle computed or loaded), and the pool instructions: backend
  state that exists in one process only;
* atomics on anything but a reduced parameter, atomics whose op is not the parameter's
  combining op (or is ``exch``/``cas``), atomics whose returned old value is read, plain loads
  or stores of reduced parameters, stores to replicated ones;
* partitioned accesses whose offset is not ``itemsize * gid + c`` inside the lane's own
  element: offsets that depend on loaded data (a gather), non-affine functions of the lane
  ids (a transpose: div/rem, products of lane ids), affine ones of the wrong slope (a
  neighbour, every lane the same element).

What it cannot decide (offsets merged from different paths, loop induction variables,
unknown uniform shifts) is left to the run-time window check: such an access outside the
task's window faults, and the launch reports it as NotPartitionable with lane, pc and offset.

Abstract values of registers (forward dataflow over the program, joined at merges):
``None`` never written; ``("lin", a, b, c, u)`` = a·%lane.x + b·%block.x + c (+ an unknown
value equal in every lane if u); ``("h", reg)`` the handle of parameter ``reg``; ``("any",)``
lane-dependent, lost at a merge; ``("nonaffine",)`` a non-affine function of lane ids;
``("data",)`` depends on memory contents; ``("atom", pc)`` the old value an atomic returned.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple

from .errors import HologramError
from .isa import (GADDR, REG, REGIMM, AtomOp, BufferOffset, DType, Imm, Instruction,
                  PhiCoordinate, RegisterIndirect, RegisterIndirectComputed, SReg)
from .verify import fixpoint

__all__ = ["NotPartitionable", "Role", "Analysis", "check"]

PARTITIONED, REPLICATED, REDUCED, SCALAR = "partitioned", "replicated", "reduced", "scalar"
U64 = 2**64

Value = Optional[Tuple[Any, ...]]
ANY: Value = ("any",)
NONAFFINE: Value = ("nonaffine",)
DATA: Value = ("data",)
UNIFORM: Value = ("lin", 0, 0, 0, True)          # the same unknown value in every lane
_RANK = {"lin": 1, "h": 1, "any": 2, "nonaffine": 3, "data": 4, "atom": 5}


class NotPartitionable(HologramError):
    """A program that cannot run as a chunked launch with the given parameter roles.

    ``pc`` and ``instruction`` name the offending instruction and ``param`` the parameter
    (``"r1"``, or its declared name) when known. Raised by the static check before any task
    runs (then ``global_lane_id`` and ``offset`` are None), or after a task's access left its
    chunk's window (then they name the lane and the byte offset it accessed).
    """

    def __init__(self, message: str, *, pc: Optional[int] = None,
                 instruction: Optional[str] = None, param: Optional[str] = None,
                 global_lane_id: Optional[int] = None, offset: Optional[int] = None):
        self.message = message
        self.pc = pc
        self.instruction = instruction
        self.param = param
        self.global_lane_id = global_lane_id
        self.offset = offset
        text = message if pc is None else f"instruction {pc} ({instruction}): {message}"
        super().__init__(text)


@dataclass(frozen=True)
class Role:
    """How a chunked launch binds one parameter register.

    ``kind``: partitioned / replicated / reduced / scalar; ``itemsize``: bytes per element of
    a partitioned array; ``op`` and ``dtype``: a reduced array's combining op and element type;
    ``value``: a scalar's integer value (None if not an integer); ``name``: how messages name
    the parameter.
    """
    kind: str
    name: str
    itemsize: int = 0
    op: str = ""
    dtype: Optional[DType] = None
    value: Optional[int] = None


@dataclass
class Analysis:
    """What :func:`check` learned: the partitioned parameters the program stores to (their
    chunks are copied and returned), whether it uses ``res.accum``, and the accesses left to
    the run-time window check (pc, parameter register)."""
    written: Set[int]
    uses_resonance: bool
    runtime_checked: List[Tuple[int, int]]


# ---- the abstract domain

def _lin(a: int, b: int, c: int, u: bool = False) -> Value:
    return ("lin", a, b, c, u)


def _const(v: Value) -> Optional[int]:
    if v is not None and v[0] == "lin" and v[1] == 0 and v[2] == 0 and not v[4]:
        return v[3]
    return None


def _uniform(v: Value) -> bool:
    return v is not None and v[0] == "lin" and v[1] == 0 and v[2] == 0


def join(x: Value, y: Value) -> Value:
    """Least upper bound of two abstract values."""
    if x is None or x == y:
        return y
    if y is None:
        return x
    rx, ry = _RANK[x[0]], _RANK[y[0]]
    if rx == ry == 1:
        return ANY
    if rx == ry and x[0] == "atom":
        return x if x[1] < y[1] else y
    return x if rx > ry else y


def _combine(values: Sequence[Value]) -> Value:
    """The result of an operation that is not tracked: data (or an atomic's value) wins;
    then a known non-affine value; then an undecided one stays undecided; uniform inputs give a
    uniform value; an exact lane-dependent value (or a handle) through this operation is
    non-affine."""
    kinds = {v[0] for v in values if v is not None}
    if kinds & {"data", "atom"}:
        return DATA
    if "nonaffine" in kinds:
        return NONAFFINE
    if "any" in kinds:
        return ANY
    if all(v is None or _uniform(v) for v in values):
        return UNIFORM
    return NONAFFINE


def _add(x: Value, y: Value, sign: int = 1) -> Value:
    if x is not None and y is not None and x[0] == y[0] == "lin":
        return _lin(x[1] + sign * y[1], x[2] + sign * y[2], x[3] + sign * y[3], x[4] or y[4])
    return _combine([x, y])


def _scale(x: Value, k: int) -> Value:
    assert x is not None and x[0] == "lin"
    return _lin(x[1] * k, x[2] * k, x[3] * k, x[4])


def _mul(x: Value, y: Value) -> Value:
    if x is not None and y is not None and x[0] == y[0] == "lin":
        kx, ky = _const(x), _const(y)
        if ky is not None:
            return _scale(x, ky)
        if kx is not None:
            return _scale(y, kx)
        if _uniform(x) and _uniform(y):
            return UNIFORM
        if _uniform(x) or _uniform(y):
            return ANY            # affine with an unknown slope: left to the run-time check
    return _combine([x, y])


_CONST_OPS: Dict[str, Callable[[int, int], Optional[int]]] = {
    "DIV": lambda a, b: a // b if b else None, "REM": lambda a, b: a % b if b else None,
    "SHR": lambda a, b: a >> b if 0 <= b < 64 else None, "AND": lambda a, b: a & b,
    "OR": lambda a, b: a | b, "XOR": lambda a, b: a ^ b, "MIN": min, "MAX": max,
}


def _signed(v: int) -> int:
    return v - U64 if v >= U64 // 2 else v


# ---- the dataflow

class _Flow:
    """Abstract register values before every instruction of a program."""

    def __init__(self, program: Any, roles: Dict[int, Role], block: int):
        self.program = program
        self.block = block
        entry: List[Value] = [None] * 256
        entry[252], entry[253] = _lin(1, 0, 0), _lin(0, 1, 0)
        entry[254], entry[255] = _lin(0, 0, block), _lin(1, block, 0)
        for reg, role in roles.items():
            if role.kind == SCALAR:
                entry[reg] = UNIFORM if role.value is None else _lin(0, 0, role.value)
            else:
                entry[reg] = ("h", reg)
        self.states = fixpoint(program, entry, self.transfer,
                               lambda cur, out: [join(a, b) for a, b in zip(cur, out)])

    def operand(self, state: List[Value], v: Any) -> Value:
        """A register's value, or an immediate's (ISA 1.1 regimm fields)."""
        if isinstance(v, Imm):
            return _lin(0, 0, _signed(v.value))
        return state[v]

    def transfer(self, pc: int, ins: Instruction, state: List[Value]) -> List[Value]:
        out = list(state)
        written = [v for f, v in zip(ins.spec.fields, ins.values)
                   if f.kind == REG and f.role in ("w", "rw")]
        if written:
            out[written[0]] = self.result(pc, ins, state)
        return out

    def result(self, pc: int, ins: Instruction, st: List[Value]) -> Value:
        """The abstract value an instruction writes to its destination register."""
        v = ins.variant
        if v == "MOV":
            return st[ins.src]
        if v == "MOV_IMM":
            return _lin(0, 0, ins.value) if ins.ty.is_int else UNIFORM
        if v == "MOV_SREG":
            return self.sreg(ins.sreg)
        if v in ("LDG", "LDS", "PoolLoad", "ATOMS", "ATOMS_CAS"):
            return DATA
        if v in ("ATOM", "ATOM_CAS"):
            return ("atom", pc)
        if v == "SEL":
            return join(st[ins.src_true], st[ins.src_false])
        if v == "LOOP":                # the counter counts down: lost
            old = st[ins.count]
            return old if old is not None and _RANK[old[0]] >= 3 else ANY
        if v in ("SHFL", "BALLOT"):
            src = st[ins.src] if v == "SHFL" else None
            return DATA if src is not None and _RANK[src[0]] >= 4 else NONAFFINE
        ty = getattr(ins, "ty", None)
        ints = ty is not None and ty.is_int
        if v in ("ADD", "SUB") and ints:
            return _add(st[ins.src1], self.operand(st, ins.src2), 1 if v == "ADD" else -1)
        if v == "MUL" and ints:
            return _mul(st[ins.src1], self.operand(st, ins.src2))
        if v == "MAD" and ints:
            return _add(_mul(st[ins.a], st[ins.b]), st[ins.c])
        if v == "SHL":
            amount, x = self.operand(st, ins.amount), st[ins.src]
            k = _const(amount)
            if x is not None and x[0] == "lin":
                if k is not None and 0 <= k < 64:
                    return _scale(x, 1 << k)
                if _uniform(amount):
                    return UNIFORM if _uniform(x) else ANY
        if v == "NEG" and ints and st[ins.src] is not None and st[ins.src][0] == "lin":
            return _scale(st[ins.src], -1)
        if v == "CVT":
            x = st[ins.src]
            if ins.src_ty.is_int and ins.dst_ty.is_int:
                return x
            return _combine([x])
        if v in _CONST_OPS and ints:
            a, b = _const(st[ins.src1]), _const(self.operand(st, ins.src2))
            if a is not None and b is not None:
                r = _CONST_OPS[v](a, b)
                if r is not None:
                    return _lin(0, 0, r)
        if v == "ClsGet":
            return NONAFFINE            # the block's class: %block.x mod 96
        reads = [st[index] for kind, index, _ in ins.reads() if kind == "r"]
        return _combine(reads)

    def sreg(self, s: SReg) -> Value:
        if s == SReg.LaneX:
            return _lin(1, 0, 0)
        if s == SReg.BlockX:
            return _lin(0, 1, 0)
        if s == SReg.GlobalId:
            return _lin(1, self.block, 0)
        if s == SReg.BlockDimX:
            return _lin(0, 0, self.block)
        if s in (SReg.LaneId, SReg.WarpId):
            return NONAFFINE
        if s in (SReg.GridDimX, SReg.GridDimY, SReg.GridDimZ):
            return UNIFORM if s == SReg.GridDimX else _lin(0, 0, 1)
        return _lin(0, 0, 1 if s in (SReg.BlockDimY, SReg.BlockDimZ) else 0)


# ---- the check

def _fail(msg: str, pc: int, ins: Instruction, role: Optional[Role] = None) -> NotPartitionable:
    return NotPartitionable(msg, pc=pc, instruction=str(ins),
                            param=role.name if role is not None else None)


_ATOM_OPS = {AtomOp.ADD: "add", AtomOp.MIN: "min", AtomOp.MAX: "max", AtomOp.AND: "and",
             AtomOp.OR: "or", AtomOp.XOR: "xor"}


def check(program: Any, roles: Dict[int, Role], block: int) -> Analysis:
    """Prove a program chunk-local for these parameter roles, or raise NotPartitionable for
    the first offending instruction (in index order). ``roles`` maps parameter registers to
    :class:`Role`; ``block`` is the number of lanes per (1-D) block."""
    flow = _Flow(program, roles, block)
    result = Analysis(set(), False, [])
    for pc, ins in enumerate(program.instructions):
        st = flow.states[pc]
        if st is None:
            continue                                    # unreachable
        v = ins.variant
        reads = [index for kind, index, _ in ins.reads() if kind == "r"]
        if v == "SEL":
            reads += [ins.src_true, ins.src_false]
        for r in reads:
            val = st[r]
            if val is not None and val[0] == "atom":
                atom = program.instructions[val[1]]
                raise _fail(f"reads r{r}, the old value returned by the atomic at pc {val[1]} "
                            f"({atom}): a chunked launch combines atomics per chunk, so the "
                            f"values they return differ from a single launch", pc, ins)
        if v.startswith("Pool"):
            raise _fail("pools are state of one backend, which the tasks of a chunked launch "
                        "do not share", pc, ins)
        if v == "ResAccum":
            result.uses_resonance = True
        if v not in ("LDG", "STG", "ATOM", "ATOM_CAS"):
            continue
        _check_access(pc, ins, st, flow, roles, block, result)
    return result


def _check_access(pc: int, ins: Instruction, st: List[Value], flow: _Flow,
                  roles: Dict[int, Role], block: int, result: Analysis) -> None:
    """One global memory access: its handle must be a parameter's, used as its role allows."""
    addr = ins.addr
    v = ins.variant
    if isinstance(addr, (BufferOffset, PhiCoordinate)):
        what = "the boundary pool" if isinstance(addr, PhiCoordinate) or addr.handle == 0 or \
            addr.handle >= U64 - 96 else f"the fixed handle {addr.handle}"
        raise _fail(f"addresses {what}; a chunked launch binds only its parameters (pass the "
                    f"buffer as a parameter)", pc, ins)
    hreg = addr.base if isinstance(addr, RegisterIndirect) else addr.handle_reg
    h = st[hreg]
    if h is None or h[0] != "h" or h[1] not in roles or roles[h[1]].kind == SCALAR:
        raise _fail(f"the handle in r{hreg} is not provably one parameter's (a computed, "
                    f"loaded or pool handle), so the tasks cannot bind it", pc, ins)
    role = roles[h[1]]
    if role.kind == REDUCED:
        if v == "ATOM" and _ATOM_OPS.get(ins.op) == role.op:
            if ins.ty != role.dtype:
                raise _fail(f"atom.{role.op}.{ins.ty.text} on {role.name}, a reduced array of "
                            f"{role.dtype.text if role.dtype else '?'}", pc, ins, role)
            return
        what = {"LDG": "loads from", "STG": "stores to"}.get(v, "this atomic on")
        raise _fail(f"{what} {role.name}, a reduced parameter: each task holds only its own "
                    f"partial, combined with '{role.op}' afterwards, so only atom.{role.op} "
                    f"(its old value unused) can update it", pc, ins, role)
    if v != "LDG" and role.kind == REPLICATED:
        raise _fail(f"writes {role.name}, a replicated (read-only) parameter", pc, ins, role)
    if role.kind != PARTITIONED:
        return
    if v != "LDG" and v != "STG":
        raise _fail(f"atomics on {role.name}, a partitioned parameter: lanes of different "
                    f"chunks cannot combine through it (declare it reduced)", pc, ins, role)
    if v == "STG":
        result.written.add(h[1])
    if isinstance(addr, RegisterIndirect):
        off = _lin(0, 0, addr.offset)
    else:
        off = _add(_mul(st[addr.offset_reg], _lin(0, 0, addr.scale)), _lin(0, 0, addr.disp))
    _check_offset(pc, ins, off, role, block, result, h[1])


def _check_offset(pc: int, ins: Instruction, off: Value, role: Role, block: int,
                  result: Analysis, reg: int) -> None:
    """Is byte offset ``off`` inside lane gid's own element (itemsize·gid + c, 0 <= c <=
    itemsize - access size)? Reject what certainly is not; leave the undecided to run time."""
    size = role.itemsize
    nb = ins.ty.size
    if off is None or off[0] == "any":
        result.runtime_checked.append((pc, reg))
        return
    if off[0] in ("data", "atom"):
        raise _fail(f"the offset into {role.name} depends on memory contents (a gather or "
                    f"scatter): any element of any chunk may be reached; bind the array as "
                    f"replicated", pc, ins, role)
    if off[0] != "lin":
        raise _fail(f"the offset into {role.name} is not an affine function of the global lane "
                    f"id (e.g. a transpose): lanes reach elements of other chunks", pc, ins, role)
    _, a, b, c, u = off
    if b != a * block:
        raise _fail(f"the offset into {role.name} uses %lane.x or %block.x other than through "
                    f"the global lane id ({a}·%lane.x + {b}·%block.x + ...): blocks reach "
                    f"elements of other chunks", pc, ins, role)
    if a == size and u:
        result.runtime_checked.append((pc, reg))
        return
    if a != size or not 0 <= c <= size - nb:
        raise _fail(f"lane g accesses bytes {a}·g + {c} of {role.name}, not its own element "
                    f"(bytes {size}·g to {size}·g + {size - 1}): e.g. a neighbour's element or "
                    f"the same element for every lane, which another chunk may hold",
                    pc, ins, role)
