"""The exception hierarchy of ISA.md §7.5."""

from __future__ import annotations

from typing import Optional, Tuple

__all__ = [
    "HologramError", "ProgramError", "AssemblyError", "LaunchConfigError", "ExecutionError",
    "OutOfBounds", "SharedOutOfBounds", "InvalidHandle", "Misaligned", "TypeMismatch",
    "UninitializedRegister", "UninitializedPredicate", "DivisionByZero", "CallStackOverflow",
    "CallStackUnderflow", "BarrierDivergence", "WarpDivergence", "InvalidCoordinate",
    "AllocationFailed", "StepLimitExceeded", "Interrupted", "Timeout", "BackendBusy",
    "AssemblyWarning", "NotCompilable",
]


class HologramError(Exception):
    """Root of every error hologram raises."""


class ProgramError(HologramError):
    """An invalid program (ISA.md §7.4).

    ``index`` is the offending instruction's index (None for label or directive errors) and
    ``instruction`` its text. A static type error (ISA 1.1 §12.6) names the register or
    predicate in ``operand`` (``"r20"``) and the instruction field that reads it in ``field``;
    otherwise both are None.
    """

    def __init__(self, message: str, index: Optional[int] = None,
                 instruction: Optional[str] = None, operand: Optional[str] = None,
                 field: Optional[str] = None):
        self.message = message
        self.index = index
        self.instruction = instruction
        self.operand = operand
        self.field = field
        text = message
        if index is not None:
            text = f"instruction {index}" + (f" ({instruction})" if instruction else "") + f": {message}"
        super().__init__(text)


class AssemblyError(ProgramError):
    """Text that cannot be assembled; ``line`` and ``column`` are 1-based."""

    def __init__(self, message: str, line: int, column: int, source: str = ""):
        self.line = line
        self.column = column
        self.source = source
        ProgramError.__init__(self, message)
        self.args = (f"line {line}, column {column}: {message}" +
                     (f"\n    {source}\n    {' ' * (column - 1)}^" if source else ""),)


class AssemblyWarning(UserWarning):
    """Legal text that is probably a mistake (ISA 1.1 §12.7), e.g. ``mov_imm.f32 r5, 2``
    (the bit pattern 2, not 2.0). ``line`` and ``column`` are 1-based."""

    def __init__(self, message: str, line: int, column: int, source: str = ""):
        self.message = message
        self.line = line
        self.column = column
        self.source = source
        super().__init__(f"line {line}, column {column}: {message}")


class LaunchConfigError(HologramError, ValueError):
    """A bad launch configuration or parameter."""


class ExecutionError(HologramError):
    """A fault while running, or a failed host memory operation.

    Lane fields (``block_idx``, ``lane_idx``, ``global_lane_id``, ``pc``, ``instruction``) are
    None for host operations and interrupts.
    """

    def __init__(self, message: str, *, block_idx: Optional[Tuple[int, int, int]] = None,
                 lane_idx: Optional[Tuple[int, int, int]] = None,
                 global_lane_id: Optional[int] = None, pc: Optional[int] = None,
                 instruction: Optional[str] = None):
        self.message = message
        self.block_idx = block_idx
        self.lane_idx = lane_idx
        self.global_lane_id = global_lane_id
        self.pc = pc
        self.instruction = instruction
        text = message
        if global_lane_id is not None:
            text = (f"{message} (lane {global_lane_id}: block {block_idx}, lane {lane_idx}; "
                    f"pc {pc}: {instruction})")
        super().__init__(text)


class OutOfBounds(ExecutionError):
    """Global or pool access outside its buffer, negative offset, host copy out of range.

    ``window``: for an access to a buffer bound as a window (``hologram.BufferWindow``), a
    :class:`hologram.window.WindowFault` (register, window, virtual size, offset); else None.
    """
    window = None


class SharedOutOfBounds(OutOfBounds):
    """Shared-memory access outside [0, shared_memory)."""


class InvalidHandle(ExecutionError):
    """Unknown buffer handle or pool id."""


class Misaligned(ExecutionError):
    """Atomic access that is not naturally aligned."""


class TypeMismatch(ExecutionError):
    """Typed read of a register holding another type."""


class UninitializedRegister(ExecutionError):
    """Read of a never-written register."""


class UninitializedPredicate(ExecutionError):
    """Read of a never-written predicate."""


class DivisionByZero(ExecutionError):
    """Integer DIV or REM by zero."""


class CallStackOverflow(ExecutionError):
    """CALL with 256 return addresses already on the lane's stack."""


class CallStackUnderflow(ExecutionError):
    """RET with an empty call stack."""


class BarrierDivergence(ExecutionError):
    """Lanes of one block waiting at barriers with different ids."""


class WarpDivergence(ExecutionError):
    """Lanes of one warp waiting at different warp collectives, or at a collective while
    others of the warp wait at a barrier (ISA 1.1 §12.4)."""


class InvalidCoordinate(ExecutionError):
    """Atlas class >= 96 or page >= 48."""


class AllocationFailed(ExecutionError, MemoryError):
    """PoolAlloc (or a host allocation) could not allocate."""


class StepLimitExceeded(ExecutionError):
    """A lane would execute more than ``max_steps`` instructions."""


class Interrupted(ExecutionError, KeyboardInterrupt):
    """A launch aborted by Ctrl-C (SIGINT)."""


class Timeout(ExecutionError, TimeoutError):
    """A launch stopped because its ``timeout=`` (seconds) ran out; lane fields are None."""


class NotCompilable(HologramError):
    """The native tier cannot compile this launch (``engine="jit"``); the message names the
    instruction or the reason. The interpreter (``engine="vm"``) runs it."""


class BackendBusy(HologramError, RuntimeError):
    """A backend operation that cannot run while this thread's launch on the same backend is
    still running (e.g. a launch from a signal handler that interrupted a launch)."""
