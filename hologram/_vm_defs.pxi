# Part of hologram/_core.pyx (included): the lowered instruction row, launch and thread state,
# faults.

# ---------------------------------------------------------------------------------------------
# The instruction row: NCOL int64 columns per instruction, written by hologram/vm.py (which
# reads the numbers from LAYOUT). What each column holds (0 where not listed):
#
#   C_OP      opcode (OP_*, the order of hologram.isa.SPECS; _vm_ops.pxi)
#   C_TY      the `ty` field; CVT: src_ty
#   C_TY2     CVT: dst_ty; SETcc: cond (CC_*); ATOM/ATOMS: op (AO_*); MOV_SREG: sreg (SR_*);
#             SHFL, VOTE: mode (SH_*, VO_*); BRA: 1 if negated (bra.!pN);
#             SEL: 1 if the verifier proved both sources (then no tag checks)
#   C_DST     the written register's slot; SETcc, UnityTest, VOTE, PAND..PNOT: the written
#             predicate
#   C_A .. C_C  the register/predicate sources in field order (slots or predicate numbers); an
#             immediate source (ISA 1.1 §12.1, always C_B) is the slot of a constant row;
#             reductions: C_A = slot of the range's first register, C_B = the identity
#   C_IMM     MOV_IMM: the value (canonical); BRA, CALL, LOOP: the target pc; reductions:
#             count; BarSync: id; PhaseAdv: delta; NbrGet: index; PoolAlloc: size;
#             SEL: the src_true register number (for fault messages); an immediate source:
#             its value (canonical)
#   C_AMODE, C_AX, C_AY  the address: AM_IMM (handle, offset immediates; Φ as handle 0),
#             AM_REG_IMM (handle slot, offset immediate), AM_REG_REG (handle, offset slots)
#   C_ASH, C_ADISP  AM_REG_REG: the offset is (offset register << C_ASH) + C_ADISP (§12.2.1)
#   C_CHK0, C_CHKN  the run-time read checks: rows of Ctx.checks (filled per signature)
#   C_CHKW    warp collectives: their read checks (from C_CHK0), made when the warp is
#             resolved (C_CHKN is 0: nothing is read when a lane arrives)
#   C_SH, C_SH2  64 - bits of C_TY / C_TY2 (the canonical-form shift)
#   C_PRED    BRA: predicate or -1; SEL: the src_false register number
#   C_WREG    the register slot the instruction writes, or -1
#   C_RD0, C_RDN  rows (kind 2) of Ctx.checks listing the register slots it reads
#   C_KREFILL 1 if the immediate's constant row is the shared one (written before use)
#
# SEL with a negated predicate (sel.T rD, !pP, rT, rF) is lowered as sel.T rD, pP, rF, rT.

cdef enum:
    NCOL = 23
    C_OP = 0
    C_TY = 1
    C_TY2 = 2
    C_DST = 3
    C_A = 4
    C_B = 5
    C_C = 6
    C_IMM = 7
    C_AMODE = 8
    C_AX = 9
    C_AY = 10
    C_CHK0 = 11
    C_CHKN = 12
    C_SH = 13
    C_SH2 = 14
    C_PRED = 15
    C_WREG = 16
    C_RD0 = 17
    C_RDN = 18
    C_ASH = 19
    C_ADISP = 20
    C_CHKW = 21
    C_KREFILL = 22

cdef enum:   # address modes
    AM_IMM = 1      # handle and offset immediates (BufferOffset, Φ)
    AM_REG_IMM = 2  # handle register + i32 immediate offset (RegisterIndirect)
    AM_REG_REG = 3  # handle register + offset register (RegisterIndirectComputed)

cdef enum:   # lane states
    RUNNING = 0
    WAITING = 1     # at a barrier
    DONE = 2
    WARP_WAIT = 3   # at a warp collective (ISA 1.1 §12.4)

