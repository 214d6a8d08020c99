"""Test helpers: run a snippet of ISA code on one lane and read registers back.

``run_snippet(backend, setup, body, outputs)`` binds the ``setup`` registers as typed-scalar
parameters, appends an epilogue that stores every output register (or predicate, as a u8 0/1)
into an output buffer, runs one lane, and returns the values. Registers r200-r203 are reserved
for the epilogue.
"""

from __future__ import annotations

from typing import Any, Dict, List, Sequence, Tuple, Union

import numpy as np

import hologram as hg
from hologram.isa import DType

OUT_REG = 200


def _decode(raw: bytes, ty: DType) -> Any:
    if ty == DType.BF16:
        return int(np.frombuffer(raw[:2], np.uint16)[0])
    return np.frombuffer(raw[:ty.size], ty.numpy)[0]


def run_snippet(backend: Union[hg.CpuBackend, str], setup: Dict[str, Tuple[str, Any]],
                body: str, outputs: Sequence[Union[str, Tuple[str, str]]], *,
                max_steps: int = 100_000, shared_memory: int = 0,
                extra_params: Dict[str, Any] = None) -> List[Any]:
    """Run ``body`` on one lane; return the values of ``outputs``.

    ``setup`` maps "rN" to a typed scalar (type name, value). ``outputs`` lists ("rN", type)
    pairs or "pN" predicates (returned as bool). Floats come back as numpy scalars (bf16 as
    its uint16 bit pattern).
    """
    if isinstance(backend, str):
        backend = hg.CpuBackend() if backend == "vm" else hg.ReferenceBackend()
    lines = [body, "__epilogue:"]
    for k, out in enumerate(outputs):
        if isinstance(out, str):          # a predicate -> u8 0/1
            lines += ["mov_imm.u8 r201, 1", "mov_imm.u8 r202, 0",
                      f"sel.u8 r203, {out}, r201, r202", f"stg.u8 [r{OUT_REG} + {8 * k}], r203"]
        else:
            reg, ty = out
            lines.append(f"stg.{ty} [r{OUT_REG} + {8 * k}], {reg}")
    program = hg.assemble("\n".join(lines))
    out = np.zeros(8 * max(len(outputs), 1), np.uint8)
    params: Dict[Any, Any] = dict(setup)
    params[f"r{OUT_REG}"] = out
    if extra_params:
        params.update(extra_params)
    backend.execute_program(program, hg.LaunchConfig(1, 1, shared_memory), params,
                            max_steps=max_steps)
    values = []
    for k, o in enumerate(outputs):
        raw = out[8 * k:8 * k + 8].tobytes()
        values.append(bool(raw[0]) if isinstance(o, str) else _decode(raw, DType.parse(o[1])))
    return values


def f32_bits(x: float) -> int:
    return int(np.float32(x).view(np.uint32))


def bits_f32(b: int) -> float:
    return float(np.uint32(b).view(np.float32))


def as_bits(v: Any) -> Any:
    """A run_snippet value with floats as their bit patterns (ints); bools and ints as is."""
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, np.floating):
        return int(v.view(np.dtype(f"u{v.itemsize}")))
    return int(v)


#: A histogram kernel (ISA text): r1 = x (u8), r2 = bins (u32[256]), r3 = n; ``{atomic}`` is the
#: update of bins[x[gid]] (default: an atom.add of 1 whose old value is unused).
HISTOGRAM = """
.block 256
; r1 = x (u8), r2 = bins (u32[256]), r3 = n
        setgeu.u64   p0, r255, r3
        bra.p0       @done
        ldg.u8       r10, [r1 + r255]
        cvt.u64.u8   r11, r10
        mov_imm.u32  r12, 2
        shl.u64      r13, r11, r12
        mov_imm.u32  r14, 1
        {atomic}
done:
        exit
"""
HISTOGRAM_ATOMIC = "atom.add.u32 r15, [r2 + r13], r14"


def histogram(atomic: str = HISTOGRAM_ATOMIC) -> hg.Program:
    """The assembled :data:`HISTOGRAM` kernel."""
    return hg.assemble(HISTOGRAM.format(atomic=atomic))


def shfl_down_sum(acc: str = "r1", tmp: str = "r2", last: str = "r1") -> str:
    """The CUDA warp reduction as ISA text: down-shuffles by 16, 8, 4, 2, 1, each added to
    `acc` (the final sum goes to `last`); warp lane 0 ends with its warp's sum."""
    lines = []
    for k in (16, 8, 4, 2, 1):
        dst = last if k == 1 else acc
        lines += [f"        shfl.down.u32 {tmp}, {acc}, {k}", f"        add.u32 {dst}, {acc}, {tmp}"]
    return "\n".join(lines)
