/* throttle.c: the rule that spaces a run's announcements (throttle.h): a leading edge, so a line written
 * now and then is told within the monitor's wake-up time, and a window that only a burst ever waits on. */
#include "throttle.h"

#include <limits.h>

void throttle_init(throttle *t, bool pending)
{
    t->sent_ms = INT64_MIN / 2; /* long ago, whatever the clock's origin, with no overflow in sent + window */
    t->pending = pending;
}

void throttle_note(throttle *t)
{
    t->pending = true;
}

bool throttle_due(throttle *t, int64_t now_ms, int64_t window_ms, int64_t *wait_ms)
{
    *wait_ms = -1;
    if (!t->pending)
        return false;
    int64_t due = t->sent_ms + window_ms;
    if (due > now_ms) {
        *wait_ms = due - now_ms;
        return false;
    }
    t->pending = false;
    t->sent_ms = now_ms;
    return true;
}

void throttle_told(throttle *t, int64_t now_ms)
{
    t->pending = false;
    t->sent_ms = now_ms;
}
