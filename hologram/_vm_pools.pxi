# Part of hologram/_core.pyx (included): the pool table of ISA.md §4.4.

# ---------------------------------------------------------------------------------------------
# Pools: the table of one backend's pools, which lanes of a running launch grow, shrink and read.
#
# An id is (generation << POOL_SLOT_BITS) | slot. Slots of released pools are reused (a free
# list) with their generation incremented, so the table holds at most as many slots as pools
# were ever live at once, an id is never handed out twice and a stale id stays invalid
# (ISA.md §4.4); a slot whose generation reaches max_generation is retired. Slot 0 is the
# boundary pool. Entries live in chunks that never move.
#
# One spin lock guards the table and every access to pool memory by the VM's lanes (exec_pool
# takes it once per group) and by host copies, so a pool freed by a lane is released at once:
# no other thread can still hold its pointer. A free by the host while a launch runs (from a
# signal handler) defers the release to the end of the launch (release_deferred), because the
# reference interpreter reads pools through views taken without the lock.
#
# Quota: a pool counts size + POOL_OVERHEAD bytes (its bookkeeping) from its allocation until
# its memory is released; an allocation that would take the total beyond the quota fails
# before any memory is asked for.

# hot: begin
cdef enum:
    POOL_CHUNK_BITS = 10
    POOL_CHUNK = 1 << 10
    POOL_SLOT_BITS = 26
    POOL_MAX_CHUNKS = 1 << 16     # (1 << POOL_SLOT_BITS) / POOL_CHUNK
    POOL_EMPTY = 0                # never used, or on the free list
    POOL_LIVE = 1
    POOL_FREED = 2                # freed by the host during a launch: released after it
    POOL_RESERVED = 3             # being allocated (its memory is not there yet)
    POOL_RETIRED = 4              # generation exhausted: never used again
    POOL_OVERHEAD = 128           # bytes each pool counts besides its size (entry, malloc)

cdef uint64_t POOL_SLOT_MASK = (<uint64_t>1 << POOL_SLOT_BITS) - 1
cdef uint64_t POOL_MAX_SIZE = <uint64_t>1 << 48
cdef uint64_t POOL_MAX_GEN = (<uint64_t>1 << (64 - POOL_SLOT_BITS)) - 1

cdef struct PoolEntry:
    uint8_t* ptr
    uint64_t size
    uint64_t gen                  # generation of the slot's current (or last) pool
    int64_t next_free             # the next slot of the free list, -1 at its end
    int state

cdef struct PoolsC:
    PoolEntry** chunks
    int64_t nslots                # slots handed out so far (the table's size)
    int64_t free_head             # first slot of the free list, -1 if it is empty
    uint64_t max_gen
    uint64_t used                 # bytes charged against the quota
    uint64_t quota
    int lock
    int64_t* pending              # slots freed by the host during a launch, not yet released
    int64_t npending, cap_pending


cdef inline void pools_lock(PoolsC* p) noexcept nogil:
    cdef int spins = 0
    while hg_cas32(&p.lock, 0, 1) != 0:
        spins += 1
        if spins < 2000:
            hg_spin_pause()
        else:                     # more threads than cores: let the holder run
            hg_sleep_us(20)


cdef inline void pools_unlock(PoolsC* p) noexcept nogil:
    hg_atomic_store_int(&p.lock, 0)


cdef inline PoolEntry* pools_entry(PoolsC* p, int64_t slot) noexcept nogil:
    return &p.chunks[slot >> POOL_CHUNK_BITS][slot & (POOL_CHUNK - 1)]


cdef inline PoolEntry* pools_get(PoolsC* p, uint64_t pid) noexcept nogil:
    """The live entry of a pool id, or NULL (hold the lock, or be the only thread)."""
    cdef uint64_t slot = pid & POOL_SLOT_MASK
    if slot >= <uint64_t>p.nslots:
        return NULL
    cdef PoolEntry* e = pools_entry(p, <int64_t>slot)
    if e.state != POOL_LIVE or e.gen != pid >> POOL_SLOT_BITS:
        return NULL
    return e


cdef uint8_t* pools_release(PoolsC* p, int64_t slot) noexcept nogil:
    """Lock held: put a pool's slot back (or retire it); returns the memory to free()."""
    cdef PoolEntry* e = pools_entry(p, slot)
    cdef uint8_t* mem = e.ptr
    p.used -= e.size + POOL_OVERHEAD
    e.ptr = NULL
    e.size = 0
    if e.gen >= p.max_gen:
        e.state = POOL_RETIRED
    else:
        e.state = POOL_EMPTY
        e.next_free = p.free_head
        p.free_head = slot
    return mem


