/* fetch.h: data inputs given as https:// URLs, fetched by the server with libcurl into a cache keyed by
 * URL and kept valid by the server's validators (ETag, Last-Modified), so a second run downloads nothing. */
#ifndef AMLFS_FETCH_H
#define AMLFS_FETCH_H

#include <stdbool.h>
#include <stdint.h>

#include "amlfs/err.h"

/* What one fetch did, for the run's log and the tests. */
typedef struct fetch_result {
    bool downloaded;            /* false: the cached copy was still valid (304) */
    uint64_t bytes;             /* the file's size */
    long http_status;           /* the answer's status (200 or 304) */
} fetch_result;

/* Brings URL into CACHE_DIR (created as needed) and copies it to DEST (a new file, mode 0444). The body
 * streams to disk (no size limit in memory); at most max_bytes are accepted. Errors name the URL: the HTTP
 * status for an answer other than 200/304 (-ENOENT for 404, -EACCES for 401/403, -EIO otherwise), the
 * transfer's failure (-EHOSTUNREACH). Safe from several threads; one URL is fetched by one at a time. */
int fetch_url(const char *cache_dir, const char *url, const char *dest, uint64_t max_bytes, fetch_result *out,
              amlfs_err *err);

/* The file name a URL's path ends with ("data.csv" for https://h/x/data.csv?sig=1), or "data" when it has
 * none; malloc'd. Only letters, digits, '.', '-', '_' are kept. */
char *fetch_url_basename(const char *url);

#endif
