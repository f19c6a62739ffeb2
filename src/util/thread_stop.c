/* thread_stop.c: whether the work of the calling thread has been given up (util_thread_set_stop): a
 * per-thread question, asked by long transfers as they go, so a canceled run's download ends early. */
#include "amlfs/util.h"

/* Per thread, so no lock: only the thread itself sets and reads them. */
static _Thread_local util_stop_fn thread_stop;
static _Thread_local void *thread_stop_ctx;

void util_thread_set_stop(util_stop_fn stop, void *ctx)
{
    thread_stop = stop;
    thread_stop_ctx = ctx;
}

bool util_thread_should_stop(void)
{
    return thread_stop && thread_stop(thread_stop_ctx);
}
