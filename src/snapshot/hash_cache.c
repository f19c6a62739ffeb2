/* hash_cache.c: content hashes remembered by a file's identity and times (device, inode, size, mtime and
 * ctime to the nanosecond), as git's index and rsync do, so a resubmission reads only what changed. */
#include "amlfs/snapshot.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* 32,768 entries of ~112 bytes plus a 256 KiB bucket array: about 4 MiB at most, whatever the folders.
 * Sixteen code folders at the default 2,000-file limit fit; a data input larger than the cache only
 * churns it (LRU), its hashes being as right as without a cache. */
#define DEFAULT_CAPACITY 32768
/* A file whose mtime or ctime is this close to the moment its read began is not remembered: a write in
 * the same timestamp tick after our read would leave every field of the key as it was (git's "racy
 * clean" case). Timestamps come from the kernel's coarse clock (a tick, <= 10 ms, behind
 * CLOCK_REALTIME) on ext4/xfs/btrfs, are 1 s on ext3, HFS+ and some NFS servers and 2 s for FAT's
 * mtime: 2 s covers them all, and costs only re-reading, at the next save, a file saved < 2 s ago. */
#define DEFAULT_RACY_NS (2 * 1000000000LL)

typedef struct cache_entry {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime, ctime;
    unsigned char sha[32];
    struct cache_entry *chain;        /* next in the bucket */
    struct cache_entry *newer, *older; /* LRU list */
} cache_entry;

/* Process-wide, behind one mutex: the mount's FUSE threads save several experiments' job.yaml at once
 * and the server's request threads snapshot folders at once, all sharing one table and one LRU list.
 * It is held only to look up or insert, never while a file is read. */
static struct {
    pthread_mutex_t lock;
    cache_entry **buckets; /* allocated at the first insert */
    size_t nbuckets;       /* a power of two >= capacity */
    cache_entry *newest, *oldest;
    size_t count, capacity;
    int64_t racy_ns;
    snapshot_hash_cache_stats stats;
} cache = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .capacity = DEFAULT_CAPACITY,
    .racy_ns = DEFAULT_RACY_NS,
};

static size_t bucket_of(dev_t dev, ino_t ino)
{
    /* splitmix64's finaliser: inode numbers are dense, their low bits alone would cluster. */
    uint64_t x = (uint64_t)ino ^ ((uint64_t)dev * 0x9e3779b97f4a7c15ull);
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    x ^= x >> 31;
    return (size_t)(x & (cache.nbuckets - 1));
}

static bool same_time(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

static cache_entry **find_link(dev_t dev, ino_t ino)
{
    if (!cache.buckets)
        return NULL;
    cache_entry **p = &cache.buckets[bucket_of(dev, ino)];
    while (*p && !((*p)->dev == dev && (*p)->ino == ino))
        p = &(*p)->chain;
    return p;
}

static void lru_unlink(cache_entry *e)
{
    if (e->newer)
        e->newer->older = e->older;
    else
        cache.newest = e->older;
    if (e->older)
        e->older->newer = e->newer;
    else
        cache.oldest = e->newer;
    e->newer = e->older = NULL;
}

static void lru_push(cache_entry *e)
{
    e->older = cache.newest;
    e->newer = NULL;
    if (cache.newest)
        cache.newest->newer = e;
    cache.newest = e;
    if (!cache.oldest)
        cache.oldest = e;
}

/* Unhooks e from its bucket and the LRU list; the caller frees or reuses it. */
static void drop(cache_entry *e)
{
    cache_entry **p = find_link(e->dev, e->ino);
    if (p && *p == e)
        *p = e->chain;
    lru_unlink(e);
    cache.count--;
}

static void clear_locked(void)
{
    for (cache_entry *e = cache.newest, *next; e; e = next) {
        next = e->older;
        free(e);
    }
    free(cache.buckets);
    cache.buckets = NULL;
    cache.nbuckets = 0;
    cache.newest = cache.oldest = NULL;
    cache.count = 0;
}

static void to_hex(const unsigned char sha[32], char hex[SNAPSHOT_SHA_HEX])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[sha[i] >> 4];
        hex[2 * i + 1] = digits[sha[i] & 15];
    }
    hex[64] = '\0';
}

static int nibble(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c - 'a' + 10;
}

