# cython: language_level=3
"""The hologram VM: runs lowered Atlas ISA programs over blocks of lanes.

Execution model (see hologram/vm.py for the lowering that feeds it):

* A launch is split into blocks. OpenMP threads claim chunks of consecutive blocks from an
  atomic counter; each thread owns the blocks it claimed and writes only their state, so the
  memory path takes no lock (plain accesses are direct loads/stores, atomics are CAS loops).
* Inside a block, lanes run SIMT-style: the lanes that share the lowest pc form a *group* and
  one instruction is executed for the whole group (structure-of-arrays registers), until the
  group diverges (a branch splits it), reaches the pc of other waiting lanes (they merge),
  waits at a barrier or ends.
* Register reads are type-checked by a per-instruction list of checks computed at lowering
  (first failed read faults, in field order); then the instruction's operation runs with no
  further tag tests. Faults end only the faulting lane; each thread remembers its lowest
  faulting global lane and the launch reports the lowest of all.
* Nothing in the loop touches Python objects; only the master thread takes the GIL, every
  ~50 ms, to let Ctrl-C through (PyErr_CheckSignals), and it keeps polling after its own
  blocks are done until the other threads finish.
"""

from libc.stdint cimport int8_t, int16_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcpy, memset
from libc.stdlib cimport calloc, free, malloc
from libc.math cimport (expf, exp, logf, log, log2f, log2, log10f, log10, sqrtf, sqrt, sinf,
                        sin, cosf, cos, tanf, tan, tanhf, tanh, powf, pow, fmaf, fma, trunc,
                        isnan, signbit)
from cython.parallel cimport parallel, threadid

import numpy as np

from ._openmp cimport HOLOGRAM_HAVE_OPENMP, omp_get_max_threads, omp_get_num_threads

cdef extern from "_vmhelpers.h" nogil:
    float hg_f32(uint64_t b)
    uint64_t hg_f32_bits(float f)
    double hg_f64(uint64_t b)
    uint64_t hg_f64_bits(double d)
    uint32_t hg_round_f16(uint32_t x)
    uint32_t hg_round_bf16(uint32_t x)
    uint32_t hg_widen_f16(uint32_t h)
    uint32_t hg_cas32(void* p, uint32_t expected, uint32_t desired)
    uint64_t hg_cas64(void* p, uint64_t expected, uint64_t desired)
    uint32_t hg_load32(void* p)
    uint64_t hg_load64(void* p)
    int64_t hg_atomic_min_i64(int64_t* p, int64_t v)
    int hg_atomic_load_int(int* p)
    void hg_atomic_store_int(int* p, int v)
    int64_t hg_fetch_add_i64(int64_t* p, int64_t v)
    int hg_fetch_add_int(int* p, int v)
    int64_t hg_atomic_load_i64(int64_t* p)
    uint32_t hg_xadd32(void* p, uint32_t v)
    uint64_t hg_xadd64(void* p, uint64_t v)
    uint32_t hg_xchg32(void* p, uint32_t v)
    uint64_t hg_xchg64(void* p, uint64_t v)
    void hg_spin_pause()
    double hg_now()
    void hg_sleep_us(int us)

cdef extern from "Python.h":
    int PyErr_CheckSignals()
    void PyErr_Clear()

from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_C_CONTIGUOUS

# ---------------------------------------------------------------------------------------------
# Constants shared with hologram/vm.py (exported below as OPCODES / LAYOUT / FAULT_CODES)

cdef enum:
    NCOL = 19
    C_OP = 0        # opcode
    C_TY = 1        # type (CVT: source type)
    C_TY2 = 2       # CVT destination type, SETcc condition, atomic op, MOV_SREG register
    C_DST = 3       # destination slot or predicate
    C_A = 4         # first source slot / predicate
    C_B = 5
    C_C = 6
    C_IMM = 7       # immediate: value, jump target, count, id, size, ...
    C_AMODE = 8     # address mode (AM_*)
    C_AX = 9        # address: handle immediate or handle slot
    C_AY = 10       # address: offset immediate or offset slot
    C_CHK0 = 11     # first entry in the checks table
    C_CHKN = 12     # number of checks
    C_SH = 13       # 64 - bits of the type (integer canonical form)
    C_SH2 = 14      # same for CVT's destination type
    C_PRED = 15     # BRA: predicate index or -1
    C_WREG = 16     # the register slot the instruction writes, or -1
    C_RD0 = 17      # first entry (kind 2) in the checks table of the register rows it reads
    C_RDN = 18      # number of those entries

cdef enum:
    AM_NONE = 0
    AM_IMM = 1      # handle and offset immediates (BufferOffset, Φ)
    AM_REG_IMM = 2  # handle register + i32 immediate offset (RegisterIndirect)
    AM_REG_REG = 3  # handle register + offset register (RegisterIndirectComputed)

cdef enum Op:
    OP_LDG, OP_STG, OP_LDS, OP_STS, OP_MOV, OP_MOV_IMM, OP_MOV_SREG, OP_CVT,
    OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_REM, OP_MAD, OP_FMA, OP_MIN, OP_MAX, OP_ABS, OP_NEG,
    OP_AND, OP_OR, OP_XOR, OP_NOT, OP_SHL, OP_SHR, OP_SETCC, OP_SEL,
    OP_BRA, OP_CALL, OP_RET, OP_LOOP, OP_EXIT, OP_BARSYNC, OP_MEMFENCE,
    OP_REDUCE_ADD, OP_REDUCE_MIN, OP_REDUCE_MAX, OP_REDUCE_MUL,
    OP_EXP, OP_LOG, OP_LOG2, OP_LOG10, OP_SQRT, OP_RSQRT, OP_SIN, OP_COS, OP_TAN, OP_TANH,
    OP_SIGMOID, OP_POW,
    OP_ATOM, OP_ATOM_CAS, OP_ATOMS, OP_ATOMS_CAS,
    OP_POOL_ALLOC, OP_POOL_FREE, OP_POOL_LOAD, OP_POOL_STORE,
    OP_CLS_GET, OP_MIRROR, OP_UNITY_TEST, OP_NBR_COUNT, OP_NBR_GET, OP_RES_ACCUM,
    OP_PHASE_GET, OP_PHASE_ADV, OP_BOUND_MAP

cdef enum:
    T_I8, T_I16, T_I32, T_I64, T_U8, T_U16, T_U32, T_U64, T_F16, T_BF16, T_F32, T_F64

cdef enum:   # conditions
    CC_EQ, CC_NE, CC_LT, CC_LE, CC_GT, CC_GE, CC_LTU, CC_LEU, CC_GTU, CC_GEU

cdef enum:   # atomic ops
    AO_ADD, AO_MIN, AO_MAX, AO_EXCH, AO_AND, AO_OR, AO_XOR, AO_CAS

cdef enum:   # fault codes (hologram/faults.py)
    F_OK, F_UNINIT_REG, F_UNINIT_PRED, F_TYPE_MISMATCH, F_INVALID_HANDLE, F_OUT_OF_BOUNDS,
    F_SHARED_OOB, F_MISALIGNED, F_DIV_ZERO, F_CALL_OVERFLOW, F_CALL_UNDERFLOW,
    F_BARRIER_DIVERGENCE, F_INVALID_COORDINATE, F_ALLOC_FAILED, F_STEP_LIMIT, F_INTERRUPTED,
    F_TIMEOUT, F_WARP_DIVERGENCE

cdef enum:   # lane states
    RUNNING = 0
    WAITING = 1
    DONE = 2

cdef enum:
    CALL_DEPTH = 256
    PHASE_MOD = 768
    CLASS_BYTES = 12288
    BOUNDARY_BYTES = 1179648
    POLL_LANE_STEPS = 1 << 16     # lane-instructions between two looks at the abort flag
    MIN_LANES_PER_THREAD = 4096   # smaller launches run on fewer threads
    LOOKUP_CACHE = 4              # entries of a thread's buffer-lookup cache (a power of 2)

cdef uint64_t CLASS_HANDLE_BASE = 0xFFFFFFFFFFFFFFA0ULL   # 2^64 - 96
cdef double SIGNAL_INTERVAL = 0.02                         # seconds between Ctrl-C checks

OPCODES = {
    "LDG": OP_LDG, "STG": OP_STG, "LDS": OP_LDS, "STS": OP_STS, "MOV": OP_MOV,
    "MOV_IMM": OP_MOV_IMM, "MOV_SREG": OP_MOV_SREG, "CVT": OP_CVT, "ADD": OP_ADD,
    "SUB": OP_SUB, "MUL": OP_MUL, "DIV": OP_DIV, "REM": OP_REM, "MAD": OP_MAD, "FMA": OP_FMA,
    "MIN": OP_MIN, "MAX": OP_MAX, "ABS": OP_ABS, "NEG": OP_NEG, "AND": OP_AND, "OR": OP_OR,
    "XOR": OP_XOR, "NOT": OP_NOT, "SHL": OP_SHL, "SHR": OP_SHR, "SETcc": OP_SETCC,
    "SEL": OP_SEL, "BRA": OP_BRA, "CALL": OP_CALL, "RET": OP_RET, "LOOP": OP_LOOP,
    "EXIT": OP_EXIT, "BarSync": OP_BARSYNC, "MemFence": OP_MEMFENCE,
    "ReduceAdd": OP_REDUCE_ADD, "ReduceMin": OP_REDUCE_MIN, "ReduceMax": OP_REDUCE_MAX,
    "ReduceMul": OP_REDUCE_MUL, "EXP": OP_EXP, "LOG": OP_LOG, "LOG2": OP_LOG2,
    "LOG10": OP_LOG10, "SQRT": OP_SQRT, "RSQRT": OP_RSQRT, "SIN": OP_SIN, "COS": OP_COS,
    "TAN": OP_TAN, "TANH": OP_TANH, "SIGMOID": OP_SIGMOID, "POW": OP_POW, "ATOM": OP_ATOM,
    "ATOM_CAS": OP_ATOM_CAS, "ATOMS": OP_ATOMS, "ATOMS_CAS": OP_ATOMS_CAS,
    "PoolAlloc": OP_POOL_ALLOC, "PoolFree": OP_POOL_FREE, "PoolLoad": OP_POOL_LOAD,
    "PoolStore": OP_POOL_STORE, "ClsGet": OP_CLS_GET, "MIRROR": OP_MIRROR,
    "UnityTest": OP_UNITY_TEST, "NbrCount": OP_NBR_COUNT, "NbrGet": OP_NBR_GET,
    "ResAccum": OP_RES_ACCUM, "PhaseGet": OP_PHASE_GET, "PhaseAdv": OP_PHASE_ADV,
    "BoundMap": OP_BOUND_MAP,
}
LAYOUT = dict(NCOL=NCOL, C_OP=C_OP, C_TY=C_TY, C_TY2=C_TY2, C_DST=C_DST, C_A=C_A, C_B=C_B,
              C_C=C_C, C_IMM=C_IMM, C_AMODE=C_AMODE, C_AX=C_AX, C_AY=C_AY, C_CHK0=C_CHK0,
              C_CHKN=C_CHKN, C_SH=C_SH, C_SH2=C_SH2, C_PRED=C_PRED, C_WREG=C_WREG, C_RD0=C_RD0, C_RDN=C_RDN, AM_NONE=AM_NONE,
              AM_IMM=AM_IMM, AM_REG_IMM=AM_REG_IMM, AM_REG_REG=AM_REG_REG, AO_CAS=AO_CAS)
FAULT_CODES = dict(OK=F_OK, UNINIT_REG=F_UNINIT_REG, UNINIT_PRED=F_UNINIT_PRED,
                   TYPE_MISMATCH=F_TYPE_MISMATCH, INVALID_HANDLE=F_INVALID_HANDLE,
                   OUT_OF_BOUNDS=F_OUT_OF_BOUNDS, SHARED_OUT_OF_BOUNDS=F_SHARED_OOB,
                   MISALIGNED=F_MISALIGNED, DIV_ZERO=F_DIV_ZERO, CALL_OVERFLOW=F_CALL_OVERFLOW,
                   CALL_UNDERFLOW=F_CALL_UNDERFLOW, BARRIER_DIVERGENCE=F_BARRIER_DIVERGENCE,
                   INVALID_COORDINATE=F_INVALID_COORDINATE, ALLOC_FAILED=F_ALLOC_FAILED,
                   STEP_LIMIT=F_STEP_LIMIT, INTERRUPTED=F_INTERRUPTED, TIMEOUT=F_TIMEOUT,
                   WARP_DIVERGENCE=F_WARP_DIVERGENCE)


# Atlas tables (hologram/atlas.py is their source; vm.py installs them once at import).
cdef uint8_t ATLAS_MIRROR[96]
cdef uint8_t ATLAS_DEGREE[96]
cdef uint8_t ATLAS_NBRS[96 * 6]


def set_atlas_tables(mirror, degree, nbrs):
    """Install the mirror, degree and neighbour (96 x 6) tables used by the Atlas opcodes."""
    cdef int i
    for i in range(96):
        ATLAS_MIRROR[i] = mirror[i]
        ATLAS_DEGREE[i] = degree[i]
    for i in range(96 * 6):
        ATLAS_NBRS[i] = nbrs[i]


def openmp_enabled():
    """True if this module was compiled with OpenMP."""
    return bool(HOLOGRAM_HAVE_OPENMP)


def max_threads():
    """omp_get_max_threads(), read now (honours OMP_NUM_THREADS and threadpoolctl)."""
    return omp_get_max_threads()


# ---------------------------------------------------------------------------------------------
# Pools: a table that lanes of a running launch can grow and read without locks.
#
# Pool ids are dense (1, 2, 3 ...; 0 is the boundary pool), so an id indexes the table directly.
# Entries live in fixed-size chunks that never move: readers check `id < count` (acquire) and
# the entry's state. Allocation and free take a small spin lock (they are rare); memory of pools
# freed during a launch is released only after it (release_deferred), so racing readers are safe.

cdef enum:
    POOL_CHUNK_BITS = 10
    POOL_CHUNK = 1 << 10
    POOL_MAX_CHUNKS = 1 << 16
    POOL_LIVE = 1
    POOL_FREED = 2
    POOL_RELEASED = 3

cdef struct PoolEntry:
    uint8_t* ptr
    uint64_t size
    int state

cdef struct PoolsC:
    PoolEntry** chunks
    int64_t count            # ids < count are published
    int lock
    int64_t* pending         # freed ids whose memory is not yet released
    int64_t npending, cap_pending


cdef inline void pools_lock(PoolsC* p) noexcept nogil:
    while hg_cas32(&p.lock, 0, 1) != 0:
        hg_spin_pause()


cdef inline void pools_unlock(PoolsC* p) noexcept nogil:
    hg_atomic_store_int(&p.lock, 0)


cdef inline PoolEntry* pools_get(PoolsC* p, uint64_t pid) noexcept nogil:
    """The live entry of a pool id, or NULL."""
    if pid >= <uint64_t>hg_atomic_load_i64(&p.count):
        return NULL
    cdef PoolEntry* e = &p.chunks[pid >> POOL_CHUNK_BITS][pid & (POOL_CHUNK - 1)]
    if hg_atomic_load_int(&e.state) != POOL_LIVE:
        return NULL
    return e