cdef enum:
    POLL_LANE_STEPS = 1 << 16     # lane-instructions between two looks at the abort flag
    MIN_LANES_PER_THREAD = 4096   # smaller launches run on fewer threads
    LOOKUP_CACHE = 4              # entries of a thread's buffer-lookup cache (a power of 2)
    MAX_CONSTS = 64               # immediates with a constant row of their own; the others
                                  # share one row, written before each use
    MAX_INIT = 256 + MAX_CONSTS + 1   # slots of a program: registers, then constant rows

cdef double SIGNAL_INTERVAL = 0.02                         # seconds between Ctrl-C checks

LAYOUT = dict(NCOL=NCOL, C_OP=C_OP, C_TY=C_TY, C_TY2=C_TY2, C_DST=C_DST, C_A=C_A, C_B=C_B,
              C_C=C_C, C_IMM=C_IMM, C_AMODE=C_AMODE, C_AX=C_AX, C_AY=C_AY, C_CHK0=C_CHK0,
              C_CHKN=C_CHKN, C_SH=C_SH, C_SH2=C_SH2, C_PRED=C_PRED, C_WREG=C_WREG, C_RD0=C_RD0,
              C_RDN=C_RDN, C_ASH=C_ASH, C_ADISP=C_ADISP, C_CHKW=C_CHKW, C_KREFILL=C_KREFILL,
              AM_IMM=AM_IMM, AM_REG_IMM=AM_REG_IMM, AM_REG_REG=AM_REG_REG, MAX_CONSTS=MAX_CONSTS)


# ---------------------------------------------------------------------------------------------
# Launch state

# hot: begin
cdef struct Ctx:
    const int64_t* code
    int64_t ncode
    const int32_t* checks        # rows of 4: kind (0 register, 1 predicate), slot/pred, type, reg
    int64_t nslots               # register slots, then constant rows (ISA 1.1 immediates)
    int64_t nregs                # register slots
    int64_t L                    # lanes per block
    int64_t Bx, By, Bz, gx, gy, gz
    int64_t nblocks              # blocks this launch runs: first_block .. first_block + nblocks - 1
    int64_t first_block          # (a block range of the grid; 0 and all blocks by default)
    int64_t shared_size
    int has_max_steps
    uint64_t max_steps
    int64_t nbufs                # sorted handle table
    const uint64_t* buf_handle
    uint8_t** buf_ptr
    const uint64_t* buf_size
    const uint64_t* buf_lo       # window base: the buffer holds bytes [lo, lo + size) (0: plain)
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
    int uses_warp                # the program has warp collectives (lanes may be WARP_WAIT)
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
    uint8_t* preds               # NUM_PREDS x L: 0 uninitialized, 1 false, 2 true
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
    uint64_t kval                # the value in the shared constant row, if kvalid
    int kvalid
    double* res                  # NUM_CLASSES resonance sums of this thread
    uint64_t lk_handle[LOOKUP_CACHE]     # cached_lookup's entries (lk_base NULL: empty)
    uint8_t* lk_base[LOOKUP_CACHE]
    uint64_t lk_size[LOOKUP_CACHE]
    uint64_t lk_lo[LOOKUP_CACHE]
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


cdef void vm_bug(Worker* w, const int64_t* ins, const int32_t* g, int n,
                 int64_t pc) noexcept nogil:
    """The VM has no code for this instruction row: fault the group with F_INTERNAL. Only a
    bug (a lowering or a generated switch out of step with the table) gets here."""
    cdef int i
    for i in range(n):
        fault(w, g[i], pc, F_INTERNAL, ins[C_OP], ins[C_TY])


cdef inline int compact(Worker* w, int32_t* g, int n) noexcept nogil:
    """Drop the lanes of a group that faulted."""
    cdef int i, m = 0
    for i in range(n):
        if w.state[g[i]] == RUNNING:
            g[m] = g[i]
            m += 1
    w.dirty = 0
    return m


cdef inline uint8_t* dst_tags(Ctx* c, Worker* w, const int64_t* ins) noexcept nogil:
    """The tag row of the instruction's destination, or NULL if no read of this program
    checks tags (then they are never written)."""
    return w.tags + ins[C_DST] * c.L if c.needs_tags else NULL


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
# hot: end