cdef uint64_t pools_alloc(PoolsC* p, uint64_t size, int* over_quota) noexcept nogil:
    """Allocate a zero-filled pool; its id, or 0 if the quota, memory or slots ran out
    (*over_quota tells the first)."""
    cdef uint64_t charge = size + POOL_OVERHEAD
    cdef int64_t slot
    cdef PoolEntry* e
    cdef PoolEntry* chunk
    cdef uint8_t* mem
    over_quota[0] = 0
    if size > POOL_MAX_SIZE:
        return 0
    pools_lock(p)
    if p.used > p.quota or charge > p.quota - p.used:
        pools_unlock(p)
        over_quota[0] = 1
        return 0
    if p.free_head >= 0:                       # reuse a released slot, one generation on
        slot = p.free_head
        e = pools_entry(p, slot)
        p.free_head = e.next_free
        e.gen += 1
    else:
        slot = p.nslots
        if slot >= (<int64_t>1 << POOL_SLOT_BITS):
            pools_unlock(p)
            return 0
        if p.chunks[slot >> POOL_CHUNK_BITS] == NULL:
            chunk = <PoolEntry*>calloc(POOL_CHUNK, sizeof(PoolEntry))
            if chunk == NULL:
                pools_unlock(p)
                return 0
            p.chunks[slot >> POOL_CHUNK_BITS] = chunk
        p.nslots += 1
        e = pools_entry(p, slot)
        e.gen = 0
    e.state = POOL_RESERVED
    e.size = 0
    p.used += charge
    pools_unlock(p)
    mem = <uint8_t*>calloc(size if size else 1, 1)     # outside the lock: may take long
    pools_lock(p)
    if mem == NULL:
        e.size = size              # pools_release takes back size + POOL_OVERHEAD
        pools_release(p, slot)
        pools_unlock(p)
        return 0
    e.ptr = mem
    e.size = size
    e.state = POOL_LIVE
    pools_unlock(p)
    return (e.gen << POOL_SLOT_BITS) | <uint64_t>slot


cdef int pools_free(PoolsC* p, uint64_t pid, int defer) noexcept nogil:
    """Free a pool: release its memory now, or (defer) after the running launch. 0 if the id
    is not a live pool or is pool 0."""
    cdef PoolEntry* e
    cdef int64_t* grown
    cdef int64_t slot = <int64_t>(pid & POOL_SLOT_MASK)
    cdef uint8_t* mem
    if pid == 0:
        return 0
    pools_lock(p)
    e = pools_get(p, pid)
    if e == NULL:
        pools_unlock(p)
        return 0
    if not defer:
        mem = pools_release(p, slot)
        pools_unlock(p)
        free(mem)
        return 1
    e.state = POOL_FREED
    if p.npending == p.cap_pending:
        grown = <int64_t*>malloc(sizeof(int64_t) * (p.cap_pending * 2 + 16))
        if grown != NULL:
            if p.pending != NULL:
                memcpy(grown, p.pending, sizeof(int64_t) * p.npending)
                free(p.pending)
            p.pending = grown
            p.cap_pending = p.cap_pending * 2 + 16
    if p.npending < p.cap_pending:   # else the memory stays allocated until the table dies
        p.pending[p.npending] = slot
        p.npending += 1
    pools_unlock(p)
    return 1


# hot: end


POOL_MAX_GENERATION = POOL_MAX_GEN


