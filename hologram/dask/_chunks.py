"""Chunked computations with faults as data (shared by the op twins and the chunked launch).

Dask raises the error of whichever task fails first, which depends on timing. hologram
promises the fault of the lowest global lane instead, so a task that may fault returns its
fault as data next to its result (:class:`Part`); one small *check* task gathers the faults of
all tasks and raises the lowest (:func:`check_faults`), and every result block depends on it.
Only the fault records travel to the check task; results stay where they were computed.
"""

from __future__ import annotations

from typing import Any, Callable, List, Optional, Sequence, Tuple

import numpy as np

__all__ = ["Part", "fault_of", "check_faults", "value_of", "assemble", "block_starts"]


class Part:
    """A task's outcome: its result, or the fault it met as (sort key, exception)."""
    __slots__ = ("value", "fault")

    def __init__(self, value: Any, fault: Optional[Tuple[Any, BaseException]] = None):
        self.value = value
        self.fault = fault

    def __reduce__(self) -> Tuple[Any, ...]:
        return (Part, (self.value, self.fault))


def fault_of(part: Part) -> Optional[Tuple[Any, BaseException]]:
    """The fault record of a task (small: what the check task receives)."""
    return part.fault


def check_faults(*faults: Optional[Tuple[Any, BaseException]]) -> bool:
    """Raise the fault with the lowest sort key (e.g. global lane) over all tasks, if any."""
    found = [f for f in faults if f is not None]
    if found:
        raise min(found, key=lambda f: f[0])[1]
    return True


def value_of(part: Part, checked: bool, key: Any = None) -> Any:
    """A task's result (``key``: one item of a dict result) once the check passed."""
    return part.value if key is None else part.value[key]


def block_starts(chunks: Sequence[Sequence[int]]) -> List[List[int]]:
    """Per dimension, the start index of each chunk."""
    return [list(np.cumsum((0,) + tuple(c))[:-1]) for c in chunks]


def assemble(make_block: Callable[[Tuple[int, ...], Tuple[int, ...]], Any],
             chunks: Sequence[Sequence[int]]) -> Any:
    """A dask array from per-block dask arrays: ``make_block(index, shape)`` for every block
    of a chunk structure."""
    import dask.array as da
    numblocks = tuple(len(c) for c in chunks)
    blocks = np.empty(numblocks, object)
    for idx in np.ndindex(*numblocks):
        blocks[idx] = make_block(idx, tuple(chunks[d][i] for d, i in enumerate(idx)))
    if not numblocks:
        return blocks[()]
    return da.block(blocks.tolist())
