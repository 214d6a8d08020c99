"""Atlas tables (ISA.md §10): class labels, mirror, unity classes, neighbours, boundary geometry.

Everything is computed from the formulas of §10 (not copied from its table), then spot-checked
against a few rows of that table when the module is imported. The reference interpreter and
the VM both read these tables, so they cannot disagree about the Atlas instructions (§5.10).
"""

from __future__ import annotations

from typing import FrozenSet, Tuple

__all__ = ["NUM_CLASSES", "PAGES", "PAGE_BYTES", "CLASS_BYTES", "BOUNDARY_BYTES",
           "CLASS_HANDLE_BASE", "PHASE_MODULUS", "MAX_DEGREE", "label", "class_of", "mirror", "neighbours",
           "boundary_offset", "MIRROR", "NEIGHBOURS", "DEGREE", "NEIGHBOUR_TABLE",
           "UNITY_CLASSES", "IS_UNITY", "neighbour"]

NUM_CLASSES = 96
PAGES = 48
PAGE_BYTES = 256
CLASS_BYTES = PAGES * PAGE_BYTES               # 12,288
BOUNDARY_BYTES = NUM_CLASSES * CLASS_BYTES     # 1,179,648
CLASS_HANDLE_BASE = 2**64 - NUM_CLASSES        # buffer handle of class c's window: base + c (§4.3)
PHASE_MODULUS = 768
MAX_DEGREE = 6

Label = Tuple[int, int, int, int, int, int]    # (e1, e2, e3, d45, e6, e7)


def label(c: int) -> Label:
    """The label (e1, e2, e3, d45, e6, e7) of class c (e* in {0, 1}, d45 in {-1, 0, +1})."""
    if not 0 <= c < NUM_CLASSES:
        raise ValueError(f"class {c} out of range [0, 96)")
    return (c // 48, (c // 24) % 2, (c // 12) % 2, c % 3 - 1, (c // 6) % 2, (c // 3) % 2)


def class_of(e1: int, e2: int, e3: int, d45: int, e6: int, e7: int) -> int:
    """Inverse of :func:`label`: c = 48·e1 + 24·e2 + 12·e3 + 6·e6 + 3·e7 + (d45 + 1)."""
    return 48 * e1 + 24 * e2 + 12 * e3 + 6 * e6 + 3 * e7 + (d45 + 1)


def mirror(c: int) -> int:
    """mirror(c) flips e7: an involution without fixed points."""
    e1, e2, e3, d45, e6, e7 = label(c)
    return class_of(e1, e2, e3, d45, e6, 1 - e7)


def neighbours(c: int) -> Tuple[int, ...]:
    """Neighbours of c in ascending order: flip e1, e2, e3 or e6, or step d45 by one."""
    e1, e2, e3, d45, e6, e7 = label(c)
    out = [class_of(1 - e1, e2, e3, d45, e6, e7), class_of(e1, 1 - e2, e3, d45, e6, e7),
           class_of(e1, e2, 1 - e3, d45, e6, e7), class_of(e1, e2, e3, d45, 1 - e6, e7)]
    out += [class_of(e1, e2, e3, d, e6, e7) for d in (d45 - 1, d45 + 1) if -1 <= d <= 1]
    return tuple(sorted(out))


def boundary_offset(c: int, page: int, byte: int) -> int:
    """Byte offset of Φ(c, page, byte) in the flat boundary pool (handle 0)."""
    return CLASS_BYTES * c + PAGE_BYTES * page + byte


MIRROR: Tuple[int, ...] = tuple(mirror(c) for c in range(NUM_CLASSES))
NEIGHBOURS: Tuple[Tuple[int, ...], ...] = tuple(neighbours(c) for c in range(NUM_CLASSES))
DEGREE: Tuple[int, ...] = tuple(len(n) for n in NEIGHBOURS)
# 96 rows of 6 entries, padded with 0: NbrGet's result for every (class, K < 6).
NEIGHBOUR_TABLE: Tuple[Tuple[int, ...], ...] = tuple(
    n + (0,) * (MAX_DEGREE - len(n)) for n in NEIGHBOURS)
# Unity: d45 = 0 and e1 = e2 = e3 = e6 = 0 (e7 free) -> classes {1, 4}.
UNITY_CLASSES: FrozenSet[int] = frozenset(
    c for c in range(NUM_CLASSES) if label(c)[:5] == (0, 0, 0, 0, 0))
IS_UNITY: Tuple[bool, ...] = tuple(c in UNITY_CLASSES for c in range(NUM_CLASSES))


def neighbour(c: int, k: int) -> int:
    """NbrGet: the k-th neighbour of c in ascending order, or 0 if k >= degree(c)."""
    n = NEIGHBOURS[c]
    return n[k] if 0 <= k < len(n) else 0


def _self_check() -> None:
    """Compare with rows of the table in ISA.md §10 (c: mirror, neighbours)."""
    rows = {0: (3, (1, 6, 12, 24, 48)), 1: (4, (0, 2, 7, 13, 25, 49)),
            10: (7, (4, 9, 11, 22, 34, 58)), 47: (44, (23, 35, 41, 46, 95)),
            58: (55, (10, 52, 57, 59, 70, 82)), 95: (92, (47, 71, 83, 89, 94))}
    for c, (m, nbrs) in rows.items():
        if MIRROR[c] != m or NEIGHBOURS[c] != nbrs:
            raise RuntimeError(f"Atlas tables disagree with ISA.md §10 at class {c}")
    if UNITY_CLASSES != {1, 4} or sum(DEGREE) != 2 * 256 or DEGREE.count(6) != 32:
        raise RuntimeError("Atlas tables disagree with ISA.md §10")


_self_check()
