# Part of hologram/_core.pyx (included): what Python calls. Prepared holds a lowered program,
# HostTable a backend's host buffers as C arrays, and Engine runs a launch: it describes the
# launch in a Ctx, picks the thread count, builds the handle table, carves each thread's
# scratch, runs the parallel region without the GIL and reports the lowest fault.

cdef class Prepared:
    """A lowered program ready to run: its code and read-check tables (kept alive here)."""
    cdef object code_arr, checks_arr
    cdef const int64_t* code
    cdef int64_t ncode
    cdef const int32_t* checks
    cdef readonly int64_t nslots
    cdef int64_t nregs
    cdef int64_t sreg_slot[4]
    cdef bint uses_calls, uses_phase, needs_tags, uses_warp
    cdef int64_t npreds
    cdef object written_arr
    cdef const uint8_t* written

    def __cinit__(self, const int64_t[:, ::1] code, const int32_t[:, ::1] checks, int64_t nslots,
                  int64_t nregs, sreg_slot, bint uses_calls, bint uses_phase, bint needs_tags,
                  int64_t npreds, const uint8_t[::1] written, bint uses_warp):
        """nslots: register slots (the first nregs) and constant rows; written: per slot, 1 if
        some instruction writes the register; uses_warp: the program has warp collectives."""
        cdef int i
        if not 0 <= nregs <= nslots <= MAX_INIT:
            raise ValueError(f"at most {MAX_INIT} register slots and constant rows")
        self.nregs = nregs
        self.uses_warp = uses_warp
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


cdef inline size_t _round64(size_t n) noexcept nogil:
    return (n + 63) & ~(<size_t>63)


cdef int describe_launch(Ctx* c, Prepared prog, tuple grid, tuple block, int64_t shared_size,
                         object max_steps, list init, int64_t* init_slot, uint8_t* init_tag,
                         uint64_t* init_val, uint8_t* once) except -1:
    """Fill in the program and shape fields of c; the arrays (MAX_INIT entries) are the
    caller's and outlive the run."""
    cdef int64_t i, ninit = len(init)
    if ninit > MAX_INIT:
        raise ValueError(f"at most {MAX_INIT} parameter registers and constants")
    c.code = prog.code
    c.ncode = prog.ncode
    c.checks = prog.checks
    c.nslots = prog.nslots
    c.nregs = prog.nregs
    c.uses_warp = prog.uses_warp
    c.gx, c.gy, c.gz = grid
    c.Bx, c.By, c.Bz = block
    c.L = c.Bx * c.By * c.Bz
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
    c.uses_calls = prog.uses_calls
    c.uses_phase = prog.uses_phase
    c.needs_tags = prog.needs_tags
    c.npreds = prog.npreds
    memset(once, 0, MAX_INIT)
    if not prog.needs_tags:
        for i in range(prog.nslots):
            once[i] = not prog.written[i]
    for i in range(prog.nregs, prog.nslots):    # constant rows: no instruction writes them and
        once[i] = 1                             # no read checks their tags
    for i in range(ninit):
        once[init_slot[i]] |= 2          # a parameter: special registers do not touch it
    c.init_once = once
    c.min_fault_block = 0x7FFFFFFFFFFFFFFF
    return 0