cdef uint64_t pools_alloc(PoolsC* p, uint64_t size) noexcept nogil:
    """Allocate a zero-filled pool; its id, or 0 if memory or ids ran out."""
    cdef uint64_t pid
    cdef uint8_t* mem
    cdef PoolEntry* chunk
    if size > (<uint64_t>1 << 48):
        return 0
    mem = <uint8_t*>calloc(size if size else 1, 1)
    if mem == NULL:
        return 0
    pools_lock(p)
    pid = <uint64_t>p.count
    if (pid >> POOL_CHUNK_BITS) >= POOL_MAX_CHUNKS:
        pools_unlock(p)
        free(mem)
        return 0
    if p.chunks[pid >> POOL_CHUNK_BITS] == NULL:
        chunk = <PoolEntry*>calloc(POOL_CHUNK, sizeof(PoolEntry))
        if chunk == NULL:
            pools_unlock(p)
            free(mem)
            return 0
        p.chunks[pid >> POOL_CHUNK_BITS] = chunk
    cdef PoolEntry* e = &p.chunks[pid >> POOL_CHUNK_BITS][pid & (POOL_CHUNK - 1)]
    e.ptr = mem
    e.size = size
    hg_atomic_store_int(&e.state, POOL_LIVE)
    hg_fetch_add_i64(&p.count, 1)
    pools_unlock(p)
    return pid


cdef int pools_free(PoolsC* p, uint64_t pid) noexcept nogil:
    """Mark a pool freed (its memory is released later); 0 if it was not live or is pool 0."""
    cdef PoolEntry* e
    cdef int64_t* grown
    if pid == 0:
        return 0
    e = pools_get(p, pid)
    if e == NULL or hg_cas32(&e.state, POOL_LIVE, POOL_FREED) != POOL_LIVE:
        return 0
    pools_lock(p)
    if p.npending == p.cap_pending:
        grown = <int64_t*>malloc(sizeof(int64_t) * (p.cap_pending * 2 + 16))
        if grown != NULL:
            if p.pending != NULL:
                memcpy(grown, p.pending, sizeof(int64_t) * p.npending)
                free(p.pending)
            p.pending = grown
            p.cap_pending = p.cap_pending * 2 + 16
    if p.npending < p.cap_pending:   # else the memory stays allocated until the table dies
        p.pending[p.npending] = pid
        p.npending += 1
    pools_unlock(p)
    return 1


cdef class PoolTable:
    """The pools of one backend (ISA.md §4.4); pool 0 is the boundary pool array given."""
    cdef PoolsC p
    cdef object boundary

    def __cinit__(self, boundary):
        cdef uint8_t[::1] mv = boundary
        self.boundary = boundary
        self.p.chunks = <PoolEntry**>calloc(POOL_MAX_CHUNKS, sizeof(PoolEntry*))
        self.p.chunks[0] = <PoolEntry*>calloc(POOL_CHUNK, sizeof(PoolEntry))
        if self.p.chunks == NULL or self.p.chunks[0] == NULL:
            raise MemoryError("cannot allocate the pool table")
        self.p.chunks[0][0].ptr = &mv[0]
        self.p.chunks[0][0].size = mv.shape[0]
        self.p.chunks[0][0].state = POOL_LIVE
        self.p.count = 1

    def __dealloc__(self):
        cdef int64_t i, j
        if self.p.chunks == NULL:
            return
        for i in range(((self.p.count - 1) >> POOL_CHUNK_BITS) + 1):   # chunks in use
            if self.p.chunks[i] == NULL:
                continue
            for j in range(POOL_CHUNK):
                if (i or j) and self.p.chunks[i][j].state in (POOL_LIVE, POOL_FREED):
                    free(self.p.chunks[i][j].ptr)
            free(self.p.chunks[i])
        free(self.p.chunks)
        free(self.p.pending)

    def alloc(self, uint64_t size):
        """Allocate a zero-filled pool of ``size`` bytes; its id, or 0 on failure."""
        return pools_alloc(&self.p, size)

    def free(self, uint64_t pid):
        """Free a pool; False if the id is unknown, already freed or 0."""
        return bool(pools_free(&self.p, pid))

    def release_deferred(self):
        """Release the memory of freed pools (call only when no launch is running)."""
        cdef int64_t k, pid
        cdef PoolEntry* e
        for k in range(self.p.npending):
            pid = self.p.pending[k]
            e = &self.p.chunks[pid >> POOL_CHUNK_BITS][pid & (POOL_CHUNK - 1)]
            free(e.ptr)
            e.ptr = NULL
            e.state = POOL_RELEASED
        self.p.npending = 0

    def view(self, uint64_t pid):
        """A writable uint8 numpy view of a live pool, or None."""
        cdef PoolEntry* e = pools_get(&self.p, pid)
        if e == NULL:
            return None
        if pid == 0:
            return self.boundary
        if e.size == 0:
            return np.zeros(0, np.uint8)
        return np.asarray(<uint8_t[:e.size]>e.ptr)

    def __len__(self):
        """Number of ids handed out so far (including the boundary pool)."""
        return self.p.count


# ---------------------------------------------------------------------------------------------
# Launch state

# hot: begin — the VM proper: nothing from here to "hot: end" may touch Python objects
# (tests/test_build.py checks Cython's annotation), except the Ctrl-C check marked "gil".
cdef struct Ctx:
    const int64_t* code
    int64_t ncode
    const int32_t* checks        # rows of 4: kind (0 register, 1 predicate), slot/pred, type, reg
    int64_t nslots
    int64_t L                    # lanes per block
    int64_t Bx, By, Bz, gx, gy, gz
    int64_t nblocks
    int64_t shared_size
    int has_max_steps
    uint64_t max_steps
    int64_t nbufs                # sorted handle table
    const uint64_t* buf_handle
    uint8_t** buf_ptr
    const uint64_t* buf_size
    uint8_t* boundary
    PoolsC* pools
    int64_t ninit                # parameter registers
    const int64_t* init_slot
    const uint8_t* init_tag
    const uint64_t* init_val
    int64_t sreg_slot[4]         # slots of r252..r255, -1 if the program never names them
    int uses_calls
    int uses_phase
    int needs_tags               # some read is checked at run time (else tags are never read)
    int64_t npreds               # predicates the program names (p0 .. p[npreds-1])
    const uint8_t* init_once     # per slot: bit 0 initialised once per launch (not per block),
                                 # bit 1 holds a parameter
    int64_t chunk                # blocks claimed at a time
    int nthreads                 # threads asked for
    # Written by threads while others read the fields above: kept on cache lines of their own.
    char pad0[128]
    int abort                    # set to stop every thread (interrupt, timeout)
    int interrupted
    double deadline              # hg_now() after which the launch times out (0: none)
    int timed_out
    int64_t next_block           # next unclaimed block (atomic)
    int64_t min_fault_block      # lowest block known to hold a fault (atomic)
    int active                   # threads still working (atomic)
    char pad1[128]


cdef struct Worker:
    uint64_t* regs               # nslots x L (structure of arrays)
    uint8_t* tags                # nslots x L: 0 uninitialized, else type + 1
    uint8_t* preds               # 16 x L: 0 uninitialized, 1 false, 2 true
    int32_t* pc
    uint8_t* state
    int32_t* barid
    int32_t* cstack              # L x CALL_DEPTH (only if the program calls)
    int32_t* csp
    uint32_t* phase
    uint64_t* steps
    int32_t* group
    uint8_t* shared
    # Register shapes (per block): if shp_ok[s], row s holds shp_base[s] + shp_stride[s] * lane
    # (mod 2^64) for every lane of the block, e.g. addresses computed from the lane id. Memory
    # instructions use them to bounds-check a whole group at once and to copy contiguous rows.
    uint64_t* shp_base
    uint64_t* shp_stride
    uint8_t* shp_ok
    uint8_t* stale               # per slot: the row was not written (its shape tells the values)
    int any_stale
    double* res                  # 96 resonance sums of this thread
    uint64_t lk_handle[LOOKUP_CACHE]     # cached_lookup's entries (lk_base NULL: empty)
    uint8_t* lk_base[LOOKUP_CACHE]
    uint64_t lk_size[LOOKUP_CACHE]
    int64_t block, bx, by, bz, base_gid
    int dirty                    # a lane of the current group faulted
    int64_t fault_gid            # lowest faulting global lane seen by this thread (-1: none)
    int64_t fault_code, fault_pc
    int64_t fault_detail[5]
    int64_t budget
    int is_master
    double next_signal_check
    char pad[128]                # keeps this thread's hot fields off its neighbour's cache lines


cdef inline void fault(Worker* w, int lane, int64_t pc, int code, int64_t d0=0, int64_t d1=0,
                       int64_t d2=0, int64_t d3=0, int64_t d4=0) noexcept nogil:
    """End a lane with a fault, remembering it if it is the lowest global lane so far."""
    cdef int64_t gid = w.base_gid + lane
    w.state[lane] = DONE
    w.dirty = 1
    if w.fault_gid < 0 or gid < w.fault_gid:
        w.fault_gid = gid
        w.fault_code = code
        w.fault_pc = pc
        w.fault_detail[0] = d0
        w.fault_detail[1] = d1
        w.fault_detail[2] = d2
        w.fault_detail[3] = d3
        w.fault_detail[4] = d4


cdef inline int compact(Worker* w, int32_t* g, int n) noexcept nogil:
    """Drop the lanes of a group that faulted."""
    cdef int i, m = 0
    for i in range(n):
        if w.state[g[i]] == RUNNING:
            g[m] = g[i]
            m += 1
    w.dirty = 0
    return m


# ---------------------------------------------------------------------------------------------
# Value helpers: integers are kept sign- or zero-extended to 64 bits ("canonical"), floats as
# their bit patterns. f16/bf16 arithmetic goes through f32 (ISA.md §2).

cdef inline uint64_t canon(uint64_t v, int sh, bint sgn) noexcept nogil:
    if sgn:
        return <uint64_t>((<int64_t>(v << sh)) >> sh)
    return (v << sh) >> sh


cdef inline bint is_signed(int ty) noexcept nogil:
    return ty <= T_I64


cdef inline float ld_f(int ty, uint64_t b) noexcept nogil:
    if ty == T_F32:
        return hg_f32(b)
    if ty == T_F16:
        return hg_f32(hg_widen_f16(<uint32_t>b))
    return hg_f32(<uint32_t>(b << 16))


cdef inline uint64_t st_f(int ty, float f) noexcept nogil:
    if ty == T_F32:
        return hg_f32_bits(f)
    if ty == T_F16:
        return hg_round_f16(<uint32_t>hg_f32_bits(f))
    return hg_round_bf16(<uint32_t>hg_f32_bits(f))


ctypedef fused real:          # f32 and f64 share the float semantics below
    float
    double


cdef inline real fmin_isa(real a, real b) noexcept nogil:
    """MIN of ISA.md §5.2: one NaN -> the other operand; -0 < +0."""
    if isnan(a):
        return b
    if isnan(b):
        return a
    if a < b:
        return a
    if b < a:
        return b
    return a if signbit(a) else b


cdef inline real fmax_isa(real a, real b) noexcept nogil:
    if isnan(a):
        return b
    if isnan(b):
        return a
    if a > b:
        return a
    if b > a:
        return b
    return b if signbit(a) else a


cdef inline int type_bits(int ty) noexcept nogil:
    if ty == T_I8 or ty == T_U8:
        return 8
    if ty == T_I16 or ty == T_U16 or ty == T_F16 or ty == T_BF16:
        return 16
    if ty == T_I32 or ty == T_U32 or ty == T_F32:
        return 32
    return 64


cdef inline uint64_t int_binop(int op, uint64_t x, uint64_t y, int ty, int sh) noexcept nogil:
    """ADD ... SHR on canonical integers (DIV/REM zero checks are done by the caller)."""
    cdef bint sgn = ty <= T_I64
    cdef int64_t sx = <int64_t>x, sy = <int64_t>y
    cdef uint64_t r
    if op == OP_ADD:
        r = x + y
    elif op == OP_SUB:
        r = x - y
    elif op == OP_MUL:
        r = x * y
    elif op == OP_DIV:
        if sgn:
            r = (0 - x) if sy == -1 else <uint64_t>(sx / sy)
        else:
            r = x / y
    elif op == OP_REM:
        if sgn:
            r = 0 if sy == -1 else <uint64_t>(sx % sy)
        else:
            r = x % y
    elif op == OP_MIN:
        if sgn:
            r = x if sx < sy else y
        else:
            r = x if x < y else y
    elif op == OP_MAX:
        if sgn:
            r = x if sx > sy else y
        else:
            r = x if x > y else y
    elif op == OP_AND:
        r = x & y
    elif op == OP_OR:
        r = x | y
    elif op == OP_XOR:
        r = x ^ y
    elif op == OP_SHL:
        r = x << (y & <uint64_t>(63 - sh))
    else:  # OP_SHR
        if sgn:
            r = <uint64_t>(sx >> (y & <uint64_t>(63 - sh)))
        else:
            r = x >> (y & <uint64_t>(63 - sh))
    return canon(r, sh, sgn)


cdef inline real real_binop(int op, real a, real b) noexcept nogil:
    """ADD SUB MUL DIV MIN MAX POW in f32 or f64 (one rounding in the type)."""
    if op == OP_ADD:
        return a + b
    if op == OP_SUB:
        return a - b
    if op == OP_MUL:
        return a * b
    if op == OP_DIV:
        return a / b
    if op == OP_MIN:
        return fmin_isa(a, b)
    if op == OP_MAX:
        return fmax_isa(a, b)
    if b == 0.0 or a == 1.0:    # §5.6: pow(x, ±0) = pow(1, y) = 1 even for (signaling) NaNs,
        return 1.0              # for which the C library returns NaN
    if real is float:
        return powf(a, b)
    else:
        return pow(a, b)


cdef inline uint64_t fold(int op, int ty, uint64_t acc, uint64_t x, int sh) noexcept nogil:
    """One step of ADD/MIN/MAX/MUL in type ty (used by reductions and float atomics)."""
    if ty <= T_U64:
        return int_binop(op, acc, x, ty, sh)
    if ty == T_F64:
        return hg_f64_bits(real_binop(op, hg_f64(acc), hg_f64(x)))
    return st_f(ty, real_binop(op, ld_f(ty, acc), ld_f(ty, x)))


cdef inline float f_unary(int op, float x) noexcept nogil:
    if op == OP_EXP:
        return expf(x)
    if op == OP_LOG:
        return logf(x)
    if op == OP_LOG2:
        return log2f(x)
    if op == OP_LOG10:
        return log10f(x)
    if op == OP_SQRT:
        return sqrtf(x)
    if op == OP_RSQRT:
        return 1.0 / sqrtf(x)
    if op == OP_SIN:
        return sinf(x)
    if op == OP_COS:
        return cosf(x)
    if op == OP_TAN:
        return tanf(x)
    if op == OP_TANH:
        return tanhf(x)
    cdef float t = expf(-x)   # SIGMOID, every step rounded to f32
    cdef float u = 1.0 + t
    return <float>1.0 / u


cdef inline double d_unary(int op, double x) noexcept nogil:
    if op == OP_EXP:
        return exp(x)
    if op == OP_LOG:
        return log(x)
    if op == OP_LOG2:
        return log2(x)
    if op == OP_LOG10:
        return log10(x)
    if op == OP_SQRT:
        return sqrt(x)
    if op == OP_RSQRT:
        return 1.0 / sqrt(x)
    if op == OP_SIN:
        return sin(x)
    if op == OP_COS:
        return cos(x)
    if op == OP_TAN:
        return tan(x)
    if op == OP_TANH:
        return tanh(x)
    return 1.0 / (1.0 + exp(-x))


