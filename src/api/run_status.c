/* run_status.c: the run state machine, as Azure ML names the states.
 * Every status change in the server is checked against this one table. */
#include "amlfs/api.h"

#include <string.h>

static const char *const status_names[RUN_STATUS_COUNT] = {
    [RUN_NOT_STARTED] = "NotStarted",   [RUN_QUEUED] = "Queued",
    [RUN_PREPARING] = "Preparing",      [RUN_RUNNING] = "Running",
    [RUN_FINALIZING] = "Finalizing",    [RUN_CANCEL_REQUESTED] = "CancelRequested",
    [RUN_COMPLETED] = "Completed",      [RUN_FAILED] = "Failed",
    [RUN_CANCELED] = "Canceled",
};

/* moves[from] is a bit set of the states reachable in one step. Failed is reachable from every
 * non-terminal state (a compute can be lost at any point); cancel is possible until the run ends. */
#define B(s) (1u << (s))
#define ENDS (B(RUN_FAILED) | B(RUN_CANCEL_REQUESTED) | B(RUN_CANCELED))
static const unsigned moves[RUN_STATUS_COUNT] = {
    [RUN_NOT_STARTED] = B(RUN_QUEUED) | ENDS,
    /* A run handed to a cluster waits in its queue (Queued), may be set up there (Preparing), and can
     * be seen first running or already ending: the engine's word is followed in every direction. */
    [RUN_QUEUED] = B(RUN_PREPARING) | B(RUN_RUNNING) | B(RUN_FINALIZING) | ENDS,
    [RUN_PREPARING] = B(RUN_QUEUED) | B(RUN_RUNNING) | B(RUN_FINALIZING) | ENDS,
    /* Queued again: the engine requeued it (a node failed). */
    [RUN_RUNNING] = B(RUN_QUEUED) | B(RUN_FINALIZING) | ENDS,
    [RUN_FINALIZING] = B(RUN_COMPLETED) | ENDS,
    /* A job that ends on its own while being cancelled still records how it ended. */
    [RUN_CANCEL_REQUESTED] = B(RUN_FINALIZING) | B(RUN_CANCELED) | B(RUN_FAILED) | B(RUN_COMPLETED),
    [RUN_COMPLETED] = 0,
    [RUN_FAILED] = 0,
    [RUN_CANCELED] = 0,
};

const char *run_status_name(run_status s)
{
    return (unsigned)s < RUN_STATUS_COUNT ? status_names[s] : "Unknown";
}

int run_status_parse(const char *word)
{
    for (int i = 0; word && i < RUN_STATUS_COUNT; i++)
        if (strcmp(word, status_names[i]) == 0)
            return i;
    return -1;
}

bool run_status_terminal(run_status s)
{
    return s == RUN_COMPLETED || s == RUN_FAILED || s == RUN_CANCELED;
}

bool run_status_can_move(run_status from, run_status to)
{
    if ((unsigned)from >= RUN_STATUS_COUNT || (unsigned)to >= RUN_STATUS_COUNT)
        return false;
    return (moves[from] & B(to)) != 0;
}
