/* throttle.h: when the monitor tells of a change that may keep coming (a log's growth, new metric
 * lines): at once after a quiet spell, at most once per window during a burst, the last change always. */
#ifndef AMLFS_SERVER_THROTTLE_H
#define AMLFS_SERVER_THROTTLE_H

#include <stdbool.h>
#include <stdint.h>

/* A burst of log writes is told at most this often: a reader following the log waits at most this long
 * after a line (plus its own round trip), while a job writing 100k lines/s makes 250 events/s, not 100k. */
#define LOG_WINDOW_MS 4
/* Each metrics read is a store transaction: a step's metrics logged now and then are read at once, a
 * stream of them in batches. */
#define METRICS_WINDOW_MS 20

typedef struct throttle {
    int64_t sent_ms;            /* when it was last told (a monotonic clock); see throttle_init */
    bool pending;               /* a change not told yet */
} throttle;

/* Nothing told yet, so the first change is told at once; pending as given (a change may have come while
 * nobody watched). */
void throttle_init(throttle *t, bool pending);
/* A change happened. */
void throttle_note(throttle *t);
/* Whether a pending change is to be told at now (then it counts as told at now); if not, *wait_ms is
 * how long until it is (-1: nothing pending). */
bool throttle_due(throttle *t, int64_t now_ms, int64_t window_ms, int64_t *wait_ms);
/* Told at now whatever the window (the monitor's sweep reads every run's metrics). */
void throttle_told(throttle *t, int64_t now_ms);

#endif