cdef inline uint64_t float_to_int(double t, int ty) noexcept nogil:
    """Truncate toward zero and saturate (NaN -> 0), ISA.md §5.5."""
    cdef int bits = type_bits(ty)
    cdef double lim
    if isnan(t):
        return 0
    t = trunc(t)
    if ty <= T_I64:
        lim = 2.0 ** (bits - 1)
        if t >= lim:
            return canon((<uint64_t>1 << (bits - 1)) - 1, 64 - bits, 1)
        if t < -lim:
            return canon(<uint64_t>1 << (bits - 1), 64 - bits, 1)
        return <uint64_t>(<int64_t>t)
    lim = 2.0 ** bits
    if t >= lim:
        return (<uint64_t>0xFFFFFFFFFFFFFFFF) >> (64 - bits)
    if t <= 0.0:
        return 0
    return <uint64_t>t


cdef inline uint64_t convert(uint64_t x, int st, int dt, int dsh) noexcept nogil:
    """CVT from type st to dt of a canonical value / bit pattern (all 144 pairs)."""
    cdef float f
    cdef double d
    if st == dt:
        return x
    if st <= T_U64:
        if dt <= T_U64:
            return canon(x, dsh, dt <= T_I64)
        if dt == T_F64:
            return hg_f64_bits(<double>(<int64_t>x)) if st <= T_I64 else hg_f64_bits(<double>x)
        f = <float>(<int64_t>x) if st <= T_I64 else <float>x
        return st_f(dt, f)
    # float source: widen to double (exact)
    d = hg_f64(x) if st == T_F64 else <double>ld_f(st, x)
    if dt <= T_U64:
        return float_to_int(d, dt)
    if dt == T_F64:
        return hg_f64_bits(d)
    return st_f(dt, <float>d)      # f64 -> f32 RNE first, then to f16/bf16


# ---------------------------------------------------------------------------------------------
# Memory access

cdef inline uint8_t* lookup(Ctx* c, uint64_t h, uint64_t* size) noexcept nogil:
    """First byte and size of buffer h (handle 0, class windows, the sorted handle table), or
    NULL if the handle is unknown."""
    cdef int64_t lo, hi, mid
    if h == 0:
        size[0] = BOUNDARY_BYTES
        return c.boundary
    if h >= CLASS_HANDLE_BASE:
        size[0] = CLASS_BYTES
        return c.boundary + (h - CLASS_HANDLE_BASE) * CLASS_BYTES
    lo = 0
    hi = c.nbufs - 1
    while lo <= hi:
        mid = (lo + hi) >> 1
        if c.buf_handle[mid] == h:
            size[0] = c.buf_size[mid]
            return c.buf_ptr[mid] if c.buf_ptr[mid] != NULL else c.boundary   # empty buffer
        if c.buf_handle[mid] < h:
            lo = mid + 1
        else:
            hi = mid - 1
    return NULL


cdef inline uint8_t* cached_lookup(Ctx* c, Worker* w, uint64_t h, uint64_t* size) noexcept nogil:
    """lookup() through a small per-thread cache (the handle table is fixed during a launch):
    a loop touching a few buffers skips the binary search."""
    cdef int k = <int>((h ^ (h >> 7)) & (LOOKUP_CACHE - 1))
    cdef uint8_t* base
    if w.lk_base[k] != NULL and w.lk_handle[k] == h:
        size[0] = w.lk_size[k]
        return w.lk_base[k]
    base = lookup(c, h, size)
    if base != NULL:
        w.lk_handle[k] = h
        w.lk_base[k] = base
        w.lk_size[k] = size[0]
    return base


cdef inline uint8_t* global_ptr(Ctx* c, Worker* w, int lane, int64_t pc, uint64_t h,
                                uint64_t off, int n, bint atomic) noexcept nogil:
    """Address of an n-byte global access, or NULL after faulting the lane (ISA.md §4.7)."""
    cdef uint64_t size
    cdef uint8_t* base = cached_lookup(c, w, h, &size)
    if base == NULL:
        fault(w, lane, pc, F_INVALID_HANDLE, <int64_t>h, 0)
        return NULL
    if off > size or <uint64_t>n > size - off:
        fault(w, lane, pc, F_OUT_OF_BOUNDS, <int64_t>h, <int64_t>off, n, <int64_t>size, 0)
        return NULL
    if atomic and off % <uint64_t>n:
        fault(w, lane, pc, F_MISALIGNED, <int64_t>h, <int64_t>off, n)
        return NULL
    return base + off


cdef inline uint8_t* shared_ptr(Ctx* c, Worker* w, int lane, int64_t pc, uint64_t off, int n,
                                bint atomic) noexcept nogil:
    cdef uint64_t size = <uint64_t>c.shared_size
    if off > size or <uint64_t>n > size - off:
        fault(w, lane, pc, F_SHARED_OOB, <int64_t>off, n, <int64_t>size)
        return NULL
    if atomic and off % <uint64_t>n:
        fault(w, lane, pc, F_MISALIGNED, -1, <int64_t>off, n)
        return NULL
    return w.shared + off


cdef inline void lane_address(Ctx* c, Worker* w, const int64_t* ins, int lane, uint64_t* h,
                              uint64_t* off, bint shared) noexcept nogil:
    cdef int64_t mode = ins[C_AMODE]
    cdef int64_t L = c.L
    if mode == AM_IMM:
        h[0] = <uint64_t>ins[C_AX]
        off[0] = <uint64_t>ins[C_AY]
    elif mode == AM_REG_IMM:
        h[0] = w.regs[ins[C_AX] * L + lane]
        off[0] = <uint64_t>ins[C_AY]         # a negative i32 wraps to a huge (out of bounds) offset
        if shared:                           # ISA 1.1 §12.2.3: shared [rB ± D] is rB ± D
            off[0] += h[0]
    else:
        h[0] = w.regs[ins[C_AX] * L + lane]
        off[0] = w.regs[ins[C_AY] * L + lane]


cdef inline uint64_t load_value(const uint8_t* p, int n, int ty) noexcept nogil:
    """Read n bytes (little-endian host) as register content: signed types sign-extended."""
    cdef uint8_t b1
    cdef uint16_t b2
    cdef uint32_t b4
    cdef uint64_t v
    if n == 4:
        memcpy(&b4, p, 4)
        return <uint64_t><int64_t><int32_t>b4 if ty == T_I32 else b4
    if n == 8:
        memcpy(&v, p, 8)
        return v
    if n == 2:
        memcpy(&b2, p, 2)
        return <uint64_t><int64_t><int16_t>b2 if ty == T_I16 else b2
    b1 = p[0]
    return <uint64_t><int64_t><int8_t>b1 if ty == T_I8 else b1


cdef inline void store_value(uint8_t* p, int n, uint64_t v) noexcept nogil:
    cdef uint32_t b4
    cdef uint16_t b2
    if n == 4:
        b4 = <uint32_t>v
        memcpy(p, &b4, 4)
    elif n == 8:
        memcpy(p, &v, 8)
    elif n == 2:
        b2 = <uint16_t>v
        memcpy(p, &b2, 2)
    else:
        p[0] = <uint8_t>v


cdef inline uint8_t* access(Ctx* c, Worker* w, const int64_t* ins, int lane, int64_t pc, int nb,
                            bint shared, uint64_t* last_h, uint8_t** last_base,
                            uint64_t* last_size) noexcept nogil:
    """Address of lane's n-byte access for LDG/STG/LDS/STS, or NULL after faulting it.

    Consecutive lanes usually use the same handle: the last one looked up is remembered."""
    cdef int64_t L = c.L, mode = ins[C_AMODE]
    cdef uint64_t h, off
    cdef uint8_t* p
    if mode == AM_REG_REG:
        h = w.regs[ins[C_AX] * L + lane]
        off = w.regs[ins[C_AY] * L + lane]
    elif mode == AM_REG_IMM:
        h = w.regs[ins[C_AX] * L + lane]
        off = <uint64_t>ins[C_AY]        # a negative i32 wraps to a huge (out of bounds) offset
    else:
        h = <uint64_t>ins[C_AX]
        off = <uint64_t>ins[C_AY]
    if shared:
        if mode == AM_REG_IMM:           # ISA 1.1 §12.2.3: shared [rB ± D] is rB ± D
            off += h
        return shared_ptr(c, w, lane, pc, off, nb, 0)
    if last_base[0] != NULL and h == last_h[0] and off <= last_size[0] and \
            <uint64_t>nb <= last_size[0] - off:
        return last_base[0] + off
    p = global_ptr(c, w, lane, pc, h, off, nb, 0)
    if p != NULL:
        last_h[0] = h
        last_base[0] = p - off
        last_size[0] = buffer_size(c, h)
    return p


cdef inline bint group_in_bounds(Ctx* c, Worker* w, const int64_t* ins, const int32_t* g, int n,
                                 int nb, uint8_t** base) noexcept nogil:
    """True if every lane of the group accesses the same known buffer in bounds; then *base
    is its first byte. One pass over the group replaces a lookup and a check per lane."""
    cdef int64_t L = c.L, mode = ins[C_AMODE]
    cdef uint64_t h, lo, hi, off, size
    cdef const uint64_t* hreg
    cdef const uint64_t* oreg
    cdef int i
    if mode == AM_IMM:
        h = <uint64_t>ins[C_AX]
        lo = hi = <uint64_t>ins[C_AY]
    else:
        hreg = w.regs + ins[C_AX] * L
        h = hreg[g[0]]
        for i in range(1, n):
            if hreg[g[i]] != h:
                return 0
        if mode == AM_REG_IMM:
            lo = hi = <uint64_t>ins[C_AY]
        else:
            oreg = w.regs + ins[C_AY] * L
            lo = hi = oreg[g[0]]
            for i in range(1, n):
                off = oreg[g[i]]
                lo = off if off < lo else lo
                hi = off if off > hi else hi
    base[0] = cached_lookup(c, w, h, &size)
    return base[0] != NULL and hi <= size and <uint64_t>nb <= size - hi


cdef inline void write_tags(uint8_t* dt, uint8_t tag, const int32_t* g, int n,
                            int first) noexcept nogil:
    """Tag the destination of a group (skipped when dt is NULL: no check reads tags)."""
    cdef int i
    if dt == NULL:
        return
    if first >= 0:
        memset(dt + first, tag, n)
    else:
        for i in range(n):
            dt[g[i]] = tag


cdef void memory_unchecked(Ctx* c, Worker* w, const int64_t* ins, const int32_t* g, int n,
                           int nb, uint8_t* base, int first) noexcept nogil:
    """LDG/STG for a group already known to be in bounds: plain loads and stores."""
    cdef int64_t L = c.L, mode = ins[C_AMODE]
    cdef uint64_t v
    cdef int op = <int>ins[C_OP], ty = <int>ins[C_TY], i, lane
    cdef uint64_t* rv = w.regs + (ins[C_DST] if op == OP_LDG else ins[C_A]) * L
    cdef const uint64_t* oreg = w.regs + ins[C_AY] * L
    cdef uint32_t b4
    if mode != AM_REG_REG:           # one address for the whole group
        if op == OP_LDG:
            v = load_value(base + <uint64_t>ins[C_AY], nb, ty)
            for i in range(n):
                rv[g[i]] = v
        else:                        # every lane stores in turn: the highest lane's value stays
            store_value(base + <uint64_t>ins[C_AY], nb, rv[g[n - 1]])
    elif op == OP_LDG:
        if nb == 4 and ty != T_I32 and first >= 0:
            for lane in range(first, first + n):
                memcpy(&b4, base + oreg[lane], 4)
                rv[lane] = b4
        elif nb == 4 and ty != T_I32:
            for i in range(n):
                lane = g[i]
                memcpy(&b4, base + oreg[lane], 4)
                rv[lane] = b4
        elif nb == 8:
            for i in range(n):
                lane = g[i]
                memcpy(&rv[lane], base + oreg[lane], 8)
        else:
            for i in range(n):
                lane = g[i]
                rv[lane] = load_value(base + oreg[lane], nb, ty)
    elif nb == 4 and first >= 0:
        for lane in range(first, first + n):
            b4 = <uint32_t>rv[lane]
            memcpy(base + oreg[lane], &b4, 4)
    elif nb == 4:
        for i in range(n):
            lane = g[i]
            b4 = <uint32_t>rv[lane]
            memcpy(base + oreg[lane], &b4, 4)
    elif nb == 8:
        for i in range(n):
            lane = g[i]
            memcpy(base + oreg[lane], &rv[lane], 8)
    else:
        for i in range(n):
            lane = g[i]
            store_value(base + oreg[lane], nb, rv[lane])
    if op == OP_LDG:
        write_tags(w.tags + ins[C_DST] * L if c.needs_tags else NULL, <uint8_t>(ty + 1), g, n, first)


cdef inline bint affine_access(Ctx* c, Worker* w, const int64_t* ins, const int32_t* g, int n,
                               int nb, uint8_t** first_p, int64_t* stride) noexcept nogil:
    """True if the group's global addresses are known from register shapes (one handle, an
    offset affine in the lane) and all in bounds: then lane g[i]'s access starts at
    *first_p + *stride * (g[i] - g[0]). O(1) instead of a pass over the group."""
    cdef int64_t hs = ins[C_AX], os, s, l0 = g[0]
    cdef uint64_t ob, lo, hi, span, size, first_off
    cdef uint8_t* base
    if not w.shp_ok[hs] or w.shp_stride[hs] != 0:
        return 0
    if ins[C_AMODE] == AM_REG_IMM:
        ob = <uint64_t>ins[C_AY]
        s = 0
    else:
        os = ins[C_AY]
        if not w.shp_ok[os]:
            return 0
        ob = w.shp_base[os]
        s = <int64_t>w.shp_stride[os]
    if s > (<int64_t>1 << 32) or s < -(<int64_t>1 << 32):
        return 0
    # The group's offsets run from first_off (lane g[0]) to the offset of lane g[n-1]: a
    # span of |s| * (g[n-1] - g[0]) < 2^63 bytes that must not wrap around 2^64.
    first_off = ob + <uint64_t>s * <uint64_t>l0
    span = <uint64_t>(s if s >= 0 else -s) * <uint64_t>(g[n - 1] - l0)
    if s >= 0:
        lo = first_off
        hi = first_off + span
        if hi < lo:
            return 0
    else:
        if first_off < span:
            return 0
        lo = first_off - span
        hi = first_off
    base = cached_lookup(c, w, w.shp_base[hs], &size)
    if base == NULL or hi > size or <uint64_t>nb > size - hi:
        return 0
    first_p[0] = base + first_off
    stride[0] = s
    return 1


cdef void memory_affine(Ctx* c, Worker* w, const int64_t* ins, const int32_t* g, int n, int nb,
                        uint8_t* p, int64_t s, int first) noexcept nogil:
    """LDG/STG at known in-bounds addresses p + s * (lane - g[0]). A contiguous group reading
    or writing consecutive aligned elements is a row copy the compiler vectorizes."""
    cdef int64_t L = c.L
    cdef int op = <int>ins[C_OP], ty = <int>ins[C_TY], i, lane, l0 = g[0]
    cdef uint64_t* rv = w.regs + (ins[C_DST] if op == OP_LDG else ins[C_A]) * L
    cdef bint dense = first >= 0 and s == nb and (<size_t>p) % <size_t>nb == 0
    if op == OP_LDG:
        if dense and nb == 4 and ty == T_I32:
            rv += first
            for i in range(n):
                rv[i] = <uint64_t><int64_t>(<const int32_t*>p)[i]
        elif dense and nb == 4:
            rv += first
            for i in range(n):
                rv[i] = (<const uint32_t*>p)[i]
        elif dense and nb == 8:
            memcpy(rv + first, p, 8 * n)
        else:
            for i in range(n):
                lane = g[i]
                rv[lane] = load_value(p + s * (lane - l0), nb, ty)
        write_tags(w.tags + ins[C_DST] * L if c.needs_tags else NULL, <uint8_t>(ty + 1), g, n, first)
    elif dense and nb == 4:
        rv += first
        for i in range(n):
            (<uint32_t*>p)[i] = <uint32_t>rv[i]
    elif dense and nb == 8:
        memcpy(p, rv + first, 8 * n)
    else:                   # lanes store in turn: where addresses coincide the highest lane wins
        for i in range(n):
            lane = g[i]
            store_value(p + s * (lane - l0), nb, rv[lane])


