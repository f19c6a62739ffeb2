/* api.h: the wire format shared by amlfs-server and amlfs (docs/api.md): run status words and the
 * legal moves between them, and how an error travels (HTTP status, code, symbolic errno). */
#ifndef AMLFS_API_H
#define AMLFS_API_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "amlfs/err.h"

#define AMLFS_API_VERSION "v1"
#define AMLFS_VERSION "0.1.0"

typedef enum run_status {
    RUN_NOT_STARTED = 0,
    RUN_QUEUED,
    RUN_PREPARING,
    RUN_RUNNING,
    RUN_FINALIZING,
    RUN_CANCEL_REQUESTED,
    RUN_COMPLETED,
    RUN_FAILED,
    RUN_CANCELED,
    RUN_STATUS_COUNT
} run_status;

const char *run_status_name(run_status s);
/* -1 when the word is not a status word. */
int run_status_parse(const char *word);
bool run_status_terminal(run_status s);
/* Whether a run may move from `from` to `to` (the table in api/run_status.c is the state machine). */
bool run_status_can_move(run_status from, run_status to);

/* Symbolic errno <-> number ("EINVAL" <-> EINVAL); unknown names map to EIO, unknown numbers to "EIO". */
int api_errno_from_name(const char *name);
const char *api_errno_name(int errnum);
/* HTTP status and short code for an errno (EINVAL -> 400 "invalid"; see docs/api.md). */
int api_http_status_for(int errnum);
const char *api_code_for(int errnum);

/* {"error": {"code", "errno", "message"}} for err (caller frees). */
cJSON *api_error_json(const amlfs_err *err);
/* Fill err from an error body; returns the negative errno. Falls back to the HTTP status. */
int api_error_from_body(const char *body, long http_status, amlfs_err *err);

#endif
