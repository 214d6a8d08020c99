# Part of hologram/_core.pyx (included): blocks and the scheduler. A thread claims chunks of
# blocks (run_worker); a block starts with all its lanes in one group at pc 0 and, between
# groups, run_block picks the lowest pc among the running lanes (reconvergence), resolves the
# warps waiting at collectives or releases a barrier. run_thread is the body of the parallel region.

# hot: begin
cdef void init_block(Ctx* c, Worker* w, int64_t b) noexcept nogil:
    cdef int64_t L = c.L
    w.block = b
    w.bx = b % c.gx
    w.by = (b % (c.gx * c.gy)) / c.gx
    w.bz = b / (c.gx * c.gy)
    w.base_gid = b * L
    # Only the state this program can observe is reset (the Prepared flags say which).
    if c.needs_tags:             # (constant rows, after the registers, are never checked)
        memset(w.tags, 0, c.nregs * L)
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
            # nobody runs: resolve the warps waiting at collectives (ISA 1.1 §12.4), else
            # release a barrier, or the block is done
            if c.uses_warp and resolve_warps(c, w):
                continue
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
        start = hg_fetch_add_i64(&c.next_block, c.chunk)     # counts from 0 in the range
        if start >= c.nblocks:
            return
        stop = start + c.chunk
        if stop > c.nblocks:
            stop = c.nblocks
        for b in range(c.first_block + start, c.first_block + stop):
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
# hot: end