cdef void exec_memory(Ctx* c, Worker* w, const int64_t* ins, int32_t* g, int n,
                      int64_t pc) noexcept nogil:
    """LDG / STG / LDS / STS: one lane loop per access size so each compiles to plain moves."""
    cdef int op = <int>ins[C_OP], ty = <int>ins[C_TY], i, lane
    cdef int nb = type_bits(ty) >> 3
    cdef int64_t L = c.L
    cdef bint shared = op == OP_LDS or op == OP_STS
    cdef uint64_t last_h = 0, last_size = 0
    cdef uint8_t* last_base = NULL
    cdef uint8_t* p
    cdef uint32_t b4
    cdef uint64_t b8
    cdef uint8_t tag = <uint8_t>(ty + 1)
    cdef uint64_t* rv
    cdef uint8_t* tv = w.tags + ins[C_DST] * L
    cdef int64_t stride
    if not shared and ins[C_AMODE] != AM_IMM and affine_access(c, w, ins, g, n, nb, &last_base, &stride):
        if w.any_stale:           # the address rows are not needed, the value row is
            fresh_row(c, w, ins[C_DST] if op == OP_LDG else ins[C_A])
        memory_affine(c, w, ins, g, n, nb, last_base, stride,
                      g[0] if g[n - 1] - g[0] == n - 1 else -1)
        return
    if w.any_stale:
        fresh_rows(c, w, ins)
    if not shared and group_in_bounds(c, w, ins, g, n, nb, &last_base):
        memory_unchecked(c, w, ins, g, n, nb, last_base, g[0] if g[n - 1] - g[0] == n - 1 else -1)
        return
    last_base = NULL
    if op == OP_LDG or op == OP_LDS:
        rv = w.regs + ins[C_DST] * L
        if nb == 4 and ty != T_I32:
            for i in range(n):
                lane = g[i]
                p = access(c, w, ins, lane, pc, 4, shared, &last_h, &last_base, &last_size)
                if p != NULL:
                    memcpy(&b4, p, 4)
                    rv[lane] = b4
                    tv[lane] = tag
        elif nb == 8:
            for i in range(n):
                lane = g[i]
                p = access(c, w, ins, lane, pc, 8, shared, &last_h, &last_base, &last_size)
                if p != NULL:
                    memcpy(&b8, p, 8)
                    rv[lane] = b8
                    tv[lane] = tag
        else:
            for i in range(n):
                lane = g[i]
                p = access(c, w, ins, lane, pc, nb, shared, &last_h, &last_base, &last_size)
                if p != NULL:
                    rv[lane] = load_value(p, nb, ty)
                    tv[lane] = tag
    else:
        rv = w.regs + ins[C_A] * L
        if nb == 4:
            for i in range(n):
                lane = g[i]
                p = access(c, w, ins, lane, pc, 4, shared, &last_h, &last_base, &last_size)
                if p != NULL:
                    b4 = <uint32_t>rv[lane]
                    memcpy(p, &b4, 4)
        elif nb == 8:
            for i in range(n):
                lane = g[i]
                p = access(c, w, ins, lane, pc, 8, shared, &last_h, &last_base, &last_size)
                if p != NULL:
                    memcpy(p, &rv[lane], 8)
        else:
            for i in range(n):
                lane = g[i]
                p = access(c, w, ins, lane, pc, nb, shared, &last_h, &last_base, &last_size)
                if p != NULL:
                    store_value(p, nb, rv[lane])


cdef inline uint64_t buffer_size(Ctx* c, uint64_t h) noexcept nogil:
    """Size of a known handle (called after a successful global_ptr)."""
    cdef int64_t lo = 0, hi = c.nbufs - 1, mid
    if h == 0:
        return BOUNDARY_BYTES
    if h >= CLASS_HANDLE_BASE:
        return CLASS_BYTES
    while lo <= hi:
        mid = (lo + hi) >> 1
        if c.buf_handle[mid] == h:
            return c.buf_size[mid]
        if c.buf_handle[mid] < h:
            lo = mid + 1
        else:
            hi = mid - 1
    return 0


cdef inline uint64_t atomic_apply(int op, int ty, uint64_t old, uint64_t s, int sh) noexcept nogil:
    """New memory value of an atomic read-modify-write (ISA.md §5.8) on canonical values."""
    if op == AO_ADD:
        return fold(OP_ADD, ty, old, s, sh)
    if op == AO_MIN:
        return fold(OP_MIN, ty, old, s, sh)
    if op == AO_MAX:
        return fold(OP_MAX, ty, old, s, sh)
    if op == AO_EXCH:
        return s
    if op == AO_AND:
        return old & s
    if op == AO_OR:
        return old | s
    return old ^ s


cdef inline void exec_atomic(Ctx* c, Worker* w, const int64_t* ins, int32_t* g, int n,
                             int64_t pc) noexcept nogil:
    """ATOM / ATOM_CAS / ATOMS / ATOMS_CAS: CAS loops on global memory, plain on shared."""
    cdef int op = <int>ins[C_OP], ty = <int>ins[C_TY], aop = <int>ins[C_TY2], i, lane
    cdef int sh = <int>ins[C_SH]
    cdef int nb = type_bits(ty) >> 3
    cdef int64_t L = c.L
    cdef bint shared = op == OP_ATOMS or op == OP_ATOMS_CAS
    cdef bint cas = op == OP_ATOM_CAS or op == OP_ATOMS_CAS
    cdef uint64_t h, off, s, cmpv, old, new, prev, mask = (<uint64_t>0xFFFFFFFFFFFFFFFF) >> (64 - 8 * nb)
    cdef uint8_t* p
    cdef uint64_t* dst = w.regs + ins[C_DST] * L
    cdef uint8_t* dtag = w.tags + ins[C_DST] * L
    cdef uint64_t* src = w.regs + (ins[C_B] if cas else ins[C_A]) * L
    cdef uint64_t* cmpr = w.regs + ins[C_A] * L
    for i in range(n):
        lane = g[i]
        lane_address(c, w, ins, lane, &h, &off, shared)
        p = shared_ptr(c, w, lane, pc, off, nb, 1) if shared else \
            global_ptr(c, w, lane, pc, h, off, nb, 1)
        if p == NULL:
            continue
        s = src[lane]
        if shared:
            old = load_value(p, nb, ty)
            if cas:
                new = s if (old & mask) == (cmpr[lane] & mask) else old
            else:
                new = atomic_apply(aop, ty, old, s, sh)
            memcpy(p, &new, nb)
        elif not cas and (aop == AO_EXCH or (aop == AO_ADD and ty <= T_U64)):
            # integer add and exchange are single atomic instructions (wrapping add of the
            # low bits equals the canonical wrapped sum)
            if nb == 4:
                old = hg_xchg32(p, <uint32_t>s) if aop == AO_EXCH else hg_xadd32(p, <uint32_t>s)
                old = canon(old, sh, is_signed(ty))
            else:
                old = hg_xchg64(p, s) if aop == AO_EXCH else hg_xadd64(p, s)
        elif nb == 4:
            old = hg_load32(p)
            while True:
                if cas:
                    new = s if old == (cmpr[lane] & mask) else old
                else:
                    new = atomic_apply(aop, ty, canon(old, sh, is_signed(ty)), s, sh)
                prev = hg_cas32(p, <uint32_t>old, <uint32_t>new)
                if prev == old:
                    break
                old = prev
            old = canon(old, sh, is_signed(ty))
        else:
            old = hg_load64(p)
            while True:
                if cas:
                    new = s if old == cmpr[lane] else old
                else:
                    new = atomic_apply(aop, ty, old, s, sh)
                prev = hg_cas64(p, old, new)
                if prev == old:
                    break
                old = prev
        dst[lane] = old
        dtag[lane] = <uint8_t>(ty + 1)


cdef inline void exec_pool(Ctx* c, Worker* w, const int64_t* ins, int32_t* g, int n,
                           int64_t pc) noexcept nogil:
    cdef int op = <int>ins[C_OP], ty = <int>ins[C_TY], i, lane
    cdef int64_t L = c.L
    cdef uint64_t pid, off, size
    cdef int nb = type_bits(ty) >> 3
    cdef PoolEntry* e
    for i in range(n):
        lane = g[i]
        if op == OP_POOL_ALLOC:
            size = <uint64_t>ins[C_IMM]
            pid = pools_alloc(c.pools, size)
            if pid == 0:
                fault(w, lane, pc, F_ALLOC_FAILED, <int64_t>size)
                continue
            w.regs[ins[C_DST] * L + lane] = pid
            w.tags[ins[C_DST] * L + lane] = T_U64 + 1
            continue
        pid = w.regs[ins[C_A] * L + lane]
        if op == OP_POOL_FREE:
            if not pools_free(c.pools, pid):
                fault(w, lane, pc, F_INVALID_HANDLE, <int64_t>pid, 1)
            continue
        off = w.regs[ins[C_B] * L + lane]
        e = pools_get(c.pools, pid)
        if e == NULL:
            fault(w, lane, pc, F_INVALID_HANDLE, <int64_t>pid, 1)
            continue
        if off > e.size or <uint64_t>nb > e.size - off:
            fault(w, lane, pc, F_OUT_OF_BOUNDS, <int64_t>pid, <int64_t>off, nb, <int64_t>e.size, 1)
            continue
        if op == OP_POOL_LOAD:
            w.regs[ins[C_DST] * L + lane] = load_value(e.ptr + off, nb, ty)
            w.tags[ins[C_DST] * L + lane] = <uint8_t>(ty + 1)
        else:
            memcpy(e.ptr + off, &w.regs[ins[C_C] * L + lane], nb)


# ---------------------------------------------------------------------------------------------
# Arithmetic families

cdef enum:   # operand kinds of the fast arithmetic loops
    K_F32 = 0
    K_F64 = 1
    K_SIGNED = 2
    K_UNSIGNED = 3


cdef inline uint64_t fast_binop(int op, int kind, int sh, uint64_t x, uint64_t y) noexcept nogil:
    """A binary op on register content (no DIV/REM for integers: those can fault)."""
    if kind == K_F32:
        return hg_f32_bits(real_binop(op, hg_f32(x), hg_f32(y)))
    if kind == K_F64:
        return hg_f64_bits(real_binop(op, hg_f64(x), hg_f64(y)))
    return int_binop(op, x, y, T_I64 if kind == K_SIGNED else T_U64, sh)


cdef inline void binop_rows(int op, int kind, int sh, uint64_t* d, uint8_t* dt, uint8_t tag,
                            const uint64_t* a, const uint64_t* b, const int32_t* g, int n,
                            int first) noexcept nogil:
    """d = a OP b over a group. Inlined with constant op/kind at each call site; a contiguous
    group (first >= 0) gets a loop the compiler can vectorize; dt is NULL when no read of this
    program checks tags."""
    cdef int i, lane
    if first >= 0:
        for lane in range(first, first + n):
            d[lane] = fast_binop(op, kind, sh, a[lane], b[lane])
    else:
        for i in range(n):
            lane = g[i]
            d[lane] = fast_binop(op, kind, sh, a[lane], b[lane])
    write_tags(dt, tag, g, n, first)


cdef inline int binop_kind(int op, int kind, int sh, uint64_t* d, uint8_t* dt, uint8_t tag,
                           const uint64_t* a, const uint64_t* b, const int32_t* g, int n,
                           int first) noexcept nogil:
    """Pick the loop of one op for a constant kind (inlined, so every branch below becomes a
    loop specialised for its op and kind); 0 if the op has no fast loop for this kind."""
    cdef bint is_float = kind == K_F32 or kind == K_F64
    if op == OP_ADD:
        binop_rows(OP_ADD, kind, sh, d, dt, tag, a, b, g, n, first)
    elif op == OP_SUB:
        binop_rows(OP_SUB, kind, sh, d, dt, tag, a, b, g, n, first)
    elif op == OP_MUL:
        binop_rows(OP_MUL, kind, sh, d, dt, tag, a, b, g, n, first)
    elif op == OP_MIN:
        binop_rows(OP_MIN, kind, sh, d, dt, tag, a, b, g, n, first)
    elif op == OP_MAX:
        binop_rows(OP_MAX, kind, sh, d, dt, tag, a, b, g, n, first)
    elif op == OP_DIV and is_float:
        binop_rows(OP_DIV, kind, sh, d, dt, tag, a, b, g, n, first)
    elif op == OP_AND and not is_float:
        binop_rows(OP_AND, kind, sh, d, dt, tag, a, b, g, n, first)
    elif op == OP_OR and not is_float:
        binop_rows(OP_OR, kind, sh, d, dt, tag, a, b, g, n, first)
    elif op == OP_XOR and not is_float:
        binop_rows(OP_XOR, kind, sh, d, dt, tag, a, b, g, n, first)
    elif op == OP_SHL and not is_float:
        binop_rows(OP_SHL, kind, sh, d, dt, tag, a, b, g, n, first)
    elif op == OP_SHR and not is_float:
        binop_rows(OP_SHR, kind, sh, d, dt, tag, a, b, g, n, first)
    else:
        return 0
    return 1


cdef inline int exec_fast_binop(Ctx* c, Worker* w, const int64_t* ins, int32_t* g, int n,
                                int first) noexcept nogil:
    """The common binary ops as specialised loops; 0 if this instruction is not one of them."""
    cdef int op = <int>ins[C_OP], ty = <int>ins[C_TY], sh = <int>ins[C_SH]
    cdef int64_t L = c.L
    cdef uint64_t* d = w.regs + ins[C_DST] * L
    cdef uint8_t* dt = w.tags + ins[C_DST] * L if c.needs_tags else NULL
    cdef const uint64_t* a = w.regs + ins[C_A] * L
    cdef const uint64_t* b = w.regs + ins[C_B] * L
    cdef uint8_t tag = <uint8_t>(ty + 1)
    if ty == T_F32:
        return binop_kind(op, K_F32, sh, d, dt, tag, a, b, g, n, first)
    if ty == T_F64:
        return binop_kind(op, K_F64, sh, d, dt, tag, a, b, g, n, first)
    # 64- and 32-bit integers get loops with the canonical-form shift as a constant.
    if ty == T_I64:
        return binop_kind(op, K_SIGNED, 0, d, dt, tag, a, b, g, n, first)
    if ty == T_U64:
        return binop_kind(op, K_UNSIGNED, 0, d, dt, tag, a, b, g, n, first)
    if ty == T_I32:
        return binop_kind(op, K_SIGNED, 32, d, dt, tag, a, b, g, n, first)
    if ty == T_U32:
        return binop_kind(op, K_UNSIGNED, 32, d, dt, tag, a, b, g, n, first)
    if ty <= T_I64:
        return binop_kind(op, K_SIGNED, sh, d, dt, tag, a, b, g, n, first)
    if ty <= T_U64:
        return binop_kind(op, K_UNSIGNED, sh, d, dt, tag, a, b, g, n, first)
    return 0


