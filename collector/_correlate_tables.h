/* Part of _correlate.c (one translation unit): storage — growable int64
 * columns, the per-thread table and the suspended-generator table (open
 * addressing; the latter with tombstones). */

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, c * size);
    if (!q)
        return -1;
    *p = q;
    *cap = c;
    return 0;
}

static uint64_t mix(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return k;
}

static Thread *thread_get(Engine *e, uint64_t key)
{
    if (e->tcount * 2 >= e->tcap) {
        size_t ncap = e->tcap ? e->tcap * 2 : 64;
        Thread *nt = calloc(ncap, sizeof(Thread));
        if (!nt)
            return NULL;
        for (size_t i = 0; i < e->tcap; i++) {
            if (!e->threads[i].key)
                continue;
            size_t j = mix(e->threads[i].key) & (ncap - 1);
            while (nt[j].key)
                j = (j + 1) & (ncap - 1);
            nt[j] = e->threads[i];
        }
        free(e->threads);
        e->threads = nt;
        e->tcap = ncap;
    }
    size_t j = mix(key) & (e->tcap - 1);
    while (e->threads[j].key && e->threads[j].key != key)
        j = (j + 1) & (e->tcap - 1);
    if (!e->threads[j].key) {
        e->threads[j].key = key;
        e->tcount++;
    }
    return &e->threads[j];
}

/* suspended generators: open addressing with tombstones */
static Suspended *susp_find(Engine *e, uint64_t key)
{
    if (!e->scap)
        return NULL;
    size_t j = mix(key) & (e->scap - 1);
    for (size_t probes = 0; probes < e->scap; probes++) {
        if (e->susp[j].key == 0)
            return NULL;
        if (e->susp[j].key == key)
            return &e->susp[j];
        j = (j + 1) & (e->scap - 1);
    }
    return NULL;
}

static int susp_put(Engine *e, uint64_t key, Frame *f)
{
    if ((e->scount + 1) * 2 >= e->scap) {
        size_t ncap = e->scap ? e->scap * 2 : 64;
        Suspended *ns = calloc(ncap, sizeof(Suspended));
        if (!ns)
            return -1;
        for (size_t i = 0; i < e->scap; i++) {
            if (e->susp[i].key <= 1)
                continue;
            size_t j = mix(e->susp[i].key) & (ncap - 1);
            while (ns[j].key)
                j = (j + 1) & (ncap - 1);
            ns[j] = e->susp[i];
        }
        free(e->susp);
        e->susp = ns;
        e->scap = ncap;
        size_t live = 0;
        for (size_t i = 0; i < ncap; i++)
            live += ns[i].key > 1;
        e->scount = live;
    }
    Suspended *old = susp_find(e, key);
    if (old) {
        old->frame = *f;
        return 0;
    }
    size_t j = mix(key) & (e->scap - 1);
    while (e->susp[j].key > 1)
        j = (j + 1) & (e->scap - 1);
    e->susp[j].key = key;
    e->susp[j].frame = *f;
    e->scount++;
    return 0;
}

/* Forget the threads whose stack is empty (at a drain, when no root waits to
 * be adopted either): such an entry carries nothing a new one would not, and a
 * target that starts and ends threads for ever would otherwise grow the table
 * (and a frames array each) without bound. The table shrinks to fit. */
static int threads_compact(Engine *e)
{
    size_t live = 0;
    for (size_t i = 0; i < e->tcap; i++)
        live += e->threads[i].key && (e->threads[i].n || e->threads[i].nroots);
    if (live == e->tcount)
        return 0;
    size_t ncap = 64;
    while (ncap < live * 4)
        ncap *= 2;
    Thread *nt = calloc(ncap, sizeof(Thread));
    if (!nt)
        return -1;
    for (size_t i = 0; i < e->tcap; i++) {
        Thread *t = &e->threads[i];
        if (!t->key)
            continue;
        if (!t->n && !t->nroots) {
            free(t->frames);
            free(t->roots);
            continue;
        }
        size_t j = mix(t->key) & (ncap - 1);
        while (nt[j].key)
            j = (j + 1) & (ncap - 1);
        nt[j] = *t;
    }
    free(e->threads);
    e->threads = nt;
    e->tcap = ncap;
    e->tcount = live;
    return 0;
}

/* (pid << 32 | code) keys whose first line is in first_line already: the dict
 * is asked once per code object, not once per call. Open addressing; a slot
 * holds key + 1 (0: empty). 1: seen before, 0: new (now noted), 2: new but
 * max_lines are held (not noted: its first line is not kept), -1: no memory. */
static int line_seen(Engine *e, uint64_t key)
{
    if (e->lcount >= e->max_lines) {
        uint64_t slot = key + 1;
        if (!e->lcap)
            return 2;
        size_t j = mix(slot) & (e->lcap - 1);
        while (e->lines[j] && e->lines[j] != slot)
            j = (j + 1) & (e->lcap - 1);
        return e->lines[j] ? 1 : 2;
    }
    if ((e->lcount + 1) * 2 >= e->lcap) {
        size_t ncap = e->lcap ? e->lcap * 2 : 256;
        uint64_t *nl = calloc(ncap, sizeof(uint64_t));
        if (!nl)
            return -1;
        for (size_t i = 0; i < e->lcap; i++) {
            if (!e->lines[i])
                continue;
            size_t j = mix(e->lines[i]) & (ncap - 1);
            while (nl[j])
                j = (j + 1) & (ncap - 1);
            nl[j] = e->lines[i];
        }
        free(e->lines);
        e->lines = nl;
        e->lcap = ncap;
    }
    uint64_t slot = key + 1;
    size_t j = mix(slot) & (e->lcap - 1);
    while (e->lines[j] && e->lines[j] != slot)
        j = (j + 1) & (e->lcap - 1);
    if (e->lines[j])
        return 1;
    e->lines[j] = slot;
    e->lcount++;
    return 0;
}