cdef int pick_threads(Ctx* c, int num_threads) noexcept:
    """Threads: never more than blocks, nor more than one per MIN_LANES_PER_THREAD lanes
    (starting a team costs about as much as running that many lanes of a short kernel);
    chunks of blocks small enough to balance divergent work."""
    cdef int nthreads = num_threads if num_threads > 0 else 1
    if nthreads > c.nblocks:
        nthreads = <int>c.nblocks
    if nthreads > 1 and c.nblocks * c.L < <int64_t>nthreads * MIN_LANES_PER_THREAD:
        nthreads = max(1, <int>(c.nblocks * c.L // MIN_LANES_PER_THREAD))
    # (a claim is an atomic on a shared cache line: chunks hold at least 4096 lanes)
    c.chunk = max(c.nblocks // (nthreads * 16), (4096 + c.L - 1) // c.L) if nthreads > 1 \
        else c.nblocks
    if c.chunk < 1:
        c.chunk = 1
    c.active = nthreads
    c.nthreads = nthreads
    return nthreads


cdef int fill_handle_table(Ctx* c, HostTable host, list params, dict windows,
                           uint64_t* handles, uint8_t** ptrs, uint64_t* sizes,
                           uint64_t* los) except -1:
    """The handle table: host buffers, then this launch's parameters as (handle, address,
    nbytes), with the window base of the parameters in ``windows`` (handle -> base). A prepared
    launch's parameters keep their handles while host buffers allocated later get higher ones:
    insert the parameters in order (lookup is a binary search)."""
    cdef int64_t i, j, nhost = host.n, nbufs = host.n + len(params)
    if nhost:
        memcpy(handles, host.handles, sizeof(uint64_t) * nhost)
        memcpy(ptrs, host.ptrs, sizeof(uint8_t*) * nhost)
        memcpy(sizes, host.sizes, sizeof(uint64_t) * nhost)
        memset(los, 0, sizeof(uint64_t) * nhost)
    for i in range(nhost, nbufs):
        h, addr, size = params[i - nhost]
        handles[i] = h
        ptrs[i] = <uint8_t*><uint64_t>addr
        sizes[i] = size
        los[i] = windows.get(h, 0) if windows else 0
    for i in range(nhost, nbufs):
        j = i
        while j > 0 and handles[j - 1] > handles[j]:
            handles[j - 1], handles[j] = handles[j], handles[j - 1]
            ptrs[j - 1], ptrs[j] = ptrs[j], ptrs[j - 1]
            sizes[j - 1], sizes[j] = sizes[j], sizes[j - 1]
            los[j - 1], los[j] = los[j], los[j - 1]
            j -= 1
    c.nbufs = nbufs
    c.buf_handle = handles
    c.buf_ptr = ptrs
    c.buf_size = sizes
    c.buf_lo = los
    return 0


cdef object collect_result(Ctx* c, Worker* workers, int nthreads, double[::1] resonance,
                           double timeout):
    """Add the threads' resonance sums into `resonance`; the launch's outcome: None or
    (code, global lane, pc, d0 .. d4) of the lowest faulting lane (or the interrupt)."""
    cdef int t, best = -1
    cdef int64_t i
    cdef Worker* w
    for t in range(nthreads):
        if resonance is not None:
            for i in range(NUM_CLASSES):
                resonance[i] += workers[t].res[i]
        if workers[t].fault_gid >= 0 and (best < 0 or
                                           workers[t].fault_gid < workers[best].fault_gid):
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


cdef size_t SCRATCH_KEEP = 1 << 26     # scratch bytes an Engine keeps between launches


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

    cdef void _trim(self) noexcept:
        """Drop the scratch if it exceeds SCRATCH_KEEP: a launch with many threads or much
        shared memory must not pin its scratch for the backend's life."""
        cdef int t
        cdef size_t total = 0
        for t in range(self.nmem):
            total += self.cap[t]
        if total <= SCRATCH_KEEP:
            return
        for t in range(self.nmem):
            free(self.mem[t])
            self.mem[t] = NULL
            self.cap[t] = 0

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

    cdef int _init_workers(self, Ctx* c, Worker* workers, int nthreads) except -1:
        """Per-thread scratch: one block per thread, carved into the lane-state arrays."""
        cdef int64_t L = c.L, nslots = max(c.nslots, 1)
        cdef size_t o_regs, o_tags, o_preds, o_pc, o_state, o_barid, o_cstack, o_csp, o_phase
        cdef size_t o_steps, o_group, o_shared, o_res, o_shp, total
        cdef uint8_t* base
        cdef Worker* w
        cdef int t
        o_regs = 0
        o_tags = o_regs + _round64(8 * nslots * L)
        o_preds = o_tags + _round64(nslots * L)
        o_pc = o_preds + _round64(NUM_PREDS * L)
        o_state = o_pc + _round64(4 * L)
        o_barid = o_state + _round64(L)
        o_csp = o_barid + _round64(4 * L)
        o_phase = o_csp + _round64(4 * L)
        o_steps = o_phase + _round64(4 * L)
        o_group = o_steps + _round64(8 * L)
        o_res = o_group + _round64(4 * L)
        o_shp = o_res + _round64(8 * NUM_CLASSES)
        o_cstack = o_shp + _round64(18 * nslots)
        o_shared = o_cstack + _round64(4 * L * CALL_DEPTH if c.uses_calls else 4)
        total = o_shared + _round64(max(c.shared_size, 1)) + 64
        self._reserve(nthreads, total)
        for t in range(nthreads):
            base = <uint8_t*>_round64(<size_t>self.mem[t])
            w = &workers[t]
            w.regs = <uint64_t*>(base + o_regs)
            w.tags = base + o_tags
            w.preds = base + o_preds
            w.pc = <int32_t*>(base + o_pc)
            w.state = base + o_state
            w.barid = <int32_t*>(base + o_barid)
            w.csp = <int32_t*>(base + o_csp)
            w.phase = <uint32_t*>(base + o_phase)
            w.steps = <uint64_t*>(base + o_steps)
            w.group = <int32_t*>(base + o_group)
            w.res = <double*>(base + o_res)
            memset(w.res, 0, 8 * NUM_CLASSES)
            w.cstack = <int32_t*>(base + o_cstack)
            w.shp_base = <uint64_t*>(base + o_shp)
            w.shp_stride = w.shp_base + nslots
            w.shp_ok = <uint8_t*>(w.shp_stride + nslots)
            w.stale = w.shp_ok + nslots
            w.shared = base + o_shared
            w.fault_gid = -1
            w.budget = POLL_LANE_STEPS
            w.is_master = t == 0
            w.next_signal_check = hg_now() + SIGNAL_INTERVAL
            init_registers(c, w, 1)
        return 0

    def run(self, Prepared prog, tuple grid, tuple block, int64_t shared_size,
            object max_steps, HostTable host, list params, list init, int num_threads,
            double[::1] resonance=None, double timeout=0, tuple block_range=None,
            dict windows=None):
        """Run a prepared program.

        host describes the backend's buffers (sorted by handle); params lists the launch's bound
        arrays as (handle, address, nbytes), handles unique (the caller keeps
        the arrays alive); init lists the parameter registers as (slot, tag, value). Returns
        None or the lowest fault as (code, global lane, pc, d0, d1, d2, d3, d4); resonance is
        accumulated into (None: the program has no res.accum). timeout > 0: seconds after
        which the launch stops with F_TIMEOUT (checked with Ctrl-C, every SIGNAL_INTERVAL).
        block_range: (start, stop) linear block indices of the grid to run (checked by the
        caller: 0 <= start <= stop <= blocks of the grid); None runs them all. windows maps the
        handles of parameters bound as windows to their base offset.
        """
        cdef Ctx c
        cdef int64_t init_slot[MAX_INIT]
        cdef uint8_t init_tag[MAX_INIT]
        cdef uint64_t init_val[MAX_INIT]
        cdef uint8_t once[MAX_INIT]
        cdef int nthreads
        cdef int64_t nbufs
        memset(&c, 0, sizeof(Ctx))
        describe_launch(&c, prog, grid, block, shared_size, max_steps, init, init_slot,
                        init_tag, init_val, once)
        if block_range is not None:
            c.first_block = block_range[0]
            c.nblocks = block_range[1] - block_range[0]
        c.boundary = <uint8_t*>self.pools.p.chunks[0][0].ptr
        c.pools = &self.pools.p
        if timeout > 0:
            c.deadline = hg_now() + timeout
        if c.nblocks == 0:
            return None
        nthreads = pick_threads(&c, num_threads)
        nbufs = host.n + len(params)
        cdef uint64_t* handles = <uint64_t*>malloc(sizeof(uint64_t) * (nbufs + 1))
        cdef uint8_t** ptrs = <uint8_t**>malloc(sizeof(uint8_t*) * (nbufs + 1))
        cdef uint64_t* sizes = <uint64_t*>malloc(sizeof(uint64_t) * (nbufs + 1))
        cdef uint64_t* los = <uint64_t*>malloc(sizeof(uint64_t) * (nbufs + 1))
        cdef Worker* workers = <Worker*>calloc(nthreads, sizeof(Worker))
        try:
            if handles == NULL or ptrs == NULL or sizes == NULL or los == NULL or \
                    workers == NULL:
                raise MemoryError()
            fill_handle_table(&c, host, params, windows, handles, ptrs, sizes, los)
            self._init_workers(&c, workers, nthreads)
            with nogil:
                if nthreads == 1:
                    run_worker(&c, &workers[0])
                else:
                    with parallel(num_threads=nthreads):
                        run_thread(&c, workers, threadid())
            return collect_result(&c, workers, nthreads, resonance, timeout)
        finally:
            free(handles)
            free(ptrs)
            free(sizes)
            free(los)
            free(workers)
            self._trim()