cdef inline void exec_arith(Ctx* c, Worker* w, const int64_t* ins, int32_t* g, int n,
                            int64_t pc) noexcept nogil:
    """Binary ops (ADD ... SHR, POW), MAD, FMA: the cases the fast loops leave."""
    cdef int op = <int>ins[C_OP], ty = <int>ins[C_TY], sh = <int>ins[C_SH], i, lane
    cdef int64_t L = c.L
    cdef uint64_t* d = w.regs + ins[C_DST] * L
    cdef uint8_t* dt = w.tags + ins[C_DST] * L
    cdef uint64_t* a = w.regs + ins[C_A] * L
    cdef uint64_t* b = w.regs + ins[C_B] * L
    cdef uint64_t* cc = w.regs + ins[C_C] * L
    cdef uint8_t tag = <uint8_t>(ty + 1)
    cdef bint sgn = ty <= T_I64
    cdef float fa
    cdef double da
    if ty <= T_U64 and op == OP_MAD:
        for i in range(n):
            lane = g[i]
            d[lane] = canon(a[lane] * b[lane] + cc[lane], sh, sgn)
            dt[lane] = tag
    elif ty <= T_U64:
        for i in range(n):
            lane = g[i]
            if (op == OP_DIV or op == OP_REM) and b[lane] == 0:
                fault(w, lane, pc, F_DIV_ZERO)
                continue
            d[lane] = int_binop(op, a[lane], b[lane], ty, sh)
            dt[lane] = tag
    elif ty == T_F64:
        for i in range(n):
            lane = g[i]
            if op == OP_MAD:
                da = hg_f64(a[lane]) * hg_f64(b[lane])
                d[lane] = hg_f64_bits(da + hg_f64(cc[lane]))
            elif op == OP_FMA:
                d[lane] = hg_f64_bits(fma(hg_f64(a[lane]), hg_f64(b[lane]), hg_f64(cc[lane])))
            else:
                d[lane] = hg_f64_bits(real_binop(op, hg_f64(a[lane]), hg_f64(b[lane])))
            dt[lane] = tag
    elif ty == T_F32 and op == OP_FMA:
        for i in range(n):
            lane = g[i]
            d[lane] = hg_f32_bits(fmaf(hg_f32(a[lane]), hg_f32(b[lane]), hg_f32(cc[lane])))
            dt[lane] = tag
    else:
        for i in range(n):
            lane = g[i]
            if op == OP_MAD:
                fa = ld_f(ty, a[lane]) * ld_f(ty, b[lane])
                d[lane] = st_f(ty, fa + ld_f(ty, cc[lane]))
            elif op == OP_FMA:
                d[lane] = st_f(ty, fmaf(ld_f(ty, a[lane]), ld_f(ty, b[lane]), ld_f(ty, cc[lane])))
            else:
                d[lane] = st_f(ty, real_binop(op, ld_f(ty, a[lane]), ld_f(ty, b[lane])))
            dt[lane] = tag


cdef inline uint64_t unary_value(int op, int kind, uint64_t x) noexcept nogil:
    if kind == K_F32:
        return hg_f32_bits(f_unary(op, hg_f32(x)))
    return hg_f64_bits(d_unary(op, hg_f64(x)))


cdef inline void unary_rows(int op, int kind, uint64_t* d, const uint64_t* a, const int32_t* g,
                            int n, int first) noexcept nogil:
    """d = OP(a) for f32/f64 transcendentals, inlined per constant op."""
    cdef int i, lane
    if first >= 0:
        for lane in range(first, first + n):
            d[lane] = unary_value(op, kind, a[lane])
    else:
        for i in range(n):
            lane = g[i]
            d[lane] = unary_value(op, kind, a[lane])


cdef inline void exec_unary(Ctx* c, Worker* w, const int64_t* ins, int32_t* g, int n) noexcept nogil:
    """ABS NEG NOT and the transcendentals."""
    cdef int op = <int>ins[C_OP], ty = <int>ins[C_TY], sh = <int>ins[C_SH], i, lane
    cdef int first = g[0] if g[n - 1] - g[0] == n - 1 else -1
    cdef int64_t L = c.L
    cdef uint64_t* d = w.regs + ins[C_DST] * L
    cdef uint8_t* dt = w.tags + ins[C_DST] * L if c.needs_tags else NULL
    cdef uint64_t* a = w.regs + ins[C_A] * L
    cdef uint8_t tag = <uint8_t>(ty + 1)
    cdef uint64_t x, sign = (<uint64_t>1) << (type_bits(ty) - 1)
    if ty == T_F32 and op >= OP_EXP:
        if op == OP_EXP:
            unary_rows(OP_EXP, K_F32, d, a, g, n, first)
        elif op == OP_LOG:
            unary_rows(OP_LOG, K_F32, d, a, g, n, first)
        elif op == OP_LOG2:
            unary_rows(OP_LOG2, K_F32, d, a, g, n, first)
        elif op == OP_LOG10:
            unary_rows(OP_LOG10, K_F32, d, a, g, n, first)
        elif op == OP_SQRT:
            unary_rows(OP_SQRT, K_F32, d, a, g, n, first)
        elif op == OP_RSQRT:
            unary_rows(OP_RSQRT, K_F32, d, a, g, n, first)
        elif op == OP_SIN:
            unary_rows(OP_SIN, K_F32, d, a, g, n, first)
        elif op == OP_COS:
            unary_rows(OP_COS, K_F32, d, a, g, n, first)
        elif op == OP_TAN:
            unary_rows(OP_TAN, K_F32, d, a, g, n, first)
        elif op == OP_TANH:
            unary_rows(OP_TANH, K_F32, d, a, g, n, first)
        elif op == OP_SIGMOID:
            unary_rows(OP_SIGMOID, K_F32, d, a, g, n, first)
    elif ty == T_F64 and op >= OP_EXP:
        if op == OP_EXP:
            unary_rows(OP_EXP, K_F64, d, a, g, n, first)
        elif op == OP_LOG:
            unary_rows(OP_LOG, K_F64, d, a, g, n, first)
        elif op == OP_LOG2:
            unary_rows(OP_LOG2, K_F64, d, a, g, n, first)
        elif op == OP_LOG10:
            unary_rows(OP_LOG10, K_F64, d, a, g, n, first)
        elif op == OP_SQRT:
            unary_rows(OP_SQRT, K_F64, d, a, g, n, first)
        elif op == OP_RSQRT:
            unary_rows(OP_RSQRT, K_F64, d, a, g, n, first)
        elif op == OP_SIN:
            unary_rows(OP_SIN, K_F64, d, a, g, n, first)
        elif op == OP_COS:
            unary_rows(OP_COS, K_F64, d, a, g, n, first)
        elif op == OP_TAN:
            unary_rows(OP_TAN, K_F64, d, a, g, n, first)
        elif op == OP_TANH:
            unary_rows(OP_TANH, K_F64, d, a, g, n, first)
        elif op == OP_SIGMOID:
            unary_rows(OP_SIGMOID, K_F64, d, a, g, n, first)
    else:
        for i in range(n):
            lane = g[i]
            x = a[lane]
            if ty <= T_U64:
                if op == OP_ABS:
                    x = (0 - x) if <int64_t>x < 0 else x
                elif op == OP_NEG:
                    x = 0 - x
                else:
                    x = ~x
                d[lane] = canon(x, sh, ty <= T_I64)
            elif op == OP_ABS:
                d[lane] = x & ~sign
            elif op == OP_NEG:
                d[lane] = x ^ sign
            elif ty == T_F64:
                d[lane] = hg_f64_bits(d_unary(op, hg_f64(x)))
            else:
                d[lane] = st_f(ty, f_unary(op, ld_f(ty, x)))
    write_tags(dt, tag, g, n, first)


cdef inline void exec_reduce(Ctx* c, Worker* w, const int64_t* ins, int32_t* g, int n) noexcept nogil:
    """reduce.{add,min,max,mul}: fold registers r[B .. B+N-1] (contiguous slots)."""
    cdef int op = <int>ins[C_OP], ty = <int>ins[C_TY], sh = <int>ins[C_SH], i, lane
    cdef int64_t L = c.L, k, count = ins[C_IMM], base = ins[C_A]
    cdef int fop
    cdef uint64_t acc, ident
    if op == OP_REDUCE_ADD:
        fop = OP_ADD
    elif op == OP_REDUCE_MUL:
        fop = OP_MUL
    elif op == OP_REDUCE_MIN:
        fop = OP_MIN
    else:
        fop = OP_MAX
    ident = <uint64_t>ins[C_B]         # the identity, precomputed at lowering
    for i in range(n):
        lane = g[i]
        acc = ident
        for k in range(count):
            acc = fold(fop, ty, acc, w.regs[(base + k) * L + lane], sh)
        w.regs[ins[C_DST] * L + lane] = acc
        w.tags[ins[C_DST] * L + lane] = <uint8_t>(ty + 1)


cdef inline uint32_t cond_table(int cc) noexcept nogil:
    """Bit k of the result is the condition's value when k = less + 2*equal + 4*unordered."""
    if cc >= CC_LTU:
        cc = cc - CC_LTU + CC_LT
    if cc == CC_EQ:
        return 0b00000100          # equal
    if cc == CC_NE:
        return 0b11110011          # not equal (unordered included)
    if cc == CC_LT:
        return 0b00000010
    if cc == CC_LE:
        return 0b00000110
    if cc == CC_GT:
        return 0b00000001          # neither less nor equal, ordered
    return 0b00000101              # GE: equal or greater, ordered


cdef inline uint64_t ceil_div(uint64_t a, uint64_t b) noexcept nogil:
    return a / b + (a % b != 0)


cdef bint setcc_by_shape(Worker* w, const int64_t* ins, uint8_t* pd, int64_t L, uint64_t flip,
                         uint32_t table) noexcept nogil:
    """A whole-block 64-bit integer setcc of a register affine in the lane against a uniform
    one (e.g. `setgeu gid, n`): the lanes split into at most three runs (less, equal,
    greater), found by a division and written by memset. 0 if the shapes do not allow it."""
    cdef int64_t a = ins[C_A], b = ins[C_B], s, k, e
    cdef uint64_t x0, y, span, d, abss
    cdef bint swap
    cdef uint8_t v_lt, v_eq, v_gt
    if not (w.shp_ok[a] and w.shp_ok[b]):
        return 0
    swap = w.shp_stride[b] != 0            # X = the affine side, Y = the uniform one
    if swap:
        a, b = b, a
    if w.shp_stride[b] != 0:
        return 0
    s = <int64_t>w.shp_stride[a]
    if s > (<int64_t>1 << 32) or s < -(<int64_t>1 << 32):
        return 0
    # Signed order is unsigned order with the sign bit flipped: x ^ 2^63 == x + 2^63.
    x0 = w.shp_base[a] + flip
    y = w.shp_base[b] + flip
    abss = <uint64_t>(s if s >= 0 else -s)
    span = abss * <uint64_t>(L - 1)
    if (s >= 0 and x0 + span < x0) or (s < 0 and x0 < span):
        return 0                          # X wraps around 2^64 inside the block
    # Truth-table index (less + 2 * equal) of each run, for the original operand order.
    v_lt = 1 + ((table >> (0 if swap else 1)) & 1)
    v_eq = 1 + ((table >> 2) & 1)
    v_gt = 1 + ((table >> (1 if swap else 0)) & 1)
    if s == 0:
        memset(pd, v_lt if x0 < y else (v_eq if x0 == y else v_gt), L)
        return 1
    if s < 0:                             # decreasing: greater, equal, less
        v_lt, v_gt = v_gt, v_lt
        d = x0 - y if x0 > y else 0
        e = x0 >= y and (x0 - y) % abss == 0
    else:                                 # increasing: less, equal, greater
        d = y - x0 if y > x0 else 0
        e = y >= x0 and (y - x0) % abss == 0
    k = <int64_t>ceil_div(d, abss) if ceil_div(d, abss) < <uint64_t>L else L
    if k >= L:
        e = 0
    memset(pd, v_lt, k)
    if e:
        pd[k] = v_eq
        k += 1
    memset(pd + k, v_gt, L - k)
    return 1


ctypedef fused ordered:       # values setcc compares: floats (as double) or integer patterns
    double
    uint64_t


cdef inline bint compare(int cc, ordered x, ordered y) noexcept nogil:
    """x CC y for cc in EQ..GE: ordered float comparisons are false on NaN, ne is true."""
    if cc == CC_EQ:
        return x == y
    if cc == CC_NE:
        return not (x == y)
    if cc == CC_LT:
        return x < y
    if cc == CC_LE:
        return x <= y
    if cc == CC_GT:
        return x > y
    return x >= y


cdef inline void cmp_rows(int cc, int kind, uint8_t* pd, const uint64_t* ra, const uint64_t* rb,
                          uint64_t mask, uint64_t flip, int n) noexcept nogil:
    """pd = a CC b over contiguous lanes, for constant cc; kind K_F32, K_F64 or an integer kind
    (the signed/unsigned distinction and the width are in mask and flip). Inlined with cc
    constant, the loop is unswitched on kind by the compiler."""
    cdef int i
    for i in range(n):
        if kind == K_F32:
            pd[i] = 1 + compare(cc, <double>hg_f32(ra[i]), <double>hg_f32(rb[i]))
        elif kind == K_F64:
            pd[i] = 1 + compare(cc, hg_f64(ra[i]), hg_f64(rb[i]))
        else:
            pd[i] = 1 + compare(cc, (ra[i] & mask) ^ flip, (rb[i] & mask) ^ flip)


cdef inline void cmp_rows_cc(int cc, int kind, uint8_t* pd, const uint64_t* ra,
                             const uint64_t* rb, uint64_t mask, uint64_t flip, int n) noexcept nogil:
    """cmp_rows with the condition as a constant (ltu..geu compare like lt..ge)."""
    if cc >= CC_LTU:
        cc = cc - CC_LTU + CC_LT
    if cc == CC_EQ:
        cmp_rows(CC_EQ, kind, pd, ra, rb, mask, flip, n)
    elif cc == CC_NE:
        cmp_rows(CC_NE, kind, pd, ra, rb, mask, flip, n)
    elif cc == CC_LT:
        cmp_rows(CC_LT, kind, pd, ra, rb, mask, flip, n)
    elif cc == CC_LE:
        cmp_rows(CC_LE, kind, pd, ra, rb, mask, flip, n)
    elif cc == CC_GT:
        cmp_rows(CC_GT, kind, pd, ra, rb, mask, flip, n)
    else:
        cmp_rows(CC_GE, kind, pd, ra, rb, mask, flip, n)


cdef inline void sel_rows(uint64_t* d, const uint8_t* p, const uint64_t* a, const uint64_t* b,
                          const int32_t* g, int n) noexcept nogil:
    cdef int i, lane
    cdef uint64_t m
    if g[n - 1] - g[0] == n - 1:      # branch-free: lanes' predicates are unpredictable
        for lane in range(g[0], g[0] + n):
            m = <uint64_t>0 - <uint64_t>(p[lane] == 2)
            d[lane] = b[lane] ^ ((a[lane] ^ b[lane]) & m)
    else:
        for i in range(n):
            lane = g[i]
            m = <uint64_t>0 - <uint64_t>(p[lane] == 2)
            d[lane] = b[lane] ^ ((a[lane] ^ b[lane]) & m)


