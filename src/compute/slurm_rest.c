/* slurm_rest.c: requests to slurmrestd (libcurl, JSON bodies with cJSON), its JWT from a token file or
 * command, and its failures turned into one line a person can act on. */
#include "amlfs/compute_slurm.h"
#include "amlfs/util.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A job listing of a busy cluster is a few MB; anything far beyond is not slurmrestd. */
#define ANSWER_LIMIT ((size_t)64 << 20)
#define TOKEN_LIMIT 16384
#define CONNECT_TIMEOUT_S 3L
#define REQUEST_TIMEOUT_S 20L

struct slurm_rest {
    char *url, *user_name, *token_file, *token_command;
    pthread_mutex_t lock;       /* guards token; never held across a request or the token command */
    char *token;                /* token_command's last answer */
};

slurm_rest *slurm_rest_new(const slurm_config *cfg)
{
    slurm_rest *r = util_xcalloc(1, sizeof *r);
    r->url = util_xstrdup(cfg->url);
    r->user_name = util_xstrdup(cfg->user_name);
    r->token_file = util_xstrdup(cfg->token_file);
    r->token_command = util_xstrdup(cfg->token_command);
    pthread_mutex_init(&r->lock, NULL);
    return r;
}

void slurm_rest_free(slurm_rest *r)
{
    if (!r)
        return;
    free(r->url);
    free(r->user_name);
    free(r->token_file);
    free(r->token_command);
    free(r->token);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

/* `scontrol token` prints "SLURM_JWT=xxx": take the value either way, without white space. */
static char *clean_token(const char *text)
{
    const char *p = text + strspn(text, " \t\r\n");
    if (strncmp(p, "SLURM_JWT=", 10) == 0)
        p += 10;
    size_t n = strcspn(p, " \t\r\n");
    char *t = util_xcalloc(1, n + 1);
    memcpy(t, p, n);
    return t;
}

static int run_token_command(slurm_rest *r, char **token, amlfs_err *err)
{
    FILE *f = popen(r->token_command, "re");
    if (!f)
        return amlfs_fail(err, errno, "cannot run token_command `%s`: %s", r->token_command, strerror(errno));
    util_buf out = {0};
    char chunk[1024];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (util_buf_append(&out, chunk, n, TOKEN_LIMIT) < 0)
            break;
    int status = pclose(f);
    int rc = 0;
    if (status != 0 || !out.data)
        rc = amlfs_fail(err, EACCES, "token_command `%s` failed (status %d) or printed nothing", r->token_command,
                        status);
    else
        *token = clean_token(out.data);
    util_buf_free(&out);
    return rc;
}

/* The token to send; fresh: re-run the command instead of using its cached answer (after a 401). */
static int get_token(slurm_rest *r, bool fresh, char **token, amlfs_err *err)
{
    *token = NULL;
    if (r->token_file) {
        char *text = NULL;
        size_t len = 0;
        int rc = util_read_file(r->token_file, &text, &len, err);
        if (rc < 0)
            return amlfs_fail(err, -rc, "cannot read token_file %s: %s", r->token_file, strerror(-rc));
        *token = clean_token(text);
        free(text);
        if (!**token) {
            free(*token);
            *token = NULL;
            return amlfs_fail(err, EACCES, "token_file %s is empty: write a Slurm JWT into it (scontrol token)",
                              r->token_file);
        }
        return 0;
    }
    pthread_mutex_lock(&r->lock);
    if (!fresh && r->token)
        *token = util_xstrdup(r->token);
    pthread_mutex_unlock(&r->lock);
    if (*token)
        return 0;
    int rc = run_token_command(r, token, err);
    if (rc == 0) {
        pthread_mutex_lock(&r->lock);
        free(r->token);
        r->token = util_xstrdup(*token);
        pthread_mutex_unlock(&r->lock);
    }
    return rc;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    size_t n = size * nmemb;
    return util_buf_append(userp, data, n, ANSWER_LIMIT) == 0 ? n : 0;
}

void slurm_rest_error_text(const cJSON *answer, char *buf, size_t len)
{
    buf[0] = '\0';
    const cJSON *errors = cJSON_GetObjectItemCaseSensitive(answer, "errors");
    const cJSON *first = cJSON_IsArray(errors) ? cJSON_GetArrayItem(errors, 0) : NULL;
    if (!first && cJSON_GetObjectItemCaseSensitive(answer, "error"))
        first = answer; /* node and partition lookups answer {error, errno} at the top */
    const cJSON *e = first ? cJSON_GetObjectItemCaseSensitive(first, "error") : NULL;
    const cJSON *d = first ? cJSON_GetObjectItemCaseSensitive(first, "description") : NULL;
    const cJSON *num = first ? cJSON_GetObjectItemCaseSensitive(first, "error_number") : NULL;
    snprintf(buf, len, "%s%s%s%s", cJSON_IsString(e) ? e->valuestring : "",
             cJSON_IsString(e) && cJSON_IsString(d) && *d->valuestring ? ": " : "",
             cJSON_IsString(d) ? d->valuestring : "",
             cJSON_IsNumber(num) && !cJSON_IsString(e) && !cJSON_IsString(d) ? "error" : "");
    for (char *p = buf; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
}

long long slurm_rest_error_code(const cJSON *answer)
{
    const cJSON *errors = cJSON_GetObjectItemCaseSensitive(answer, "errors");
    const cJSON *first = cJSON_IsArray(errors) ? cJSON_GetArrayItem(errors, 0) : NULL;
    static const char *const keys[] = {"error_code", "error_number", "errno"};
    for (size_t i = 0; first && i < sizeof keys / sizeof keys[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(first, keys[i]);
        if (cJSON_IsNumber(v))
            return (long long)v->valuedouble;
    }
    return 0;
}

/* Slurm names an unknown job, partition or node in these words. */
static bool says_not_found(const char *text)
{
    return strstr(text, "Invalid job id") || strstr(text, "not found") || strstr(text, "Unable to find") ||
           strstr(text, "Invalid partition") || strstr(text, "Invalid node");
}

static int exchange(slurm_rest *r, const char *method, const char *url, const char *body, const char *token,
                    long *status, util_buf *answer, amlfs_err *err)
{
    CURL *curl = curl_easy_init();
    if (!curl)
        return amlfs_fail(err, ENOMEM, "cannot start an HTTP request (curl)");
    char *user = util_strdupf("X-SLURM-USER-NAME: %s", r->user_name);
    char *auth = util_strdupf("X-SLURM-USER-TOKEN: %s", token);
    struct curl_slist *headers = NULL;
    headers = curl_slist_append(headers, "Accept: application/json");
    headers = curl_slist_append(headers, user);
    headers = curl_slist_append(headers, auth);
    if (body)
        headers = curl_slist_append(headers, "Content-Type: application/json");
    char curl_error[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, REQUEST_TIMEOUT_S);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_error);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, answer);
    if (body)
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    CURLcode cc = curl_easy_perform(curl);
    int rc = 0;
    if (cc != CURLE_OK)
        rc = amlfs_fail(err, EHOSTUNREACH, "slurmrestd at %s does not answer: %s", r->url,
                        curl_error[0] ? curl_error : curl_easy_strerror(cc));
    else
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    free(user);
    /* The token must not linger in freed memory longer than needed. */
    explicit_bzero(auth, strlen(auth));
    free(auth);
    return rc;
}

int slurm_rest_call(slurm_rest *r, const char *method, const char *path, const cJSON *body, cJSON **answer,
                    amlfs_err *err)
{
    *answer = NULL;
    char *url = util_strdupf("%s/slurm/" SLURM_API "/%s", r->url, path);
    char *text = body ? cJSON_PrintUnformatted(body) : NULL;
    int rc = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        char *token = NULL;
        long status = 0;
        util_buf got = {0};
        rc = get_token(r, attempt > 0, &token, err);
        if (rc == 0) {
            rc = exchange(r, method, url, text, token, &status, &got, err);
            explicit_bzero(token, strlen(token));
        }
        free(token);
        if (rc < 0) {
            util_buf_free(&got);
            break;
        }
        cJSON *json = got.data ? cJSON_Parse(got.data) : NULL;
        util_buf_free(&got);
        char slurm_says[400];
        slurm_rest_error_text(json, slurm_says, sizeof slurm_says);
        if (status == 401 || status == 403) {
            cJSON_Delete(json);
            if (r->token_command && attempt == 0)
                continue; /* the command may give a fresh token */
            rc = amlfs_fail(err, EACCES, "slurmrestd at %s refused the token of user %s (HTTP %ld): renew %s",
                            r->url, r->user_name, status,
                            r->token_file ? r->token_file : "the token (token_command)");
        } else if (status >= 200 && status < 300 && cJSON_IsObject(json)) {
            *answer = json;
            json = NULL;
        } else if (says_not_found(slurm_says)) {
            rc = amlfs_fail(err, ENOENT, "Slurm: %s", slurm_says);
        } else if (status >= 200 && status < 300) {
            rc = amlfs_fail(err, EIO, "slurmrestd at %s answered %s %s with something other than JSON", r->url,
                            method, path);
        } else if (status == 500 && (!slurm_says[0] || strncmp(slurm_says, "Unspecified error", 17) == 0)) {
            /* slurmrestd answers a token it cannot verify (garbage, expired, another cluster's) with a
             * 500 "Unspecified error"; so does a slurmctld that does not answer it. */
            rc = amlfs_fail(err, EACCES, "slurmrestd at %s failed %s %s (HTTP 500%s%s): the token %s is not "
                            "valid for this cluster (expired, or not from its `scontrol token`), or slurmctld "
                            "does not answer", r->url, method, path, slurm_says[0] ? ": " : "", slurm_says,
                            r->token_file ? r->token_file : "of token_command");
        } else {
            rc = amlfs_fail(err, EIO, "slurmrestd at %s: %s %s failed (HTTP %ld)%s%s", r->url, method, path, status,
                            slurm_says[0] ? ": " : "", slurm_says);
        }
        cJSON_Delete(json);
        break;
    }
    free(text);
    free(url);
    return rc;
}

