# Part of hologram/_core.pyx (included): the pool table of ISA.md §4.4.

# ---------------------------------------------------------------------------------------------
# Pools: a table that lanes of a running launch can grow and read without locks.
#
# Pool ids are dense (1, 2, 3 ...; 0 is the boundary pool), so an id indexes the table directly.
# Entries live in fixed-size chunks that never move: readers check `id < count` (acquire) and
# the entry's state. Allocation and free take a small spin lock (they are rare); memory of pools
# freed during a launch is released only after it (release_deferred), so racing readers are safe.

# hot: begin
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


# hot: end


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