cdef inline void exec_setcc_sel(Ctx* c, Worker* w, const int64_t* ins, int32_t* g, int n,
                                int64_t pc) noexcept nogil:
    cdef int op = <int>ins[C_OP], ty = <int>ins[C_TY], i, lane
    cdef int64_t L = c.L, src
    cdef int cc = <int>ins[C_TY2], sh = <int>ins[C_SH]
    cdef uint8_t t, tag = <uint8_t>(ty + 1)
    cdef uint8_t* pd = w.preds + ins[C_DST] * L
    cdef const uint64_t* ra = w.regs + ins[C_A] * L
    cdef const uint64_t* rb = w.regs + ins[C_B] * L
    cdef uint64_t mask, flip, x, y
    cdef uint32_t table
    cdef double fx, fy
    if op == OP_SETCC:
        # Branch-free: the condition is a truth table indexed by (less, equal, unordered).
        table = cond_table(cc)
        if ty <= T_U64:
            # Signed order = unsigned order with the sign bit flipped; ltu..geu and unsigned
            # types compare the w-bit patterns.
            mask = (<uint64_t>0xFFFFFFFFFFFFFFFF) >> sh if (cc >= CC_LTU or ty >= T_U8) else \
                <uint64_t>0xFFFFFFFFFFFFFFFF
            flip = (<uint64_t>1) << 63 if (ty <= T_I64 and cc < CC_LTU) else 0
            if n == L and ~mask == 0 and setcc_by_shape(w, ins, pd, L, flip, table):
                return
        if w.any_stale:
            fresh_rows(c, w, ins)
        if ty <= T_U64:
            if g[n - 1] - g[0] == n - 1:
                cmp_rows_cc(cc, K_SIGNED, pd + g[0], ra + g[0], rb + g[0], mask, flip, n)
                return
            for i in range(n):
                lane = g[i]
                x = (ra[lane] & mask) ^ flip
                y = (rb[lane] & mask) ^ flip
                pd[lane] = 1 + ((table >> ((x < y) + 2 * (x == y))) & 1)
        else:
            if (ty == T_F32 or ty == T_F64) and g[n - 1] - g[0] == n - 1:
                if ty == T_F64:
                    cmp_rows_cc(cc, K_F64, pd + g[0], ra + g[0], rb + g[0], 0, 0, n)
                else:
                    cmp_rows_cc(cc, K_F32, pd + g[0], ra + g[0], rb + g[0], 0, 0, n)
                return
            for i in range(n):
                lane = g[i]
                if ty == T_F64:
                    fx = hg_f64(ra[lane])
                    fy = hg_f64(rb[lane])
                else:
                    fx = ld_f(ty, ra[lane])
                    fy = ld_f(ty, rb[lane])
                pd[lane] = 1 + ((table >> ((fx < fy) + 2 * (fx == fy) + 4 * (fx != fx or fy != fy))) & 1)
        return
    if ins[C_TY2]:            # SEL whose sources the verifier proved: a plain select
        sel_rows(w.regs + ins[C_DST] * L, w.preds + ins[C_A] * L, w.regs + ins[C_B] * L,
                 w.regs + ins[C_C] * L, g, n)
        write_tags(w.tags + ins[C_DST] * L if c.needs_tags else NULL, tag, g, n,
                   g[0] if g[n - 1] - g[0] == n - 1 else -1)
        return
    for i in range(n):        # SEL: the predicate was checked; read only the selected source
        lane = g[i]
        src = ins[C_B] if w.preds[ins[C_A] * L + lane] == 2 else ins[C_C]
        t = w.tags[src * L + lane]
        if t != tag:
            if t == 0:
                fault(w, lane, pc, F_UNINIT_REG, ins[C_IMM] if src == ins[C_B] else ins[C_PRED])
            else:
                fault(w, lane, pc, F_TYPE_MISMATCH,
                      ins[C_IMM] if src == ins[C_B] else ins[C_PRED], ty, t - 1)
            continue
        w.regs[ins[C_DST] * L + lane] = w.regs[src * L + lane]
        w.tags[ins[C_DST] * L + lane] = tag


cdef inline void exec_move(Ctx* c, Worker* w, const int64_t* ins, int32_t* g, int n) noexcept nogil:
    """MOV, MOV_IMM, MOV_SREG, CVT."""
    cdef int op = <int>ins[C_OP], ty = <int>ins[C_TY], i, lane
    cdef int64_t L = c.L, sreg = ins[C_TY2]
    cdef uint64_t* d = w.regs + ins[C_DST] * L
    cdef uint8_t* dt = w.tags + ins[C_DST] * L
    cdef uint64_t* a = w.regs + ins[C_A] * L
    cdef uint64_t v = <uint64_t>ins[C_IMM]
    cdef int first = g[0] if g[n - 1] - g[0] == n - 1 else -1
    if op == OP_MOV:
        if first >= 0:
            if d != a:
                memcpy(d + first, a + first, 8 * n)
        else:
            for i in range(n):
                lane = g[i]
                d[lane] = a[lane]
        write_tags(w.tags + ins[C_DST] * L if c.needs_tags else NULL, <uint8_t>(ty + 1), g, n, first)
    elif op == OP_MOV_IMM:       # the immediate was canonicalised at lowering
        if first >= 0:
            for lane in range(first, first + n):
                d[lane] = v
        else:
            for i in range(n):
                d[g[i]] = v
        write_tags(w.tags + ins[C_DST] * L if c.needs_tags else NULL, <uint8_t>(ty + 1), g, n, first)
    elif op == OP_CVT:
        for i in range(n):
            lane = g[i]
            d[lane] = convert(a[lane], ty, <int>ins[C_TY2], <int>ins[C_SH2])
            dt[lane] = <uint8_t>(ins[C_TY2] + 1)
    else:
        for i in range(n):
            lane = g[i]
            d[lane] = sreg_value(c, w, sreg, lane)
            dt[lane] = T_U64 + 1 if sreg == 12 else T_U32 + 1


cdef inline uint64_t sreg_value(Ctx* c, Worker* w, int64_t sreg, int lane) noexcept nogil:
    """%lane.x ... %gid (order of hologram.isa.SReg)."""
    if sreg == 0:
        return <uint64_t>(lane % c.Bx)
    if sreg == 1:
        return <uint64_t>((lane / c.Bx) % c.By)
    if sreg == 2:
        return <uint64_t>(lane / (c.Bx * c.By))
    if sreg == 3:
        return <uint64_t>w.bx
    if sreg == 4:
        return <uint64_t>w.by
    if sreg == 5:
        return <uint64_t>w.bz
    if sreg == 6:
        return <uint64_t>c.Bx
    if sreg == 7:
        return <uint64_t>c.By
    if sreg == 8:
        return <uint64_t>c.Bz
    if sreg == 9:
        return <uint64_t>c.gx
    if sreg == 10:
        return <uint64_t>c.gy
    if sreg == 11:
        return <uint64_t>c.gz
    return <uint64_t>(w.base_gid + lane)


cdef inline void exec_atlas(Ctx* c, Worker* w, const int64_t* ins, int32_t* g, int n,
                            int64_t pc) noexcept nogil:
    cdef int op = <int>ins[C_OP], i, lane
    cdef int64_t L = c.L, dst = ins[C_DST]
    cdef uint64_t cls, page, byte, k
    cdef uint64_t lane_class = <uint64_t>(w.bx % 96)
    for i in range(n):
        lane = g[i]
        if op == OP_CLS_GET:
            w.regs[dst * L + lane] = lane_class
            w.tags[dst * L + lane] = T_U8 + 1
            continue
        if op == OP_UNITY_TEST:
            w.preds[dst * L + lane] = 2 if (lane_class == 1 or lane_class == 4) else 1
            continue
        if op == OP_PHASE_GET:
            w.regs[dst * L + lane] = w.phase[lane]
            w.tags[dst * L + lane] = T_U32 + 1
            continue
        if op == OP_PHASE_ADV:
            w.phase[lane] = <uint32_t>((w.phase[lane] + <uint64_t>ins[C_IMM]) % PHASE_MOD)
            continue
        cls = w.regs[ins[C_A] * L + lane]
        if cls >= 96:
            fault(w, lane, pc, F_INVALID_COORDINATE, <int64_t>cls, 0)
            continue
        if op == OP_MIRROR:
            w.regs[dst * L + lane] = ATLAS_MIRROR[cls]
            w.tags[dst * L + lane] = T_U8 + 1
        elif op == OP_NBR_COUNT:
            w.regs[dst * L + lane] = ATLAS_DEGREE[cls]
            w.tags[dst * L + lane] = T_U32 + 1
        elif op == OP_NBR_GET:
            k = <uint64_t>ins[C_IMM]
            w.regs[dst * L + lane] = ATLAS_NBRS[cls * 6 + k] if k < ATLAS_DEGREE[cls] else 0
            w.tags[dst * L + lane] = T_U8 + 1
        elif op == OP_RES_ACCUM:
            w.res[cls] += hg_f64(w.regs[ins[C_B] * L + lane])
        else:  # BoundMap
            page = w.regs[ins[C_B] * L + lane]
            byte = w.regs[ins[C_C] * L + lane]
            if page >= 48:
                fault(w, lane, pc, F_INVALID_COORDINATE, <int64_t>page, 1)
                continue
            w.regs[dst * L + lane] = cls * CLASS_BYTES + page * 256 + byte
            w.tags[dst * L + lane] = T_U64 + 1


# ---------------------------------------------------------------------------------------------
# The group loop: one instruction at a time over all lanes of a group


cdef inline int check_reads(Ctx* c, Worker* w, const int64_t* ins, int32_t* g, int n,
                            int64_t pc) noexcept nogil:
    """Type-check the instruction's reads in field order; fault lanes that fail."""
    cdef int64_t k, k0 = ins[C_CHK0], kn = ins[C_CHKN], L = c.L
    cdef const int32_t* chk
    cdef int i, lane
    cdef uint8_t t
    for i in range(n):
        lane = g[i]
        for k in range(k0, k0 + kn):
            chk = c.checks + 4 * k
            if chk[0] == 1:
                if w.preds[chk[1] * L + lane] == 0:
                    fault(w, lane, pc, F_UNINIT_PRED, chk[1])
                    break
            else:
                t = w.tags[chk[1] * L + lane]
                if t != chk[2] + 1:
                    if t == 0:
                        fault(w, lane, pc, F_UNINIT_REG, chk[3])
                    else:
                        fault(w, lane, pc, F_TYPE_MISMATCH, chk[3], chk[2], t - 1)
                    break
    return compact(w, g, n) if w.dirty else n


cdef inline void leave_group(Worker* w, int32_t* g, int n, int64_t pc) noexcept nogil:
    cdef int i
    for i in range(n):
        w.pc[g[i]] = <int32_t>pc


cdef int poll(Ctx* c, Worker* w) noexcept nogil:
    """Called every POLL_LANE_STEPS lane-instructions: 1 if the launch must stop."""
    w.budget = POLL_LANE_STEPS
    if w.is_master and hg_now() >= w.next_signal_check:
        check_signals(c, w)
    return hg_atomic_load_int(&c.abort)


# gil: begin
cdef void check_signals(Ctx* c, Worker* w) noexcept nogil:
    """Master thread only: let Python run its signal handlers (Ctrl-C -> abort the launch)."""
    cdef double now = hg_now()
    w.next_signal_check = now + SIGNAL_INTERVAL
    if c.deadline > 0 and now >= c.deadline:       # timeout= of the launch
        c.timed_out = 1
        hg_atomic_store_int(&c.abort, 1)
    with gil:
        if PyErr_CheckSignals() != 0:
            PyErr_Clear()
            c.interrupted = 1
            hg_atomic_store_int(&c.abort, 1)
# gil: end


cdef inline int count_true(const uint8_t* pred, const int32_t* g, int n) noexcept nogil:
    """How many lanes of the group have the predicate true (2)."""
    cdef int i, lane, k = 0
    if g[n - 1] - g[0] == n - 1:
        pred += g[0]
        for i in range(n):
            k += pred[i] == 2
        return k
    for i in range(n):
        k += pred[g[i]] == 2
    return k


cdef inline int split_group(Worker* w, int32_t* g, int n, const uint8_t* pred, int64_t taken,
                            int64_t fallthrough, int64_t* pc, int64_t* limit) noexcept nogil:
    """A divergent branch: the lanes going to the lower pc stay in the group (which is then
    the block's lowest, as the scheduler would pick); the others wait at the higher pc, which
    becomes the group's limit (where it stops so they merge). Returns the group's size."""
    cdef int64_t lo = taken if taken < fallthrough else fallthrough
    cdef int64_t hi = taken + fallthrough - lo, dest
    cdef int i, m = 0, lane
    for i in range(n):
        lane = g[i]
        dest = taken if pred[lane] == 2 else fallthrough
        if dest == lo:
            g[m] = lane
            m += 1
        else:
            w.pc[lane] = <int32_t>hi
    pc[0] = lo
    if hi < limit[0]:
        limit[0] = hi
    return m