cdef class PoolTable:
    """The pools of one backend (ISA.md §4.4); pool 0 is the boundary pool array given.

    ``quota``: the bytes pools may hold (each counts its size + 128); ``max_generation``: how
    often a slot is reused before it is retired (smaller values are for tests).
    """
    cdef PoolsC p
    cdef object boundary

    def __cinit__(self, boundary, uint64_t quota=0xFFFFFFFFFFFFFFFFULL,
                  uint64_t max_generation=POOL_MAX_GENERATION):
        cdef uint8_t[::1] mv = boundary
        self.boundary = boundary
        self.p.chunks = <PoolEntry**>calloc(POOL_MAX_CHUNKS, sizeof(PoolEntry*))
        if self.p.chunks == NULL:
            raise MemoryError("cannot allocate the pool table")
        self.p.chunks[0] = <PoolEntry*>calloc(POOL_CHUNK, sizeof(PoolEntry))
        if self.p.chunks[0] == NULL:
            raise MemoryError("cannot allocate the pool table")
        self.p.chunks[0][0].ptr = &mv[0]
        self.p.chunks[0][0].size = mv.shape[0]
        self.p.chunks[0][0].state = POOL_LIVE
        self.p.nslots = 1
        self.p.free_head = -1
        self.p.quota = quota
        self.p.max_gen = min(max_generation, POOL_MAX_GEN)

    def __dealloc__(self):
        cdef int64_t slot
        cdef PoolEntry* e
        if self.p.chunks == NULL:
            return
        for slot in range(1, self.p.nslots):
            e = pools_entry(&self.p, slot)
            if e.state == POOL_LIVE or e.state == POOL_FREED:
                free(e.ptr)
        for slot in range(POOL_MAX_CHUNKS):
            free(self.p.chunks[slot])
        free(self.p.chunks)
        free(self.p.pending)

    @property
    def quota(self):
        """Bytes the pools may hold together (each pool counts its size + 128)."""
        return self.p.quota

    @quota.setter
    def quota(self, uint64_t nbytes):
        pools_lock(&self.p)
        self.p.quota = nbytes
        pools_unlock(&self.p)

    @property
    def used(self):
        """Bytes charged against the quota: pools allocated and not yet released."""
        return self.p.used

    def alloc(self, uint64_t size):
        """Allocate a zero-filled pool of ``size`` bytes: its id; 0 if memory or slots ran
        out, -1 if the quota would be exceeded."""
        cdef int over
        cdef uint64_t pid = pools_alloc(&self.p, size, &over)
        return -1 if over else pid

    def free(self, uint64_t pid, bint defer=False):
        """Free a pool (``defer``: release its memory only at release_deferred, for a free
        while a launch runs); False if the id is not a live pool or is 0."""
        return bool(pools_free(&self.p, pid, defer))

    def release_deferred(self):
        """Release the memory of pools freed with ``defer`` (call when no launch runs)."""
        cdef int64_t k
        pools_lock(&self.p)
        for k in range(self.p.npending):
            free(pools_release(&self.p, self.p.pending[k]))
        self.p.npending = 0
        pools_unlock(&self.p)

    def view(self, uint64_t pid):
        """A writable uint8 numpy view of a live pool, or None. Only for callers no lane can
        race with (the reference interpreter): lanes of the VM release freed pools at once."""
        cdef PoolEntry* e = pools_get(&self.p, pid)
        if e == NULL:
            return None
        if pid == 0:
            return self.boundary
        if e.size == 0:
            return np.zeros(0, np.uint8)
        return np.asarray(<uint8_t[:e.size]>e.ptr)

    def size(self, uint64_t pid):
        """The size of a live pool, or -1."""
        pools_lock(&self.p)
        cdef PoolEntry* e = pools_get(&self.p, pid)
        cdef int64_t n = -1 if e == NULL else <int64_t>e.size
        pools_unlock(&self.p)
        return n

    cdef bint _copy(self, uint64_t pid, uint64_t offset, uint8_t* data, uint64_t n,
                    bint to_pool):
        cdef PoolEntry* e
        pools_lock(&self.p)
        e = pools_get(&self.p, pid)
        cdef bint ok = e != NULL and offset <= e.size and n <= e.size - offset
        if ok and n:
            if to_pool:
                memcpy(e.ptr + offset, data, n)
            else:
                memcpy(data, e.ptr + offset, n)
        pools_unlock(&self.p)
        return ok

    def write(self, uint64_t pid, uint64_t offset, const uint8_t[::1] data):
        """Copy ``data`` into a live pool at ``offset`` under the table's lock (a lane of a
        running launch may free the pool meanwhile); False if the pool is gone or too small."""
        cdef uint64_t n = data.shape[0]
        return self._copy(pid, offset, <uint8_t*>&data[0] if n else NULL, n, True)

    def read(self, uint64_t pid, uint64_t offset, uint8_t[::1] out):
        """Fill ``out`` from a live pool at ``offset``, as :meth:`write`."""
        cdef uint64_t n = out.shape[0]
        return self._copy(pid, offset, &out[0] if n else NULL, n, False)

    def __len__(self):
        """Slots of the table: the boundary pool and every pool ever live at the same time."""
        return self.p.nslots