bool snapshot_hash_cache_lookup(const struct stat *st, char hex[SNAPSHOT_SHA_HEX])
{
    bool hit = false;
    pthread_mutex_lock(&cache.lock);
    cache_entry **p = find_link(st->st_dev, st->st_ino);
    cache_entry *e = p ? *p : NULL;
    if (e && e->size == st->st_size && same_time(&e->mtime, &st->st_mtim) && same_time(&e->ctime, &st->st_ctim)) {
        to_hex(e->sha, hex);
        lru_unlink(e);
        lru_push(e);
        hit = true;
    } else if (e) {
        drop(e); /* the file changed: its old hash will never match again */
        free(e);
    }
    if (hit)
        cache.stats.hits++;
    else
        cache.stats.misses++;
    pthread_mutex_unlock(&cache.lock);
    return hit;
}

static int64_t ns_of(const struct timespec *t)
{
    return (int64_t)t->tv_sec * 1000000000LL + t->tv_nsec;
}

int64_t snapshot_hash_cache_clock(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return ns_of(&now);
}

void snapshot_hash_cache_store(const struct stat *st, const char hex[SNAPSHOT_SHA_HEX], int64_t read_started_ns)
{
    if (!snapshot_sha_valid(hex))
        return;
    pthread_mutex_lock(&cache.lock);
    /* A time in the future (another machine's clock, touch -d) is racy too: we cannot tell its tick. */
    int64_t newest = ns_of(&st->st_mtim) > ns_of(&st->st_ctim) ? ns_of(&st->st_mtim) : ns_of(&st->st_ctim);
    if (cache.capacity == 0 || read_started_ns - newest < cache.racy_ns) {
        cache.stats.racy += cache.capacity > 0;
        pthread_mutex_unlock(&cache.lock);
        return;
    }
    if (!cache.buckets) {
        size_t n = 1;
        while (n < cache.capacity)
            n <<= 1;
        cache.buckets = calloc(n, sizeof *cache.buckets);
        if (!cache.buckets) { /* no memory: hashing goes on, uncached */
            pthread_mutex_unlock(&cache.lock);
            return;
        }
        cache.nbuckets = n;
    }
    cache_entry **p = find_link(st->st_dev, st->st_ino);
    cache_entry *e = *p;
    if (e) {
        drop(e); /* replaced below, keyed the same */
    } else if (cache.count >= cache.capacity) {
        e = cache.oldest;
        drop(e);
        cache.stats.evicted++;
    } else if ((e = malloc(sizeof *e)) == NULL) {
        pthread_mutex_unlock(&cache.lock);
        return;
    }
    memset(e, 0, sizeof *e);
    e->dev = st->st_dev;
    e->ino = st->st_ino;
    e->size = st->st_size;
    e->mtime = st->st_mtim;
    e->ctime = st->st_ctim;
    for (int i = 0; i < 32; i++)
        e->sha[i] = (unsigned char)(nibble(hex[2 * i]) << 4 | nibble(hex[2 * i + 1]));
    p = find_link(e->dev, e->ino); /* drop() may have unhooked what *p was */
    e->chain = *p;
    *p = e;
    lru_push(e);
    cache.count++;
    cache.stats.stored++;
    pthread_mutex_unlock(&cache.lock);
}

void snapshot_hash_cache_note_read(void)
{
    pthread_mutex_lock(&cache.lock);
    cache.stats.files_read++;
    pthread_mutex_unlock(&cache.lock);
}

void snapshot_hash_cache_configure(size_t capacity, int64_t racy_ns)
{
    pthread_mutex_lock(&cache.lock);
    clear_locked();
    cache.capacity = capacity;
    cache.racy_ns = racy_ns;
    memset(&cache.stats, 0, sizeof cache.stats);
    pthread_mutex_unlock(&cache.lock);
}

void snapshot_hash_cache_reset(void)
{
    snapshot_hash_cache_configure(DEFAULT_CAPACITY, DEFAULT_RACY_NS);
}

void snapshot_hash_cache_get_stats(snapshot_hash_cache_stats *out)
{
    pthread_mutex_lock(&cache.lock);
    *out = cache.stats;
    out->entries = cache.count;
    out->capacity = cache.capacity;
    pthread_mutex_unlock(&cache.lock);
}