cdef int run_group(Ctx* c, Worker* w, int32_t* g, int n, int64_t pc, int64_t limit) noexcept nogil:
    """Run a group of lanes that share `pc` until it splits, merges, waits or ends.

    `limit` is the lowest pc of the block's other running lanes: at it the group stops so the
    scheduler can merge them. Returns 1 if the launch was aborted."""
    cdef const int64_t* ins
    cdef int64_t L = c.L, target, p
    cdef int op, i, lane, ntaken
    cdef uint64_t cnt
    while n > 0:
        if pc >= c.ncode:
            for i in range(n):
                w.state[g[i]] = DONE
            return 0
        if pc >= limit:
            leave_group(w, g, n, pc)
            return 0
        ins = c.code + pc * NCOL
        if c.has_max_steps:
            for i in range(n):
                lane = g[i]
                if w.steps[lane] >= c.max_steps:
                    fault(w, lane, pc, F_STEP_LIMIT, <int64_t>c.max_steps)
                else:
                    w.steps[lane] += 1
            if w.dirty:
                n = compact(w, g, n)
                if n == 0:
                    return 0
        if ins[C_CHKN]:
            n = check_reads(c, w, ins, g, n, pc)
            if n == 0:
                return 0
        w.budget -= n
        if w.budget <= 0 and poll(c, w):
            return 1
        op = <int>ins[C_OP]
        if ins[C_WREG] >= 0 and update_shape(c, w, ins, n) and \
                (op == OP_ADD or op == OP_SUB or op == OP_MUL or op == OP_SHL or
                 op == OP_MOV_IMM or op == OP_MOV):
            # a whole-block result known affine: its row is written when something reads it
            w.stale[ins[C_WREG]] = 1
            w.any_stale = 1
            if c.needs_tags:
                memset(w.tags + ins[C_WREG] * L, <int>ins[C_TY] + 1, L)
            pc += 1
            continue
        if w.any_stale and op != OP_SETCC and op != OP_LDG and op != OP_STG:
            fresh_rows(c, w, ins)     # (those three do it themselves, when they read rows)
        if op == OP_BRA:
            target = ins[C_IMM]
            if ins[C_PRED] < 0:
                pc = target
                continue
            ntaken = count_true(w.preds + ins[C_PRED] * L, g, n)
            if ntaken == n:
                pc = target
            elif ntaken == 0:
                pc += 1
            else:
                n = split_group(w, g, n, w.preds + ins[C_PRED] * L, target, pc + 1, &pc, &limit)
            continue
        if op == OP_LOOP:
            ntaken = 0
            for i in range(n):
                lane = g[i]
                cnt = w.regs[ins[C_A] * L + lane]
                if cnt > 0:
                    w.regs[ins[C_A] * L + lane] = cnt - 1
                    ntaken += 1
                    w.pc[lane] = <int32_t>ins[C_IMM]
                else:
                    w.pc[lane] = <int32_t>(pc + 1)
            if ntaken == n:
                pc = ins[C_IMM]
            elif ntaken == 0:
                pc += 1
            else:
                return 0
            continue
        if op == OP_CALL:
            for i in range(n):
                lane = g[i]
                if w.csp[lane] >= CALL_DEPTH:
                    fault(w, lane, pc, F_CALL_OVERFLOW)
                else:
                    w.cstack[lane * CALL_DEPTH + w.csp[lane]] = <int32_t>(pc + 1)
                    w.csp[lane] += 1
            if w.dirty:
                n = compact(w, g, n)
            pc = ins[C_IMM]
            continue
        if op == OP_RET:
            p = -1
            ntaken = 0          # 1 if the return addresses differ
            for i in range(n):
                lane = g[i]
                if w.csp[lane] == 0:
                    fault(w, lane, pc, F_CALL_UNDERFLOW)
                    continue
                w.csp[lane] -= 1
                w.pc[lane] = w.cstack[lane * CALL_DEPTH + w.csp[lane]]
                if p < 0:
                    p = w.pc[lane]
                elif p != w.pc[lane]:
                    ntaken = 1
            if w.dirty:
                n = compact(w, g, n)
            if ntaken:
                return 0
            pc = p
            continue
        if op == OP_EXIT:
            if g[n - 1] - g[0] == n - 1:
                memset(w.state + g[0], DONE, n)
            else:
                for i in range(n):
                    w.state[g[i]] = DONE
            return 0
        if op == OP_BARSYNC:
            for i in range(n):
                lane = g[i]
                w.state[lane] = WAITING
                w.barid[lane] = <int32_t>ins[C_IMM]
                w.pc[lane] = <int32_t>pc
            return 0
        # One flat comparison chain on constants: Cython emits a C switch.
        if op == OP_LDG or op == OP_STG or op == OP_LDS or op == OP_STS:
            exec_memory(c, w, ins, g, n, pc)
        elif op == OP_MOV or op == OP_MOV_IMM or op == OP_MOV_SREG or op == OP_CVT:
            exec_move(c, w, ins, g, n)
        elif (op == OP_ADD or op == OP_SUB or op == OP_MUL or op == OP_DIV or op == OP_REM or
              op == OP_MAD or op == OP_FMA or op == OP_MIN or op == OP_MAX or op == OP_AND or
              op == OP_OR or op == OP_XOR or op == OP_SHL or op == OP_SHR or op == OP_POW):
            if not exec_fast_binop(c, w, ins, g, n, g[0] if g[n - 1] - g[0] == n - 1 else -1):
                exec_arith(c, w, ins, g, n, pc)
        elif (op == OP_ABS or op == OP_NEG or op == OP_NOT or op == OP_EXP or op == OP_LOG or
              op == OP_LOG2 or op == OP_LOG10 or op == OP_SQRT or op == OP_RSQRT or
              op == OP_SIN or op == OP_COS or op == OP_TAN or op == OP_TANH or op == OP_SIGMOID):
            exec_unary(c, w, ins, g, n)
        elif op == OP_SETCC or op == OP_SEL:
            exec_setcc_sel(c, w, ins, g, n, pc)
        elif op == OP_MEMFENCE:
            pass
        elif op == OP_REDUCE_ADD or op == OP_REDUCE_MIN or op == OP_REDUCE_MAX or op == OP_REDUCE_MUL:
            exec_reduce(c, w, ins, g, n)
        elif op == OP_ATOM or op == OP_ATOM_CAS or op == OP_ATOMS or op == OP_ATOMS_CAS:
            exec_atomic(c, w, ins, g, n, pc)
        elif op == OP_POOL_ALLOC or op == OP_POOL_FREE or op == OP_POOL_LOAD or op == OP_POOL_STORE:
            exec_pool(c, w, ins, g, n, pc)
        else:
            exec_atlas(c, w, ins, g, n, pc)
        if w.dirty:
            n = compact(w, g, n)
        pc += 1
    return 0


# ---------------------------------------------------------------------------------------------
# Blocks


cdef void init_block(Ctx* c, Worker* w, int64_t b) noexcept nogil:
    cdef int64_t L = c.L, k, s, lane
    w.block = b
    w.bx = b % c.gx
    w.by = (b % (c.gx * c.gy)) / c.gx
    w.bz = b / (c.gx * c.gy)
    w.base_gid = b * L
    # Only the state this program can observe is reset (the Prepared flags say which).
    if c.needs_tags:
        memset(w.tags, 0, c.nslots * L)
    memset(w.preds, 0, c.npreds * L)
    memset(w.pc, 0, L * sizeof(int32_t))
    memset(w.state, RUNNING, L)
    if c.uses_calls:
        memset(w.csp, 0, L * sizeof(int32_t))
    if c.uses_phase:
        memset(w.phase, 0, L * sizeof(uint32_t))
    if c.has_max_steps:
        memset(w.steps, 0, L * sizeof(uint64_t))
    if c.shared_size:
        memset(w.shared, 0, c.shared_size)
    init_registers(c, w, 0)
    init_shapes(c, w)


cdef inline void set_shape(Worker* w, int64_t s, uint64_t base, uint64_t stride) noexcept nogil:
    w.shp_ok[s] = 1
    w.shp_base[s] = base
    w.shp_stride[s] = stride


cdef void init_shapes(Ctx* c, Worker* w) noexcept nogil:
    """The shapes of the registers at block start: what init_registers wrote."""
    cdef int64_t k, s
    memset(w.shp_ok, 0, c.nslots)
    memset(w.stale, 0, c.nslots)
    w.any_stale = 0
    for k in range(4):            # r252 lane.x, r253 block.x, r254 block dim x, r255 gid
        s = c.sreg_slot[k]
        if s < 0 or c.init_once[s] & 2:
            continue
        if k == 0 and c.Bx == c.L:
            set_shape(w, s, 0, 1)
        elif k == 1:
            set_shape(w, s, <uint64_t>w.bx, 0)
        elif k == 2:
            set_shape(w, s, <uint64_t>c.Bx, 0)
        elif k == 3:
            set_shape(w, s, <uint64_t>w.base_gid, 1)
            w.stale[s] = 1
            w.any_stale = 1
    for k in range(c.ninit):
        set_shape(w, c.init_slot[k], c.init_val[k], 0)


cdef inline bint derive_shape(Ctx* c, Worker* w, const int64_t* ins, uint64_t* base,
                              uint64_t* stride) noexcept nogil:
    """The shape of the register a whole-block instruction writes, from its sources' shapes
    (before it runs); 0 if it is not affine in the lane. Only exact 64-bit arithmetic is
    followed: it is linear mod 2^64, unlike a 32-bit result's canonical extension."""
    cdef int op = <int>ins[C_OP]
    cdef int64_t a = ins[C_A], b = ins[C_B], sreg
    cdef uint64_t k
    if op == OP_MOV_IMM:
        base[0] = <uint64_t>ins[C_IMM]
        stride[0] = 0
        return 1
    if op == OP_MOV:
        base[0] = w.shp_base[a]
        stride[0] = w.shp_stride[a]
        return w.shp_ok[a]
    if op == OP_CVT:                     # between 64-bit integer types: the same bits
        base[0] = w.shp_base[a]
        stride[0] = w.shp_stride[a]
        return w.shp_ok[a] and (ins[C_TY] == T_I64 or ins[C_TY] == T_U64) and \
            (ins[C_TY2] == T_I64 or ins[C_TY2] == T_U64)
    if op == OP_MOV_SREG:
        sreg = ins[C_TY2]
        stride[0] = 0
        if sreg == 12:
            base[0] = <uint64_t>w.base_gid
            stride[0] = 1
        elif sreg == 0 and c.Bx == c.L:
            base[0] = 0
            stride[0] = 1
        elif 3 <= sreg <= 11:
            base[0] = sreg_value(c, w, sreg, 0)
        else:
            return 0
        return 1
    if op != OP_ADD and op != OP_SUB and op != OP_MUL and op != OP_SHL:
        return 0
    if ins[C_SH] != 0 or ins[C_TY] > T_U64 or not (w.shp_ok[a] and w.shp_ok[b]):
        return 0
    if op == OP_ADD:
        base[0] = w.shp_base[a] + w.shp_base[b]
        stride[0] = w.shp_stride[a] + w.shp_stride[b]
    elif op == OP_SUB:
        base[0] = w.shp_base[a] - w.shp_base[b]
        stride[0] = w.shp_stride[a] - w.shp_stride[b]
    elif op == OP_MUL and (w.shp_stride[a] == 0 or w.shp_stride[b] == 0):
        base[0] = w.shp_base[a] * w.shp_base[b]
        stride[0] = w.shp_stride[a] * w.shp_base[b] + w.shp_base[a] * w.shp_stride[b]
    elif op == OP_SHL and w.shp_stride[b] == 0:
        k = w.shp_base[b] & 63
        base[0] = w.shp_base[a] << k
        stride[0] = w.shp_stride[a] << k
    else:
        return 0
    return 1


cdef inline bint update_shape(Ctx* c, Worker* w, const int64_t* ins, int n) noexcept nogil:
    """Before an instruction runs: the new shape of the register it writes (1 if affine).
    Memory instructions read shapes but never give an affine result, so this may precede
    them."""
    cdef int64_t d = ins[C_WREG]
    cdef uint64_t base, stride
    if n == c.L and derive_shape(c, w, ins, &base, &stride):
        set_shape(w, d, base, stride)
        return 1
    w.shp_ok[d] = 0
    return 0


cdef inline void fill_affine(uint64_t* r, uint64_t base, uint64_t stride, int64_t L) noexcept nogil:
    """r[lane] = base + stride * lane, by doubling: each pass adds an offset to the lanes
    already written, a plain vectorized loop. (GCC 12.2 -O3 miscompiled a loop with four
    interleaved induction variables here.)"""
    cdef int64_t done = 1, m, i
    r[0] = base
    while done < L:
        m = done if done < L - done else L - done
        for i in range(m):
            r[done + i] = r[i] + stride * <uint64_t>done
        done += m


cdef inline void fresh_row(Ctx* c, Worker* w, int64_t s) noexcept nogil:
    # The shape of a stale row is intact even after update_shape cleared shp_ok (it keeps
    # base and stride); a shape it replaced belongs to a whole-block write that overwrites
    # every lane, so filling from it first is harmless.
    if w.stale[s]:
        fill_affine(w.regs + s * c.L, w.shp_base[s], w.shp_stride[s], c.L)
        w.stale[s] = 0


cdef void fresh_rows(Ctx* c, Worker* w, const int64_t* ins) noexcept nogil:
    """Write the stale rows an instruction reads, and the row it writes (some lanes may keep
    their old values), before it runs."""
    cdef int64_t k
    cdef const int32_t* rd = c.checks + 4 * ins[C_RD0]
    for k in range(ins[C_RDN]):
        fresh_row(c, w, rd[4 * k + 1])
    if ins[C_WREG] >= 0:
        fresh_row(c, w, ins[C_WREG])


cdef void init_registers(Ctx* c, Worker* w, bint once) noexcept nogil:
    """Write the special registers r252-r255 and the parameters (ascending register order).

    Values that are the same in every block and that the program never overwrites (and whose
    tags are never checked) are written once per launch (once=1); the others per block."""
    cdef int64_t L = c.L, k, s, lane, x
    cdef uint64_t* r
    for k in range(4):            # r252 lane.x, r253 block.x, r254 block dim x, r255 gid
        s = c.sreg_slot[k]
        if s < 0 or c.init_once[s] & 2:     # never named, or overwritten by a parameter
            continue
        if (k == 0 or k == 2) and (c.init_once[s] & 1) != once or (k == 1 or k == 3) and once:
            continue
        r = w.regs + s * L
        if k == 0:
            x = 0
            for lane in range(L):
                r[lane] = <uint64_t>x
                x += 1
                if x == c.Bx:
                    x = 0
        elif k == 1:
            fill_u64(r, <uint64_t>w.bx, L)
        elif k == 2:
            fill_u64(r, <uint64_t>c.Bx, L)
        else:
            pass                  # the lane id's row is written when read (init_shapes)
        if c.needs_tags:
            memset(w.tags + s * L, T_U64 + 1 if k == 3 else T_U32 + 1, L)
    for k in range(c.ninit):
        s = c.init_slot[k]
        if (c.init_once[s] & 1) != once:
            continue
        fill_u64(w.regs + s * L, c.init_val[k], L)
        if c.needs_tags:
            memset(w.tags + s * L, c.init_tag[k], L)


cdef inline void fill_u64(uint64_t* r, uint64_t v, int64_t n) noexcept nogil:
    cdef int64_t i
    for i in range(n):
        r[i] = v


cdef inline bint all_done(const uint8_t* state, int64_t L) noexcept nogil:
    """A vectorized pass for the common end of a block: every lane done."""
    cdef int64_t lane
    cdef int k = 0
    for lane in range(L):
        k += state[lane] != DONE
    return k == 0


cdef int run_block(Ctx* c, Worker* w, int64_t b) noexcept nogil:
    """Run every lane of block b to its end. Returns 1 if the launch was aborted.

    Between groups the scheduler picks the lowest pc among running lanes (reconvergence);
    its passes over the block are branch-free so the compiler can vectorize them."""
    cdef int64_t L = c.L, lane
    cdef int32_t none = <int32_t>(c.ncode + 1), minpc, other, p
    cdef int n, nwait
    cdef int32_t bid
    cdef bint same
    init_block(c, w, b)
    for lane in range(L):          # every lane starts at pc 0: one group
        w.group[lane] = <int32_t>lane
    if run_group(c, w, w.group, <int>L, 0, none):
        return 1
    while True:
        if all_done(w.state, L):
            return 0
        minpc = none
        nwait = 0
        for lane in range(L):
            p = w.pc[lane] if w.state[lane] == RUNNING else none
            minpc = p if p < minpc else minpc
            nwait += w.state[lane] == WAITING
        if minpc == none:
            # nobody runs: release a barrier, or the block is done
            if nwait == 0:
                return 0
            same = True
            bid = -1
            for lane in range(L):
                if w.state[lane] == WAITING:
                    if bid >= 0 and w.barid[lane] != bid:
                        same = False
                    bid = w.barid[lane]
            n = 0
            p = -1
            for lane in range(L):
                if w.state[lane] == WAITING:
                    if same:
                        w.state[lane] = RUNNING
                        w.pc[lane] += 1
                        w.group[n] = <int32_t>lane
                        n += 1
                        p = w.pc[lane] if p == -1 or p == w.pc[lane] else -2
                    else:
                        fault(w, <int>lane, w.pc[lane], F_BARRIER_DIVERGENCE, w.barid[lane])
            w.dirty = 0
            if same and p >= 0:      # one barrier instruction released: its lanes go on at once
                if run_group(c, w, w.group, n, p, none):
                    return 1
            continue
        n = 0
        other = none
        for lane in range(L):      # the group at minpc (compacted without a branch), and
            p = w.pc[lane] if w.state[lane] == RUNNING else none      # the next lowest pc
            w.group[n] = <int32_t>lane
            n += p == minpc
            p = none if p == minpc else p
            other = p if p < other else other
        if run_group(c, w, w.group, n, minpc, other):
            return 1


