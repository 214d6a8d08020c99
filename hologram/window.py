"""Buffer windows: an array bound as a byte range of a larger, virtual buffer.

``params={"r1": hg.BufferWindow(chunk, base=4096, size=65536)}`` binds ``chunk``'s bytes as
bytes ``[4096, 4096 + chunk.nbytes)`` of a 65,536-byte buffer that exists nowhere as a whole:
the kernel addresses it with the offsets it would use on the whole buffer, and an access
outside the window faults with :class:`~hologram.OutOfBounds` whose message names the window
(its ``window`` attribute says where). Together with a launch's ``block_range`` this runs one
piece of a large launch on one piece of its data (``hologram.dask`` does that per chunk).
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional

__all__ = ["BufferWindow", "WindowInfo", "WindowFault", "window_message"]


class BufferWindow:
    """``data`` (an array or bytes-like object, bound like any buffer parameter) as the bytes
    ``[base, base + len(data bytes))`` of a virtual buffer of ``size`` bytes (default: the
    window's end). ``base`` and ``size`` are byte counts; ``size`` may not end before the
    window."""

    __slots__ = ("data", "base", "size")

    def __init__(self, data: Any, base: int, size: Optional[int] = None):
        self.data = data
        self.base = _offset(base, "base")
        self.size = None if size is None else _offset(size, "size")

    def __repr__(self) -> str:
        return (f"BufferWindow(<{type(self.data).__name__}>, base={self.base}, "
                f"size={self.size})")


def _offset(v: Any, name: str) -> int:
    if isinstance(v, bool) or not hasattr(v, "__index__") or not 0 <= v.__index__() < 2**64:
        raise ValueError(f"BufferWindow: {name} must be an int in [0, 2^64), got {v!r}")
    return int(v.__index__())


class WindowInfo(NamedTuple):
    """A window bound to a launch: register, base, bytes bound and the virtual buffer's size."""
    reg: int
    base: int
    nbytes: int
    size: int

    @property
    def end(self) -> int:
        return self.base + self.nbytes


class WindowFault(NamedTuple):
    """What :attr:`OutOfBounds.window` holds for an access to a window: the register the window
    was bound from, the window ``[base, end)``, the virtual buffer's ``size`` and the faulting
    access (``offset``, ``nbytes``). ``inside`` is True when the access lies inside the
    virtual buffer (only the window is missing: the data is elsewhere)."""
    reg: int
    base: int
    end: int
    size: int
    offset: int
    nbytes: int

    @property
    def inside(self) -> bool:
        return self.offset + self.nbytes <= self.size


def window_message(handle: int, info: WindowInfo, offset: int, nbytes: int) -> str:
    """The OutOfBounds message of an access to a window."""
    where = (f"outside the window [{info.base}, {info.end}) bound from r{info.reg}"
             if offset + nbytes <= info.size else
             f"beyond the end of the {info.size}-byte buffer whose window [{info.base}, "
             f"{info.end}) r{info.reg} holds")
    shown = f"{offset} ({offset - (1 << 64)})" if offset >= 1 << 63 else str(offset)
    return f"out of bounds: {nbytes} bytes at offset {shown} of buffer {handle}: {where}"
