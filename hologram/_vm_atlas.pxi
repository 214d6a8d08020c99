# Part of hologram/_core.pyx (included): the Atlas instructions (ISA.md §5.10) and their
# tables (hologram/atlas.py computes them; vm.py installs them once at import).

cdef uint8_t ATLAS_MIRROR[NUM_CLASSES]
cdef uint8_t ATLAS_DEGREE[NUM_CLASSES]
cdef uint8_t ATLAS_UNITY[NUM_CLASSES]
cdef uint8_t ATLAS_NBRS[NUM_CLASSES * MAX_DEGREE]


def set_atlas_tables(mirror, degree, nbrs, unity):
    """Install the mirror, degree, neighbour (NUM_CLASSES x MAX_DEGREE, padded with 0) and
    unity tables used by the Atlas opcodes."""
    cdef int i
    for i in range(NUM_CLASSES):
        ATLAS_MIRROR[i] = mirror[i]
        ATLAS_DEGREE[i] = degree[i]
        ATLAS_UNITY[i] = bool(unity[i])
    for i in range(NUM_CLASSES * MAX_DEGREE):
        ATLAS_NBRS[i] = nbrs[i]


# hot: begin
cdef inline uint64_t lane_class(Worker* w) noexcept nogil:
    """The class of the block's lanes (ClsGet, UnityTest): block.x mod NUM_CLASSES."""
    return <uint64_t>(w.bx % NUM_CLASSES)


cdef inline bint class_operand(Worker* w, const int64_t* ins, int lane, int64_t pc,
                               int64_t L, uint64_t* cls) noexcept nogil:
    """The class register (C_A) of a lane; False after faulting it if it is >= NUM_CLASSES."""
    cls[0] = w.regs[ins[C_A] * L + lane]
    if cls[0] >= NUM_CLASSES:
        fault(w, lane, pc, F_INVALID_COORDINATE, <int64_t>cls[0], 0)
        return 0
    return 1


cdef inline void exec_cls_get(Ctx* c, Worker* w, const int64_t* ins, int32_t* g, int n,
                              int64_t pc, int first) noexcept nogil:
    cdef int i
    cdef int64_t at = ins[C_DST] * c.L
    for i in range(n):
        w.regs[at + g[i]] = lane_class(w)
        w.tags[at + g[i]] = T_U8 + 1


cdef inline void exec_unity_test(Ctx* c, Worker* w, const int64_t* ins, int32_t* g, int n,
                                 int64_t pc, int first) noexcept nogil:
    cdef int i
    cdef uint8_t v = 2 if ATLAS_UNITY[lane_class(w)] else 1      # epsilon is ignored
    for i in range(n):
        w.preds[ins[C_DST] * c.L + g[i]] = v


cdef inline void exec_phase_get(Ctx* c, Worker* w, const int64_t* ins, int32_t* g, int n,
                                int64_t pc, int first) noexcept nogil:
    cdef int i
    cdef int64_t at = ins[C_DST] * c.L
    for i in range(n):
        w.regs[at + g[i]] = w.phase[g[i]]
        w.tags[at + g[i]] = T_U32 + 1


cdef inline void exec_phase_adv(Ctx* c, Worker* w, const int64_t* ins, int32_t* g, int n,
                                int64_t pc, int first) noexcept nogil:
    cdef int i, lane
    for i in range(n):
        lane = g[i]
        w.phase[lane] = <uint32_t>((w.phase[lane] + <uint64_t>ins[C_IMM]) % PHASE_MODULUS)


cdef inline void exec_mirror(Ctx* c, Worker* w, const int64_t* ins, int32_t* g, int n,
                             int64_t pc, int first) noexcept nogil:
    cdef int i, lane
    cdef int64_t L = c.L, at = ins[C_DST] * c.L
    cdef uint64_t cls
    for i in range(n):
        lane = g[i]
        if class_operand(w, ins, lane, pc, L, &cls):
            w.regs[at + lane] = ATLAS_MIRROR[cls]
            w.tags[at + lane] = T_U8 + 1


cdef inline void exec_nbr_count(Ctx* c, Worker* w, const int64_t* ins, int32_t* g, int n,
                                int64_t pc, int first) noexcept nogil:
    cdef int i, lane
    cdef int64_t L = c.L, at = ins[C_DST] * c.L
    cdef uint64_t cls
    for i in range(n):
        lane = g[i]
        if class_operand(w, ins, lane, pc, L, &cls):
            w.regs[at + lane] = ATLAS_DEGREE[cls]
            w.tags[at + lane] = T_U32 + 1


cdef inline void exec_nbr_get(Ctx* c, Worker* w, const int64_t* ins, int32_t* g, int n,
                              int64_t pc, int first) noexcept nogil:
    cdef int i, lane
    cdef int64_t L = c.L, at = ins[C_DST] * c.L
    cdef uint64_t cls, k = <uint64_t>ins[C_IMM]
    for i in range(n):
        lane = g[i]
        if class_operand(w, ins, lane, pc, L, &cls):
            w.regs[at + lane] = ATLAS_NBRS[cls * MAX_DEGREE + k] if k < ATLAS_DEGREE[cls] else 0
            w.tags[at + lane] = T_U8 + 1


cdef inline void exec_res_accum(Ctx* c, Worker* w, const int64_t* ins, int32_t* g, int n,
                                int64_t pc, int first) noexcept nogil:
    cdef int i, lane
    cdef int64_t L = c.L
    cdef uint64_t cls
    for i in range(n):
        lane = g[i]
        if class_operand(w, ins, lane, pc, L, &cls):
            w.res[cls] += hg_f64(w.regs[ins[C_B] * L + lane])


cdef inline void exec_bound_map(Ctx* c, Worker* w, const int64_t* ins, int32_t* g, int n,
                                int64_t pc, int first) noexcept nogil:
    cdef int i, lane
    cdef int64_t L = c.L, at = ins[C_DST] * c.L
    cdef uint64_t cls, page, byte
    for i in range(n):
        lane = g[i]
        if not class_operand(w, ins, lane, pc, L, &cls):
            continue
        page = w.regs[ins[C_B] * L + lane]
        byte = w.regs[ins[C_C] * L + lane]
        if page >= PAGES:
            fault(w, lane, pc, F_INVALID_COORDINATE, <int64_t>page, 1)
            continue
        w.regs[at + lane] = cls * CLASS_BYTES + page * PAGE_BYTES + byte
        w.tags[at + lane] = T_U64 + 1
# hot: end