cdef void run_worker(Ctx* c, Worker* w) noexcept nogil:
    """Claim chunks of blocks until none is left (or a fault/abort makes the rest moot)."""
    cdef int64_t start, b, stop
    while True:
        start = hg_fetch_add_i64(&c.next_block, c.chunk)
        if start >= c.nblocks:
            return
        stop = start + c.chunk
        if stop > c.nblocks:
            stop = c.nblocks
        for b in range(start, stop):
            # a block costs at least its lanes and clearing its shared memory (64 bytes about
            # a lane-instruction): launches of empty blocks poll for Ctrl-C / timeout too
            w.budget -= c.L + (c.shared_size >> 6)
            if w.budget <= 0 and poll(c, w):
                return
            if hg_atomic_load_int(&c.abort):
                return
            if b > hg_atomic_load_i64(&c.min_fault_block):
                return            # a lower block faulted: later blocks may be skipped (§7.6)
            if run_block(c, w, b):
                return
            if w.fault_gid >= 0:
                hg_atomic_min_i64(&c.min_fault_block, b)
                return


# ---------------------------------------------------------------------------------------------
# Entry point


# hot: end


cdef class Prepared:
    """A lowered program ready to run: its code and read-check tables (kept alive here)."""
    cdef object code_arr, checks_arr
    cdef const int64_t* code
    cdef int64_t ncode
    cdef const int32_t* checks
    cdef readonly int64_t nslots
    cdef int64_t sreg_slot[4]
    cdef bint uses_calls, uses_phase, needs_tags
    cdef int64_t npreds
    cdef object written_arr
    cdef const uint8_t* written

    def __cinit__(self, const int64_t[:, ::1] code, const int32_t[:, ::1] checks, int64_t nslots,
                  sreg_slot, bint uses_calls, bint uses_phase, bint needs_tags, int64_t npreds,
                  const uint8_t[::1] written):
        """written: per slot, 1 if some instruction writes the register."""
        cdef int i
        self.uses_phase = uses_phase
        self.needs_tags = needs_tags
        self.npreds = npreds
        self.written_arr = written
        self.written = &written[0]
        self.code_arr = code
        self.checks_arr = checks
        self.code = &code[0, 0] if code.shape[0] else NULL
        self.ncode = code.shape[0]
        self.checks = &checks[0, 0]
        self.nslots = nslots
        for i in range(4):
            self.sreg_slot[i] = sreg_slot[i]
        self.uses_calls = uses_calls


cdef inline size_t _round64(size_t n) noexcept nogil:
    return (n + 63) & ~(<size_t>63)


cdef class Engine:
    """Runs lowered programs for one backend, reusing its per-thread scratch across launches.

    Not reentrant: the backend serializes launches (its lock), so one scratch set suffices.
    """
    cdef PoolTable pools
    cdef object boundary
    cdef uint8_t** mem          # per-thread scratch blocks
    cdef size_t* cap
    cdef int nmem

    def __cinit__(self, PoolTable pools, boundary):
        self.pools = pools
        self.boundary = boundary
        self.mem = NULL
        self.cap = NULL
        self.nmem = 0

    def __dealloc__(self):
        cdef int t
        for t in range(self.nmem):
            free(self.mem[t])
        free(self.mem)
        free(self.cap)

    cdef int _reserve(self, int nthreads, size_t nbytes) except -1:
        """Make sure every thread has a scratch block of at least nbytes."""
        cdef int t
        cdef uint8_t** mem
        cdef size_t* cap
        if nthreads > self.nmem:
            mem = <uint8_t**>calloc(nthreads, sizeof(uint8_t*))
            cap = <size_t*>calloc(nthreads, sizeof(size_t))
            if mem == NULL or cap == NULL:
                free(mem)
                free(cap)
                raise MemoryError()
            for t in range(self.nmem):
                mem[t] = self.mem[t]
                cap[t] = self.cap[t]
            free(self.mem)
            free(self.cap)
            self.mem = mem
            self.cap = cap
            self.nmem = nthreads
        for t in range(nthreads):
            if self.cap[t] < nbytes:
                free(self.mem[t])
                self.mem[t] = <uint8_t*>malloc(nbytes)
                self.cap[t] = nbytes if self.mem[t] != NULL else 0
                if self.mem[t] == NULL:
                    raise MemoryError(f"cannot allocate {nbytes} bytes of VM scratch memory")
        return 0

    def run(self, Prepared prog, tuple grid, tuple block, int64_t shared_size,
            object max_steps, HostTable host, list params, list init, int num_threads,
            double[::1] resonance=None, double timeout=0):
        """Run a prepared program.

        host describes the backend's buffers (sorted by handle); params lists the launch's bound
        arrays as (handle, address, nbytes), handles unique (the caller keeps
        the arrays alive); init lists the parameter registers as (slot, tag, value). Returns
        None or the lowest fault as (code, global lane, pc, d0, d1, d2, d3, d4); resonance is
        accumulated into (None: the program has no res.accum). timeout > 0: seconds after
        which the launch stops with F_TIMEOUT (checked with Ctrl-C, every SIGNAL_INTERVAL).
        """
        cdef Ctx c
        cdef int64_t i, j, t, L, nhost = host.n, nbufs
        cdef int64_t ninit = len(init)
        cdef int64_t nslots = prog.nslots
        cdef bint uses_calls = prog.uses_calls
        cdef int64_t init_slot[256]
        cdef uint8_t init_tag[256]
        cdef uint64_t init_val[256]
        memset(&c, 0, sizeof(Ctx))
        c.code = prog.code
        c.ncode = prog.ncode
        c.checks = prog.checks
        c.nslots = nslots
        c.gx, c.gy, c.gz = grid
        c.Bx, c.By, c.Bz = block
        L = c.Bx * c.By * c.Bz
        c.L = L
        c.nblocks = c.gx * c.gy * c.gz
        c.shared_size = shared_size
        c.has_max_steps = max_steps is not None
        c.max_steps = max_steps if max_steps is not None else 0
        for i in range(ninit):
            init_slot[i], init_tag[i], init_val[i] = init[i]
        c.ninit = ninit
        c.init_slot = init_slot
        c.init_tag = init_tag
        c.init_val = init_val
        for i in range(4):
            c.sreg_slot[i] = prog.sreg_slot[i]
        c.uses_calls = uses_calls
        c.uses_phase = prog.uses_phase
        c.needs_tags = prog.needs_tags
        c.npreds = prog.npreds
        cdef uint8_t once[256]
        memset(once, 0, 256)
        if not prog.needs_tags:
            for i in range(nslots):
                once[i] = not prog.written[i]
        for i in range(ninit):
            once[init_slot[i]] |= 2          # a parameter: special registers do not touch it
        c.init_once = once
        c.boundary = <uint8_t*>self.pools.p.chunks[0][0].ptr
        c.pools = &self.pools.p
        c.min_fault_block = 0x7FFFFFFFFFFFFFFF
        if timeout > 0:
            c.deadline = hg_now() + timeout
        if c.nblocks == 0:
            return None

        # Threads: never more than blocks, nor more than one per MIN_LANES_PER_THREAD lanes
        # (starting a team costs about as much as running that many lanes of a short kernel);
        # chunks of blocks small enough to balance divergent work.
        cdef int nthreads = num_threads if num_threads > 0 else 1
        if nthreads > c.nblocks:
            nthreads = <int>c.nblocks
        if nthreads > 1 and c.nblocks * L < <int64_t>nthreads * MIN_LANES_PER_THREAD:
            nthreads = max(1, <int>(c.nblocks * L // MIN_LANES_PER_THREAD))
        # (a claim is an atomic on a shared cache line: chunks hold at least 4096 lanes)
        c.chunk = max(c.nblocks // (nthreads * 16), (4096 + L - 1) // L) if nthreads > 1 else c.nblocks
        if c.chunk < 1:
            c.chunk = 1
        c.active = nthreads
        c.nthreads = nthreads

        # The handle table: host buffers, then this launch's parameters (higher handles).
        nbufs = nhost + len(params)
        cdef uint64_t* handles = <uint64_t*>malloc(sizeof(uint64_t) * (nbufs + 1))
        cdef uint8_t** ptrs = <uint8_t**>malloc(sizeof(uint8_t*) * (nbufs + 1))
        cdef uint64_t* sizes = <uint64_t*>malloc(sizeof(uint64_t) * (nbufs + 1))
        cdef Worker* workers = <Worker*>calloc(nthreads, sizeof(Worker))
        cdef size_t o_regs, o_tags, o_preds, o_pc, o_state, o_barid, o_cstack, o_csp, o_phase
        cdef size_t o_steps, o_group, o_shared, o_res, o_shp, total
        cdef uint8_t* base
        try:
            if handles == NULL or ptrs == NULL or sizes == NULL or workers == NULL:
                raise MemoryError()
            if nhost:
                memcpy(handles, host.handles, sizeof(uint64_t) * nhost)
                memcpy(ptrs, host.ptrs, sizeof(uint8_t*) * nhost)
                memcpy(sizes, host.sizes, sizeof(uint64_t) * nhost)
            for i in range(nhost, nbufs):
                h, addr, size = params[i - nhost]
                handles[i] = h
                ptrs[i] = <uint8_t*><uint64_t>addr
                sizes[i] = size
            # A prepared launch's parameters keep their handles while host buffers allocated
            # later get higher ones: insert the parameters in order (lookup is a binary search).
            for i in range(nhost, nbufs):
                j = i
                while j > 0 and handles[j - 1] > handles[j]:
                    handles[j - 1], handles[j] = handles[j], handles[j - 1]
                    ptrs[j - 1], ptrs[j] = ptrs[j], ptrs[j - 1]
                    sizes[j - 1], sizes[j] = sizes[j], sizes[j - 1]
                    j -= 1
            c.nbufs = nbufs
            c.buf_handle = handles
            c.buf_ptr = ptrs
            c.buf_size = sizes

            # Per-thread scratch: one block carved into the lane-state arrays.
            o_regs = 0
            o_tags = o_regs + _round64(8 * max(nslots, 1) * L)
            o_preds = o_tags + _round64(max(nslots, 1) * L)
            o_pc = o_preds + _round64(16 * L)
            o_state = o_pc + _round64(4 * L)
            o_barid = o_state + _round64(L)
            o_csp = o_barid + _round64(4 * L)
            o_phase = o_csp + _round64(4 * L)
            o_steps = o_phase + _round64(4 * L)
            o_group = o_steps + _round64(8 * L)
            o_res = o_group + _round64(4 * L)
            o_shp = o_res + _round64(8 * 96)
            o_cstack = o_shp + _round64(18 * max(nslots, 1))
            o_shared = o_cstack + _round64(4 * L * CALL_DEPTH if uses_calls else 4)
            total = o_shared + _round64(max(shared_size, 1)) + 64
            self._reserve(nthreads, total)
            for t in range(nthreads):
                base = <uint8_t*>_round64(<size_t>self.mem[t])
                workers[t].regs = <uint64_t*>(base + o_regs)
                workers[t].tags = base + o_tags
                workers[t].preds = base + o_preds
                workers[t].pc = <int32_t*>(base + o_pc)
                workers[t].state = base + o_state
                workers[t].barid = <int32_t*>(base + o_barid)
                workers[t].csp = <int32_t*>(base + o_csp)
                workers[t].phase = <uint32_t*>(base + o_phase)
                workers[t].steps = <uint64_t*>(base + o_steps)
                workers[t].group = <int32_t*>(base + o_group)
                workers[t].res = <double*>(base + o_res)
                memset(workers[t].res, 0, 8 * 96)
                workers[t].cstack = <int32_t*>(base + o_cstack)
                workers[t].shp_base = <uint64_t*>(base + o_shp)
                workers[t].shp_stride = workers[t].shp_base + max(nslots, 1)
                workers[t].shp_ok = <uint8_t*>(workers[t].shp_stride + max(nslots, 1))
                workers[t].stale = workers[t].shp_ok + max(nslots, 1)
                workers[t].shared = base + o_shared
                workers[t].fault_gid = -1
                workers[t].budget = POLL_LANE_STEPS
                workers[t].is_master = t == 0
                workers[t].next_signal_check = hg_now() + SIGNAL_INTERVAL
                init_registers(&c, &workers[t], 1)
            with nogil:
                if nthreads == 1:
                    run_worker(&c, &workers[0])
                else:
                    with parallel(num_threads=nthreads):
                        run_thread(&c, workers, threadid())
            # Results: resonance sums, then the lowest faulting lane over all threads.
            best = -1
            for t in range(nthreads):
                if resonance is not None:
                    for i in range(96):
                        resonance[i] += workers[t].res[i]
                if workers[t].fault_gid >= 0 and (best < 0 or workers[t].fault_gid < workers[best].fault_gid):
                    best = t
            if c.interrupted:
                return (F_INTERRUPTED, -1, -1, 0, 0, 0, 0, 0)
            if c.timed_out:
                return (F_TIMEOUT, -1, -1, <int64_t>(timeout * 1e6), 0, 0, 0, 0)
            if best < 0:
                return None
            w = &workers[best]
            return (w.fault_code, w.fault_gid, w.fault_pc, w.fault_detail[0], w.fault_detail[1],
                    w.fault_detail[2], w.fault_detail[3], w.fault_detail[4])
        finally:
            free(handles)
            free(ptrs)
            free(sizes)
            free(workers)


cdef class HostTable:
    """The backend's host buffers as C arrays sorted by handle (rebuilt when buffers change)."""
    cdef uint64_t* handles
    cdef uint8_t** ptrs
    cdef uint64_t* sizes
    cdef int64_t n
    cdef object keep

    def __cinit__(self, dict buffers):
        cdef int64_t i
        hs = sorted(buffers)
        self.n = len(hs)
        self.keep = [buffers[h] for h in hs]
        self.handles = <uint64_t*>malloc(sizeof(uint64_t) * (self.n + 1))
        self.ptrs = <uint8_t**>malloc(sizeof(uint8_t*) * (self.n + 1))
        self.sizes = <uint64_t*>malloc(sizeof(uint64_t) * (self.n + 1))
        if self.handles == NULL or self.ptrs == NULL or self.sizes == NULL:
            raise MemoryError()
        for i in range(self.n):
            self.handles[i] = hs[i]
            self.ptrs[i] = <uint8_t*><uint64_t>array_address(self.keep[i])[0]
            self.sizes[i] = len(self.keep[i])

    def __dealloc__(self):
        free(self.handles)
        free(self.ptrs)
        free(self.sizes)


def array_address(obj):
    """(address, nbytes, writable) of a C-contiguous buffer-protocol object.

    Raises BufferError/TypeError if it does not export a C-contiguous buffer."""
    cdef Py_buffer view
    PyObject_GetBuffer(obj, &view, PyBUF_C_CONTIGUOUS)
    try:
        return (<uint64_t>view.buf, view.len, not view.readonly)
    finally:
        PyBuffer_Release(&view)


cdef void run_thread(Ctx* c, Worker* workers, int tid) noexcept nogil:
    """Body of the parallel region: work, then (master) keep polling Ctrl-C until all finish.

    A prange would leave the master waiting at the region's barrier once its own blocks are
    done, unable to see Ctrl-C while another thread still runs; so threads claim blocks
    themselves and the master polls until the active count drops to zero."""
    cdef Worker* w = &workers[tid]
    cdef int spins = 0
    if tid == 0:            # the runtime may give fewer threads than asked: count only those
        hg_fetch_add_int(&c.active, omp_get_num_threads() - c.nthreads)
    run_worker(c, w)
    hg_fetch_add_int(&c.active, -1)
    if tid != 0:
        return
    while hg_atomic_load_int(&c.active) > 0:
        if hg_now() >= w.next_signal_check:
            check_signals(c, w)
        if spins < 2000:
            hg_spin_pause()
            spins += 1
        else:
            hg_sleep_us(100)
