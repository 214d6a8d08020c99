"""The ISA kernels behind :mod:`hologram.ops`, as readable text templates (``*.hasm`` files).

Each ``NAME.hasm`` file in this package is an Atlas ISA program in the text syntax of
docs/ISA.md §8, with two template devices that :func:`render` expands:

* ``{KEY}`` placeholders, filled with :meth:`str.format`. The conventional keys are ``{T}``
  (element type of the inputs, e.g. ``f32``), ``{C}`` (compute/accumulation type: ``f32`` for
  ``f16``/``bf16`` inputs, else ``{T}``), ``{O}`` (output type of a reduction), ``{I}`` (index
  type of gather); ``{B}``, ``{BC}``, ``{BO}``, ``{BI}``: the byte sizes of ``{T}``, ``{C}``,
  ``{O}``, ``{I}`` (address scales: ``[r1 + r255*{B}]``), and ``{S}``, ``{SC}``, ``{SO}``,
  ``{SI}``: their log2 (shift amounts). Kernels also use ``{OP}`` (an instruction mnemonic),
  ``{IDENT}`` (a ``mov_imm`` literal), ``{SHARED}`` (bytes of shared memory), ``{NAME}`` and
  ``{KIND}``. Most kernels declare their parameters (``.param``, ISA.md §12.6).
* conditional lines: a line that starts with ``?flag`` is kept (with the marker blanked) only
  when ``flag`` is set. :func:`render` sets ``widen`` when ``{C}`` differs from ``{T}``,
  ``narrow`` when ``{O}`` differs from ``{C}``, ``float``/``int`` from ``{T}``,
  ``signed``/``unsigned`` from ``{I}``, and any
  extra flags passed in (``exp``/``div`` for rowwise.hasm, ``mse``/``xent``/``bce`` for
  loss.hasm).

Example (a kernel you can launch yourself)::

    import numpy as np, hologram as hg
    from hologram import kernels
    prog = hg.assemble(kernels.render("binary", T="f64", OP="max", NAME="vmax"))
    a, b = np.arange(5.0), np.full(5, 2.0); c = np.empty(5)
    hg.launch(prog, grid=1, block=256, params={"r1": a, "r2": b, "r3": c, "r4": ("u64", 5)})
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Dict, Iterable, List

__all__ = ["names", "template", "render"]

_SIZES = {"i8": 1, "u8": 1, "i16": 2, "u16": 2, "f16": 2, "bf16": 2,
          "i32": 4, "u32": 4, "f32": 4, "i64": 8, "u64": 8, "f64": 8}
_LOG2 = {1: 0, 2: 1, 4: 2, 8: 3}


def names() -> List[str]:
    """The kernel templates shipped with hologram (file names without ``.hasm``)."""
    return sorted(p.name[:-5] for p in resources.files(__name__).iterdir()
                  if p.name.endswith(".hasm"))


@lru_cache(maxsize=None)
def template(name: str) -> str:
    """The raw text of ``NAME.hasm``; FileNotFoundError if there is no such kernel."""
    path = resources.files(__name__).joinpath(name + ".hasm")
    if not path.is_file():
        raise FileNotFoundError(f"no kernel template {name!r}; available: {', '.join(names())}")
    return path.read_text(encoding="utf-8")


def render(name: str, flags: Iterable[str] = (), **subs: object) -> str:
    """Expand template ``name``: conditional lines, then ``{KEY}`` placeholders.

    ``T`` (required by most kernels), ``C`` (default ``T``), ``O`` (default ``C``) and ``I`` are
    type names; their byte sizes ``B``, ``BC``, ``BO``, ``BI``, log2 sizes ``S``, ``SC``,
    ``SO``, ``SI`` and the flags ``widen``, ``narrow``, ``float``, ``int``, ``signed``,
    ``unsigned`` are derived from them. Other keys are substituted as given. Returns ISA text
    ready for :func:`hologram.assemble`.
    """
    values: Dict[str, object] = dict(subs)
    active = set(flags)
    t = values.get("T")
    if t is not None:
        c = values.setdefault("C", t)
        o = values.setdefault("O", c)
        for key, ty in (("", t), ("C", c), ("O", o)):
            values.setdefault("B" + key, _SIZES[str(ty)])
            values.setdefault("S" + key, _LOG2[_SIZES[str(ty)]])
        if c != t:
            active.add("widen")
        if o != c:
            active.add("narrow")
        active.add("float" if str(t)[0] in "fb" else "int")
    i = values.get("I")
    if i is not None:
        values.setdefault("BI", _SIZES[str(i)])
        values.setdefault("SI", _LOG2[_SIZES[str(i)]])
        active.add("signed" if str(i).startswith("i") else "unsigned")
    lines = []
    for line in template(name).splitlines():
        if line.startswith("?"):
            marker = line.split(None, 1)[0]
            if marker[1:] not in active:
                continue
            line = " " * len(marker) + line[len(marker):]
        lines.append(line)
    return "\n".join(lines).format(**values) + "\n"
