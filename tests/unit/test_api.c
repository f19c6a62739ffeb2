/* test_api.c: the run state machine and the error wire format shared by server and mount.
 * Every legal and a sample of illegal moves, and errno <-> HTTP <-> JSON round trips. */
#include "amlfs/api.h"
#include "amlfs/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static void test_status_words(void)
{
    const char *words[] = {"NotStarted", "Queued",          "Preparing", "Running", "Finalizing",
                           "CancelRequested", "Completed", "Failed",    "Canceled"};
    for (int i = 0; i < RUN_STATUS_COUNT; i++) {
        CHECK(strcmp(run_status_name(i), words[i]) == 0, "name of %d is %s", i, run_status_name(i));
        CHECK(run_status_parse(words[i]) == i, "parse %s", words[i]);
    }
    CHECK(run_status_parse("running") == -1, "status words are case-sensitive, as Azure ML's");
    CHECK(run_status_parse(NULL) == -1, "NULL is not a status");
    CHECK(run_status_terminal(RUN_COMPLETED) && run_status_terminal(RUN_FAILED) &&
              run_status_terminal(RUN_CANCELED), "three terminal states");
    CHECK(!run_status_terminal(RUN_CANCEL_REQUESTED), "CancelRequested is not terminal");
}

static void test_moves(void)
{
    /* The happy path, in order. */
    run_status path[] = {RUN_NOT_STARTED, RUN_QUEUED, RUN_PREPARING, RUN_RUNNING, RUN_FINALIZING,
                         RUN_COMPLETED};
    for (size_t i = 0; i + 1 < sizeof path / sizeof path[0]; i++)
        CHECK(run_status_can_move(path[i], path[i + 1]), "%s -> %s", run_status_name(path[i]),
              run_status_name(path[i + 1]));
    /* No skipping forward, no going back, nothing after the end. */
    /* A cluster's word is followed: its queue after our preparation, a requeue after a node failure. */
    CHECK(run_status_can_move(RUN_PREPARING, RUN_QUEUED), "Preparing -> Queued in a cluster's queue");
    CHECK(run_status_can_move(RUN_QUEUED, RUN_RUNNING), "Queued -> Running (seen running first)");
    CHECK(run_status_can_move(RUN_RUNNING, RUN_QUEUED), "Running -> Queued (requeued)");
    CHECK(!run_status_can_move(RUN_NOT_STARTED, RUN_RUNNING), "NotStarted is queued first");
    CHECK(!run_status_can_move(RUN_RUNNING, RUN_COMPLETED), "Running passes Finalizing first");
    for (int end = RUN_COMPLETED; end <= RUN_CANCELED; end++)
        for (int to = 0; to < RUN_STATUS_COUNT; to++)
            CHECK(!run_status_can_move(end, to), "%s is final, yet -> %s", run_status_name(end),
                  run_status_name(to));
    /* Failure and cancel from every live state. */
    for (int from = RUN_NOT_STARTED; from <= RUN_FINALIZING; from++) {
        CHECK(run_status_can_move(from, RUN_FAILED), "%s -> Failed", run_status_name(from));
        CHECK(run_status_can_move(from, RUN_CANCEL_REQUESTED), "%s -> CancelRequested",
              run_status_name(from));
    }
    CHECK(run_status_can_move(RUN_CANCEL_REQUESTED, RUN_CANCELED), "CancelRequested -> Canceled");
    CHECK(!run_status_can_move(RUN_CANCEL_REQUESTED, RUN_RUNNING), "no resuming after cancel");
    CHECK(!run_status_can_move(RUN_STATUS_COUNT, RUN_FAILED), "out of range");
}

static void test_errors(void)
{
    struct {
        int num;
        const char *name;
        int http;
    } cases[] = {{EINVAL, "EINVAL", 400}, {ENOENT, "ENOENT", 404}, {EEXIST, "EEXIST", 409},
                 {EBUSY, "EBUSY", 409},   {EACCES, "EACCES", 403}, {EROFS, "EROFS", 403},
                 {EFBIG, "EFBIG", 413},   {EIO, "EIO", 500}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECK(strcmp(api_errno_name(cases[i].num), cases[i].name) == 0, "name of %d", cases[i].num);
        CHECK(api_errno_from_name(cases[i].name) == cases[i].num, "number of %s", cases[i].name);
        CHECK(api_http_status_for(cases[i].num) == cases[i].http, "HTTP of %s", cases[i].name);
    }
    CHECK(api_errno_from_name("EWHATEVER") == EIO, "unknown names are EIO");

    /* Round trip: server side builds the body, client side reads it back. */
    amlfs_err err = {0}, back = {0};
    amlfs_fail(&err, ENOENT, "job.yaml line 4 column 10: compute 'gpu' not found (known: local)");
    cJSON *body = api_error_json(&err);
    char *text = cJSON_PrintUnformatted(body);
    CHECK(strstr(text, "\"errno\":\"ENOENT\"") && strstr(text, "\"code\":\"not_found\""), "body %s", text);
    int rc = api_error_from_body(text, 404, &back);
    CHECK(rc == -ENOENT, "round trip errno %d", rc);
    CHECK(strcmp(back.msg, err.msg) == 0, "round trip message '%s'", back.msg);
    free(text);
    cJSON_Delete(body);

    rc = api_error_from_body("<html>proxy error</html>", 404, &back);
    CHECK(rc == -ENOENT, "a body that is not ours falls back to the HTTP status");
    rc = api_error_from_body(NULL, 401, &back);
    CHECK(rc == -EACCES, "401 is EACCES");
}

static void test_wrap(void)
{
    amlfs_err err = {0};
    amlfs_fail(&err, EINVAL, "bad value");
    int rc = amlfs_wrap(&err, "environment '%s': ", "py");
    CHECK(rc == -EINVAL && strcmp(err.msg, "environment 'py': bad value") == 0, "wrap gave '%s'", err.msg);
}

static void test_names(void)
{
    amlfs_err err = {0};
    CHECK(util_check_name("experiment", "fastai", &err) == 0, "plain name");
    CHECK(util_check_name("experiment", "run-1_a.b", &err) == 0, "name with - _ .");
    CHECK(util_check_name("experiment", "bad name", &err) == -EINVAL && strstr(err.msg, "' '"),
          "space refused: %s", err.msg);
    CHECK(util_check_name("experiment", ".hidden", &err) == -EINVAL, "leading dot refused");
    CHECK(util_check_name("experiment", "", &err) == -EINVAL, "empty refused");
    CHECK(util_check_relpath("src/train.py", &err) == 0, "relative path");
    CHECK(util_check_relpath("../x", &err) == -EINVAL, ".. refused");
    CHECK(util_check_relpath("/etc/passwd", &err) == -EINVAL, "absolute refused");
    CHECK(util_check_relpath("a//b", &err) == -EINVAL, "empty part refused");
    CHECK(util_levenshtein("imagee", "image") == 1 && util_levenshtein("", "abc") == 3, "levenshtein");
}

int main(void)
{
    test_status_words();
    test_moves();
    test_errors();
    test_wrap();
    test_names();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
