"""Type stub of the compiled VM module (hologram/_core.pyx)."""

from typing import Dict, List, Optional, Tuple

import numpy as np

OPCODES: Dict[str, int]
LAYOUT: Dict[str, int]
FAULT_CODES: Dict[str, int]

def openmp_enabled() -> bool: ...
def max_threads() -> int: ...

class PoolTable:
    def __init__(self, boundary: np.ndarray) -> None: ...  # uint8[::1], pool 0
    def alloc(self, size: int) -> int: ...
    def free(self, pid: int) -> bool: ...
    def release_deferred(self) -> None: ...
    def view(self, pid: int) -> Optional[np.ndarray]: ...
    def __len__(self) -> int: ...

def run(
    code: np.ndarray,         # const int64_t[:, ::1]  (n, NCOL)
    checks: np.ndarray,       # const int32_t[:, ::1]  (k, 4)
    nslots: int,
    grid: Tuple[int, int, int],
    block: Tuple[int, int, int],
    shared_size: int,
    max_steps: Optional[int],
    buf_handle: np.ndarray,   # const uint64_t[::1], sorted
    buf_arrays: List[np.ndarray],  # uint8[::1] each
    boundary: np.ndarray,     # uint8[::1]
    pools: PoolTable,
    init_slot: np.ndarray,    # const int64_t[::1]
    init_tag: np.ndarray,     # const uint8_t[::1]
    init_val: np.ndarray,     # const uint64_t[::1]
    sreg_slot: np.ndarray,    # const int64_t[::1] (4,)
    mirror: np.ndarray,       # const uint8_t[::1] (96,)
    degree: np.ndarray,       # const uint8_t[::1] (96,)
    nbrs: np.ndarray,         # const uint8_t[::1] (576,)
    uses_calls: bool,
    num_threads: int,
    resonance: np.ndarray,    # double[::1] (96,), accumulated into
) -> Optional[Tuple[int, int, int, int, int, int, int, int]]: ...
