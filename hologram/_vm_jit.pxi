# Part of hologram/_core.pyx (included): the native tier's launch loop. A compiled block
# function (hologram/jit/codegen.py) runs every lane of one block; this loop claims chunks of
# blocks from the same atomic counter as the VM (run_worker), polls Ctrl-C / timeouts between
# blocks (and the compiled code calls hg_jit_poll inside long blocks), and keeps each thread's
# lowest faulting lane exactly as the VM does, so faults, skipping of blocks after a fault and
# interrupts behave alike. Kept apart from the VM's loop so that each can change its thread
# policy on its own.

ctypedef int (*jit_block_fn)(JitFrame* f, int64_t block) noexcept nogil

# hot: begin
cdef struct JitFrame:
    # The field order is hologram/jit/codegen.py's FRAME: 8-byte fields only.
    uint64_t* regs               # register rows: nrows x Lp (canonical contents)
    uint8_t* preds               # predicate rows: npreds x Lp (0 unset, 1 false, 2 true)
    int32_t* pc                  # Lp pcs (0x7FFFFFFF: done)
    const uint64_t* params       # parameter register values, in signature order
    const uint64_t* buf_handle   # the sorted handle table (as Ctx)
    uint8_t** buf_ptr
    const uint64_t* buf_size
    const uint64_t* buf_lo
    int64_t nbufs
    uint8_t* boundary
    int64_t gx, gy, gz
    int64_t fault_gid, fault_code, fault_pc
    int64_t fault_detail[5]
    int64_t budget
    uint64_t max_steps           # the launch's max_steps (code compiled to count steps)
    # not seen by compiled code
    Ctx* c
    Worker* w


cdef int jit_poll(JitFrame* f) noexcept nogil:
    """Called by compiled code when its budget runs out: 1 if the launch must stop."""
    f.budget = POLL_LANE_STEPS
    return poll(f.c, f.w)


cdef void jit_run_worker(Ctx* c, JitFrame* f, jit_block_fn fn) noexcept nogil:
    """run_worker with a compiled block function."""
    cdef int64_t start, b, stop
    while True:
        start = hg_fetch_add_i64(&c.next_block, c.chunk)
        if start >= c.nblocks:
            return
        stop = start + c.chunk
        if stop > c.nblocks:
            stop = c.nblocks
        for b in range(c.first_block + start, c.first_block + stop):
            f.budget -= c.L
            if f.budget <= 0 and jit_poll(f):
                return
            if hg_atomic_load_int(&c.abort):
                return
            if b > hg_atomic_load_i64(&c.min_fault_block):
                return
            if fn(f, b):
                return
            if f.fault_gid >= 0:
                hg_atomic_min_i64(&c.min_fault_block, b)
                return


cdef void jit_run_thread(Ctx* c, JitFrame* frames, int tid, jit_block_fn fn) noexcept nogil:
    """run_thread with a compiled block function."""
    cdef JitFrame* f = &frames[tid]
    cdef int spins = 0
    if tid == 0:
        hg_fetch_add_int(&c.active, omp_get_num_threads() - c.nthreads)
    jit_run_worker(c, f, fn)
    hg_fetch_add_int(&c.active, -1)
    if tid != 0:
        return
    while hg_atomic_load_int(&c.active) > 0:
        if hg_now() >= f.w.next_signal_check:
            check_signals(c, f.w)
        if spins < 2000:
            hg_spin_pause()
            spins += 1
        else:
            hg_sleep_us(100)
# hot: end


def jit_poll_address():
    """The address of the C function compiled code calls to poll Ctrl-C / timeouts."""
    return <uint64_t><void*>jit_poll


def jit_frame_fields():
    """The byte offsets of JitFrame's fields that compiled code reads (checked against
    hologram/jit/codegen.py's FRAME at import)."""
    cdef JitFrame f
    cdef size_t base = <size_t>&f
    return {"regs": <size_t>&f.regs - base, "gx": <size_t>&f.gx - base,
            "fault_gid": <size_t>&f.fault_gid - base,
            "d0": <size_t>&f.fault_detail[0] - base, "budget": <size_t>&f.budget - base,
            "max_steps": <size_t>&f.max_steps - base}