compute_state slurm_job_state(const char *job_state, bool *canceled, bool *timed_out, const char **failed_why)
{
    *canceled = *timed_out = false;
    *failed_why = NULL;
    if (!job_state)
        return COMPUTE_UNKNOWN;
    static const struct {
        const char *word;
        compute_state state;
    } live[] = {
        {"PENDING", COMPUTE_QUEUED},      {"REQUEUED", COMPUTE_QUEUED},    {"REQUEUE_HOLD", COMPUTE_QUEUED},
        {"REQUEUE_FED", COMPUTE_QUEUED},  {"CONFIGURING", COMPUTE_PREPARING}, {"RUNNING", COMPUTE_RUNNING},
        {"SUSPENDED", COMPUTE_RUNNING},   {"STOPPED", COMPUTE_RUNNING},    {"RESIZING", COMPUTE_RUNNING},
        {"SIGNALING", COMPUTE_RUNNING},   {"STAGE_OUT", COMPUTE_FINALIZING}, {"COMPLETING", COMPUTE_FINALIZING},
    };
    for (size_t i = 0; i < sizeof live / sizeof live[0]; i++)
        if (strcmp(job_state, live[i].word) == 0)
            return live[i].state;
    if (strcmp(job_state, "COMPLETED") == 0)
        return COMPUTE_ENDED;
    if (strcmp(job_state, "CANCELLED") == 0) {
        *canceled = true;
        return COMPUTE_ENDED;
    }
    if (strcmp(job_state, "TIMEOUT") == 0 || strcmp(job_state, "DEADLINE") == 0)
        *timed_out = true;
    /* FAILED, OUT_OF_MEMORY, NODE_FAIL, BOOT_FAIL, PREEMPTED, SPECIAL_EXIT, and words of newer Slurms. */
    *failed_why = job_state;
    return COMPUTE_ENDED;
}
