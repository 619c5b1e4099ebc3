/* Part of _correlate.c (one translation unit): handing finished rows out.
 *
 * drain() returns, as columns(), the rows that are closed and removes them,
 * keeping the rest (open frames, suspended generators) renumbered. Call ids
 * never change, so rows drained at different times join on them. Completed
 * top-level calls waiting to be adopted are handed out too and stop being
 * adoptable: a start-unseen return adopts only what finished since the last
 * drain (correlate.py). With everything=True (after finish()) every row goes. */


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
    /* the drained rows, in order, written straight into the bytes objects handed
     * out (columns() format): each column sized once, copied in runs of rows */
    size_t nleave = 0;
    for (size_t r = 0; r < n; r++)
        nleave += !keep[r];
    PyObject *result = PyDict_New();
    for (int c = 0; c <= NCOLS && result; c++) {
        size_t width = c < NCOLS ? sizeof(int64_t) : 1;
        PyObject *b = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(nleave * width));
        if (!b || PyDict_SetItemString(result, c < NCOLS ? COLNAMES[c] : "status", b) < 0) {
            Py_XDECREF(b);
            Py_CLEAR(result);
            break;
        }
        char *dst = PyBytes_AS_STRING(b);
        const char *src = c < NCOLS ? (const char *)e->cols[c].v : (const char *)e->status;
        for (size_t r = 0; r < n;) {
            if (keep[r]) {
                r++;
                continue;
            }
            size_t end = r;
            while (end < n && !keep[end])
                end++;
            memcpy(dst, src + r * width, (end - r) * width);
            dst += (end - r) * width;
            r = end;
        }
        Py_DECREF(b);
    }
    if (result) {
        size_t nkeep = 0;
        for (size_t r = 0; r < n; r++) {
            if (keep[r]) {
                newrow[r] = (int64_t)nkeep;
                for (int c = 0; c < NCOLS; c++)
                    e->cols[c].v[nkeep] = e->cols[c].v[r];
                e->status[nkeep++] = e->status[r];
            }
        }
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
        (void)threads_compact(e);  /* without memory for it, the table stays as it is */
    }
    free(keep);
    free(newrow);
    return result;
}