def run_jit(uint64_t fn_address, int64_t nrows, int64_t npreds, int64_t Lp, tuple grid,
            tuple block, HostTable host, list params, list param_values, int num_threads,
            object boundary, double timeout=0, tuple block_range=None, dict windows=None,
            object max_steps=None):
    """Run a compiled block function over a launch's blocks.

    nrows, npreds, Lp: the register rows, predicate rows and padded lanes of its scratch;
    params: bound arrays as (handle, address, nbytes) (as Engine.run); param_values: the
    parameter registers' values in signature order; max_steps: for code compiled to count
    steps. Returns None or the lowest fault as (code, global lane, pc, d0 .. d4), as
    Engine.run.
    """
    cdef Ctx c
    cdef int nthreads, t
    cdef int64_t nbufs, k
    cdef size_t total
    cdef jit_block_fn fn = <jit_block_fn><void*>fn_address
    if fn_address == 0:
        raise ValueError("no compiled function")
    memset(&c, 0, sizeof(Ctx))
    c.gx, c.gy, c.gz = grid
    c.Bx, c.By, c.Bz = block
    c.L = c.Bx * c.By * c.Bz
    c.nblocks = c.gx * c.gy * c.gz
    c.min_fault_block = 0x7FFFFFFFFFFFFFFF
    if block_range is not None:
        c.first_block = block_range[0]
        c.nblocks = block_range[1] - block_range[0]
    if timeout > 0:
        c.deadline = hg_now() + timeout
    if c.nblocks == 0:
        return None
    nthreads = pick_threads(&c, num_threads)
    nbufs = host.n + len(params)
    total = _round64(8 * nrows * Lp) + _round64(npreds * Lp) + _round64(4 * Lp) + 64
    cdef uint64_t* handles = <uint64_t*>malloc(sizeof(uint64_t) * (nbufs + 1))
    cdef uint8_t** ptrs = <uint8_t**>malloc(sizeof(uint8_t*) * (nbufs + 1))
    cdef uint64_t* sizes = <uint64_t*>malloc(sizeof(uint64_t) * (nbufs + 1))
    cdef uint64_t* los = <uint64_t*>malloc(sizeof(uint64_t) * (nbufs + 1))
    cdef uint64_t* pvals = <uint64_t*>malloc(sizeof(uint64_t) * (len(param_values) + 1))
    cdef Worker* workers = <Worker*>calloc(nthreads, sizeof(Worker))
    cdef JitFrame* frames = <JitFrame*>calloc(nthreads, sizeof(JitFrame))
    cdef uint8_t** mem = <uint8_t**>calloc(nthreads, sizeof(uint8_t*))
    cdef uint8_t* base
    cdef JitFrame* f
    try:
        if handles == NULL or ptrs == NULL or sizes == NULL or los == NULL or pvals == NULL \
                or workers == NULL or frames == NULL or mem == NULL:
            raise MemoryError()
        fill_handle_table(&c, host, params, windows, handles, ptrs, sizes, los)
        c.boundary = <uint8_t*><uint64_t>array_address(boundary)[0]
        for k in range(len(param_values)):
            pvals[k] = <uint64_t>(param_values[k] & 0xFFFFFFFFFFFFFFFF)
        for t in range(nthreads):
            mem[t] = <uint8_t*>calloc(total, 1)
            if mem[t] == NULL:
                raise MemoryError(f"cannot allocate {total} bytes of scratch memory")
            base = <uint8_t*>_round64(<size_t>mem[t])
            f = &frames[t]
            f.regs = <uint64_t*>base
            f.preds = base + _round64(8 * nrows * Lp)
            f.pc = <int32_t*>(f.preds + _round64(npreds * Lp))
            f.params = pvals
            f.buf_handle = c.buf_handle
            f.buf_ptr = c.buf_ptr
            f.buf_size = c.buf_size
            f.buf_lo = c.buf_lo
            f.nbufs = c.nbufs
            f.boundary = c.boundary
            f.gx, f.gy, f.gz = c.gx, c.gy, c.gz
            f.fault_gid = -1
            f.budget = POLL_LANE_STEPS
            f.max_steps = max_steps if max_steps is not None else 0
            f.c = &c
            f.w = &workers[t]
            workers[t].fault_gid = -1
            workers[t].is_master = t == 0
            workers[t].budget = POLL_LANE_STEPS
            workers[t].next_signal_check = hg_now() + SIGNAL_INTERVAL
        with nogil:
            if nthreads == 1:
                jit_run_worker(&c, &frames[0], fn)
            else:
                with parallel(num_threads=nthreads):
                    jit_run_thread(&c, frames, threadid(), fn)
        for t in range(nthreads):
            f = &frames[t]
            workers[t].fault_gid = f.fault_gid
            workers[t].fault_code = f.fault_code
            workers[t].fault_pc = f.fault_pc
            for k in range(5):
                workers[t].fault_detail[k] = f.fault_detail[k]
        return collect_result(&c, workers, nthreads, None, timeout)
    finally:
        if mem != NULL:
            for t in range(nthreads):
                free(mem[t])
        free(mem)
        free(handles)
        free(ptrs)
        free(sizes)
        free(los)
        free(pvals)
        free(workers)
        free(frames)
