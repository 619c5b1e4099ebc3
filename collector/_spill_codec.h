/* The spill's codec: a run of ring records (struct scope_event) written as
 * each record's difference from the one before it, so a flood's records take
 * a few bytes each instead of 32 and the spill keeps up with a target that
 * writes faster than the disk takes raw records (issue 15; zlib's fastest
 * level runs at ~300 MB/s on one core here, slower than the records come, and
 * lz4/zstd are not on these machines).
 *
 * Per record: one byte saying which fields changed (bit 0 pid, 1 tid, 2 code,
 * 3 line, 4 kind, 5 flags, 6 arg; bit 7 is never set), the time's difference
 * as a zigzag varint of 64 bits, then each changed field's difference as a
 * zigzag varint of 32 bits, in bit order. The first record of a run is coded
 * against zeros: a run decodes alone. A run that would not come out smaller
 * is written raw (the caller tells the two apart by size: raw is 32 bytes per
 * record, encoded always fewer).
 *
 * The spill is a file in the recording's folder: the decoder checks every
 * byte against the end of the input and every value against its field's
 * width, and a run must decode to exactly its count of records using exactly
 * its bytes. */
#ifndef SCOPE_SPILL_CODEC_H
#define SCOPE_SPILL_CODEC_H

#include <stdint.h>
#include <string.h>

#include "scope_events.h"

#define SPILL_RECORD_MAX 46   /* 1 + 10 + 7 x 5: the longest a record can encode to */

static inline uint8_t *spill_put(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

static inline uint64_t spill_zz64(uint64_t diff)
{
    return (diff << 1) ^ (uint64_t)((int64_t)diff >> 63);
}

static inline uint32_t spill_zz32(uint32_t diff)
{
    return (diff << 1) ^ (uint32_t)((int32_t)diff >> 31);
}

/* n records at src encoded into dst; the size written, always less than cap,
 * or 0 when the encoding would not be (the caller writes the run raw) */
static size_t spill_encode(const char *src, uint64_t n, uint8_t *dst, size_t cap)
{
    struct scope_event prev, e;
    memset(&prev, 0, sizeof(prev));
    uint8_t tmp[SPILL_RECORD_MAX];
    uint8_t *p = dst, *end = dst + (cap ? cap - 1 : 0);
    for (uint64_t i = 0; i < n; i++) {
        /* near the end, a record is encoded aside and kept only if it fits */
        uint8_t *start = (size_t)(end - p) >= SPILL_RECORD_MAX ? p : tmp, *q = start;
        memcpy(&e, src + i * sizeof(e), sizeof(e));
        uint32_t now[7] = {e.pid, e.tid, e.code, (uint32_t)e.line, e.kind, e.flags, (uint32_t)e.arg};
        uint32_t was[7] = {prev.pid, prev.tid, prev.code, (uint32_t)prev.line, prev.kind, prev.flags,
                           (uint32_t)prev.arg};
        uint8_t *tag = q++;
        *tag = 0;
        q = spill_put(q, spill_zz64(e.ts - prev.ts));
        for (int f = 0; f < 7; f++)
            if (now[f] != was[f]) {
                *tag |= (uint8_t)(1u << f);
                q = spill_put(q, spill_zz32(now[f] - was[f]));
            }
        size_t k = (size_t)(q - start);
        if (start == tmp) {
            if (k > (size_t)(end - p))
                return 0;
            memcpy(p, tmp, k);
        }
        p += k;
        prev = e;
    }
    return (size_t)(p - dst);
}

/* a varint of at most `bits` bits at *p (before end); 0 when it runs past end or is wider */
static inline int spill_get(const uint8_t **p, const uint8_t *end, int bits, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < bits; shift += 7) {   /* 5 bytes for 32 bits, 10 for 64 */
        if (*p >= end)
            return 0;
        uint8_t b = *(*p)++;
        if (shift == 63 && b > 1)
            return 0;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            if (bits < 64 && v >> bits)
                return 0;
            *out = v;
            return 1;
        }
    }
    return 0;
}

/* len bytes at src back into n records at dst; 0 when they are not exactly n
 * encoded records */
static int spill_decode(const uint8_t *src, size_t len, uint64_t n, char *dst)
{
    struct scope_event e;
    memset(&e, 0, sizeof(e));
    const uint8_t *p = src, *end = src + len;
    for (uint64_t i = 0; i < n; i++) {
        if (p >= end || *p & 0x80)
            return 0;
        uint8_t tag = *p++;
        uint64_t u;
        if (!spill_get(&p, end, 64, &u))
            return 0;
        e.ts += (u >> 1) ^ (0 - (u & 1));
        uint32_t v[7] = {e.pid, e.tid, e.code, (uint32_t)e.line, e.kind, e.flags, (uint32_t)e.arg};
        for (int f = 0; f < 7; f++)
            if (tag & (1u << f)) {
                if (!spill_get(&p, end, 32, &u))
                    return 0;
                v[f] += (uint32_t)((u >> 1) ^ (0 - (u & 1)));
            }
        if (v[4] > 0xFFFF || v[5] > 0xFFFF)
            return 0;
        e.pid = v[0];
        e.tid = v[1];
        e.code = v[2];
        e.line = (int32_t)v[3];
        e.kind = (uint16_t)v[4];
        e.flags = (uint16_t)v[5];
        e.arg = (int32_t)v[6];
        memcpy(dst + i * sizeof(e), &e, sizeof(e));
    }
    return p == end;
}

#endif
