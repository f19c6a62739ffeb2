/* readahead.c: a read handle's read-ahead for files that no longer change (a snapshot, a data version,
 * an ended run's outputs): a sequential reader's next block comes in one request, later reads from it. */
#include "fs_internal.h"

#include <stdlib.h>
#include <string.h>

#include "amlfs/util.h"

void readahead_init(read_block *ra)
{
    memset(ra, 0, sizeof *ra);
    pthread_mutex_init(&ra->mu, NULL);
    pthread_cond_init(&ra->fetched, NULL);
}

void readahead_free(read_block *ra)
{
    free(ra->data);
    pthread_cond_destroy(&ra->fetched);
    pthread_mutex_destroy(&ra->mu);
}

/* Whether the block holds [off, off+size), or what there is of it up to the end of the file. */
static bool holds(const read_block *ra, off_t off, size_t size)
{
    return ra->data && off >= ra->off && off <= ra->off + (off_t)ra->len &&
           (off + (off_t)size <= ra->off + (off_t)ra->len || ra->eof);
}

bool readahead_take(read_block *ra, off_t off, size_t size, char **out, size_t *len)
{
    pthread_mutex_lock(&ra->mu);
    /* The kernel reads ahead with several requests at once: those a block being fetched will hold
     * wait for it (the fetch has a deadline) rather than each asking the server again. */
    while (!holds(ra, off, size) && ra->fetching && off >= ra->fetch_off &&
           off < ra->fetch_off + (off_t)ra->fetch_len)
        pthread_cond_wait(&ra->fetched, &ra->mu);
    bool hit = holds(ra, off, size);
    if (hit) {
        size_t start = (size_t)(off - ra->off);
        size_t n = ra->len - start < size ? ra->len - start : size;
        *out = util_xcalloc(1, n + 1);
        memcpy(*out, ra->data + start, n);
        *len = n;
        ra->next = off + (off_t)n;
    }
    pthread_mutex_unlock(&ra->mu);
    return hit;
}

size_t readahead_want(read_block *ra, off_t off, size_t size)
{
    pthread_mutex_lock(&ra->mu);
    bool sequential = off == 0 || off == ra->next; /* a reader from the start, or going on */
    size_t want = sequential && !ra->fetching && size < READAHEAD_BLOCK ? READAHEAD_BLOCK : size;
    if (want > size) {
        ra->fetching = true;
        ra->fetch_off = off;
        ra->fetch_len = want;
    }
    pthread_mutex_unlock(&ra->mu);
    return want;
}

void readahead_keep(read_block *ra, off_t off, size_t asked, size_t replied, char *data, size_t len)
{
    pthread_mutex_lock(&ra->mu);
    free(ra->data);
    ra->data = data;
    ra->off = off;
    ra->len = len;
    ra->eof = len < asked;
    ra->next = off + (off_t)replied;
    ra->fetching = false;
    pthread_cond_broadcast(&ra->fetched);
    pthread_mutex_unlock(&ra->mu);
}

void readahead_went_on(read_block *ra, off_t next)
{
    pthread_mutex_lock(&ra->mu);
    ra->next = next;
    pthread_mutex_unlock(&ra->mu);
}

void readahead_failed(read_block *ra)
{
    pthread_mutex_lock(&ra->mu);
    ra->fetching = false;
    pthread_cond_broadcast(&ra->fetched);
    pthread_mutex_unlock(&ra->mu);
}
