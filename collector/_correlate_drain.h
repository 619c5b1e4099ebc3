/* Part of _correlate.c (one translation unit): handing finished rows out.
 *
 * drain() returns, as columns(), the rows that are closed and removes them,
 * keeping the rest (open frames, suspended generators) renumbered. Call ids
 * never change, so rows drained at different times join on them. Completed
 * top-level calls waiting to be adopted are handed out too and stop being
 * adoptable: a start-unseen return adopts only what finished since the last
 * drain (correlate.py). With everything=True (after finish()) every row goes. */

static PyObject *engine_columns(Engine *e, PyObject *unused);

static PyObject *engine_drain(Engine *e, PyObject *args)
{
    int everything = 0;
    if (!PyArg_ParseTuple(args, "|p", &everything))
        return NULL;
    size_t n = e->nstatus;
    uint8_t *keep = calloc(n + 1, 1);
    int64_t *newrow = malloc((n + 1) * sizeof(int64_t));
    if (!keep || !newrow) {
        free(keep);
        free(newrow);
        return PyErr_NoMemory();
    }
    if (!everything)
        for (size_t r = 0; r < n; r++)
            keep[r] = e->status[r] == S_OPEN;
    /* the drained rows, in order, as a temporary engine view for columns() */
    Engine out = *e;
    Col cols[NCOLS] = {{0}};
    int8_t *status = malloc(n + 1);
    int failed = !status;
    for (int c = 0; c < NCOLS && !failed; c++)
        for (size_t r = 0; r < n && !failed; r++)
            if (!keep[r] && col_push(&cols[c], e->cols[c].v[r]) < 0)
                failed = 1;
    size_t nout = 0, nkeep = 0;
    for (size_t r = 0; r < n && !failed; r++) {
        if (keep[r]) {
            newrow[r] = (int64_t)nkeep;
            for (int c = 0; c < NCOLS; c++)
                e->cols[c].v[nkeep] = e->cols[c].v[r];
            e->status[nkeep++] = e->status[r];
        } else {
            status[nout++] = e->status[r];
        }
    }
    PyObject *result = NULL;
    if (!failed) {
        for (int c = 0; c < NCOLS; c++)
            e->cols[c].n = nkeep;
        e->nstatus = nkeep;
        for (size_t i = 0; i < e->tcap; i++) {
            Thread *t = &e->threads[i];
            if (!t->key)
                continue;
            for (size_t k = 0; k < t->n; k++)
                t->frames[k].row = newrow[t->frames[k].row];
            t->nroots = 0;
        }
        for (size_t j = 0; j < e->scap; j++)
            if (e->susp[j].key > 1)
                e->susp[j].frame.row = newrow[e->susp[j].frame.row];
        memcpy(out.cols, cols, sizeof(cols));
        out.status = status;
        out.nstatus = nout;
        result = engine_columns(&out, NULL);
    } else {
        PyErr_NoMemory();
    }
    for (int c = 0; c < NCOLS; c++)
        free(cols[c].v);
    free(status);
    free(keep);
    free(newrow);
    return result;
}
