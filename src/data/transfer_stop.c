/* transfer_stop.c: a libcurl transfer of the server (an input's download, a blob's) that ends early when
 * its thread's work was given up (util_thread_should_stop: a run canceled while it is prepared). */
#include "transfer_stop.h"

#include "amlfs/util.h"

/* curl calls this many times a second; the question is asked at most every STOP_LOOK_MS. */
#define STOP_LOOK_MS 250

typedef struct stop_look {
    int64_t next_ms;
} stop_look;

static _Thread_local stop_look look;

static int on_progress(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    (void)ctx, (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    int64_t now = util_mono_ms();
    if (now < look.next_ms)
        return 0;
    look.next_ms = now + STOP_LOOK_MS;
    return util_thread_should_stop() ? 1 : 0; /* non-zero: CURLE_ABORTED_BY_CALLBACK */
}

void data_curl_stoppable(CURL *h)
{
    look.next_ms = 0;
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, NULL);
}
