# Part of hologram/_core.pyx (included): atomic read-modify-write (ISA.md §5.8) and the pool
# instructions (§5.9; the pool table itself is _vm_pools.pxi).

# hot: begin
cdef inline uint64_t atomic_apply(int aop, int ty, uint64_t old, uint64_t s,
                                  int sh) noexcept nogil:
    """New memory value of an atomic read-modify-write on canonical values (exec_atomic has
    checked that aop is one of these)."""
    if aop == AO_ADD:
        return fold(OP_ADD, ty, old, s, sh)
    if aop == AO_MIN:
        return fold(OP_MIN, ty, old, s, sh)
    if aop == AO_MAX:
        return fold(OP_MAX, ty, old, s, sh)
    if aop == AO_EXCH:
        return s
    if aop == AO_AND:
        return old & s
    if aop == AO_OR:
        return old | s
    if aop == AO_XOR:
        return old ^ s
    return old


cdef inline void exec_atomic(Ctx* c, Worker* w, const int64_t* ins, int32_t* g, int n,
                             int64_t pc, int first) noexcept nogil:
    """ATOM / ATOM_CAS / ATOMS / ATOMS_CAS: CAS loops on global memory, plain on shared."""
    cdef int op = <int>ins[C_OP], ty = <int>ins[C_TY], aop = <int>ins[C_TY2], i, lane
    cdef int sh = <int>ins[C_SH]
    cdef int nb = type_bits(ty) >> 3
    cdef int64_t L = c.L
    cdef bint shared = op == OP_ATOMS or op == OP_ATOMS_CAS
    cdef bint cas = op == OP_ATOM_CAS or op == OP_ATOMS_CAS
    cdef uint64_t h, off, s, old, new, prev, size, wlo
    cdef uint64_t mask = (<uint64_t>0xFFFFFFFFFFFFFFFF) >> (64 - 8 * nb)
    cdef uint8_t* p
    cdef uint64_t* dst = w.regs + ins[C_DST] * L
    cdef uint8_t* dtag = w.tags + ins[C_DST] * L
    cdef uint64_t* src = w.regs + (ins[C_B] if cas else ins[C_A]) * L
    cdef uint64_t* cmpr = w.regs + ins[C_A] * L
    cdef AddrMode am
    if not cas and not (AO_ADD <= aop <= AO_XOR):
        vm_bug(w, ins, g, n, pc)
        return
    address_mode(c, w, ins, &am)
    for i in range(n):
        lane = g[i]
        lane_address(&am, lane, &h, &off, shared)
        p = shared_ptr(c, w, lane, pc, off, nb, 1) if shared else \
            global_ptr(c, w, lane, pc, h, off, nb, 1, &size, &wlo)
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


cdef inline PoolEntry* pool_span(Ctx* c, Worker* w, const int64_t* ins, int lane, int64_t pc,
                                 int nb, uint64_t* off) noexcept nogil:
    """The pool and offset of a PoolLoad/PoolStore lane, or NULL after faulting it."""
    cdef int64_t L = c.L
    cdef uint64_t pid = w.regs[ins[C_A] * L + lane]
    cdef PoolEntry* e = pools_get(c.pools, pid)
    off[0] = w.regs[ins[C_B] * L + lane]
    if e == NULL:
        fault(w, lane, pc, F_INVALID_HANDLE, <int64_t>pid, 1)
        return NULL
    if off[0] > e.size or <uint64_t>nb > e.size - off[0]:
        fault(w, lane, pc, F_OUT_OF_BOUNDS, <int64_t>pid, <int64_t>off[0], nb, <int64_t>e.size, 1)
        return NULL
    return e


cdef inline void exec_pool_alloc(Ctx* c, Worker* w, const int64_t* ins, int32_t* g, int n,
                                 int64_t pc, int first) noexcept nogil:
    cdef int i, lane, over
    cdef int64_t L = c.L
    cdef uint64_t pid, size = <uint64_t>ins[C_IMM]
    for i in range(n):
        lane = g[i]
        # allocating (and zeroing) costs like touching the memory, 64 bytes a lane-instruction:
        # an alloc/free loop reaches the Ctrl-C / timeout poll too
        if size <= POOL_MAX_SIZE:
            w.budget -= <int64_t>(size >> 6)
        pid = pools_alloc(c.pools, size, &over)
        if pid == 0:
            fault(w, lane, pc, F_ALLOC_FAILED, <int64_t>size, over, <int64_t>c.pools.quota)
            continue
        w.regs[ins[C_DST] * L + lane] = pid
        w.tags[ins[C_DST] * L + lane] = T_U64 + 1


cdef inline void exec_pool_free(Ctx* c, Worker* w, const int64_t* ins, int32_t* g, int n,
                                int64_t pc, int first) noexcept nogil:
    cdef int i, lane
    cdef uint64_t pid
    for i in range(n):
        lane = g[i]
        pid = w.regs[ins[C_A] * c.L + lane]
        if not pools_free(c.pools, pid, 0):    # released at once (see _vm_pools.pxi)
            fault(w, lane, pc, F_INVALID_HANDLE, <int64_t>pid, 1)


cdef inline void exec_pool_load(Ctx* c, Worker* w, const int64_t* ins, int32_t* g, int n,
                                int64_t pc, int first) noexcept nogil:
    cdef int ty = <int>ins[C_TY], i, lane
    cdef int nb = type_bits(ty) >> 3
    cdef int64_t L = c.L
    cdef uint64_t off
    cdef PoolEntry* e
    pools_lock(c.pools)          # no lane of another thread frees a pool while we use it
    for i in range(n):
        lane = g[i]
        e = pool_span(c, w, ins, lane, pc, nb, &off)
        if e != NULL:
            w.regs[ins[C_DST] * L + lane] = load_value(e.ptr + off, nb, ty)
            w.tags[ins[C_DST] * L + lane] = <uint8_t>(ty + 1)
    pools_unlock(c.pools)


cdef inline void exec_pool_store(Ctx* c, Worker* w, const int64_t* ins, int32_t* g, int n,
                                 int64_t pc, int first) noexcept nogil:
    cdef int ty = <int>ins[C_TY], i, lane
    cdef int nb = type_bits(ty) >> 3
    cdef uint64_t off
    cdef PoolEntry* e
    pools_lock(c.pools)          # no lane of another thread frees a pool while we use it
    for i in range(n):
        lane = g[i]
        e = pool_span(c, w, ins, lane, pc, nb, &off)
        if e != NULL:
            memcpy(e.ptr + off, &w.regs[ins[C_C] * c.L + lane], nb)
    pools_unlock(c.pools)
# hot: end
