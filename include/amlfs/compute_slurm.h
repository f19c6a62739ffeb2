/* compute_slurm.h: the Slurm compute target: its settings (compute.yaml `type: slurm`), the REST client
 * of slurmrestd (libcurl + cJSON, API v0.0.38) and how Slurm's words map onto a run's. */
#ifndef AMLFS_COMPUTE_SLURM_H
#define AMLFS_COMPUTE_SLURM_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "amlfs/compute.h"
#include "amlfs/err.h"
#include "amlfs/spec.h"

/* The slurmrestd API this client speaks (the one Debian 12's Slurm 22.05 serves without slurmdbd). */
#define SLURM_API "v0.0.38"

/* compute.yaml of `type: slurm`, checked. Strings are malloc'd; NULL when not written. */
typedef struct slurm_config {
    char *url;                  /* slurmrestd_url: http://host:port */
    char *user_name;            /* X-SLURM-USER-NAME; default: the server's user */
    char *token_file;           /* a file holding the JWT (re-read at each request: it may be renewed) */
    char *token_command;        /* or a command printing one (`scontrol token` ...), run again on a 401 */
    char *partition;
    char *account, *qos;
    int cpus;                   /* cpus_per_task of each run (per node); 0: Slurm's default */
    long memory_mb;             /* memory_per_node of each run; 0: Slurm's default */
    long time_limit_min;        /* for runs without limits.timeout; 0: the partition's */
    char *shared_folder;        /* run folders and logs, seen at the same path by the server and nodes */
    char *amlfs_server;         /* amlfs-server on the nodes (runs the job's supervisor) */
} slurm_config;

/* The keys a slurm compute.yaml may have beyond the common ones. */
extern const char *const slurm_config_keys[];

/* Reads spec->extra into cfg; -EINVAL with the file, line and column of the first bad key or value.
 * `server_exe` is the default for amlfs_server. */
int slurm_config_parse(const compute_spec *spec, const char *filename, const char *server_exe, slurm_config *cfg,
                       amlfs_err *err);
void slurm_config_free(slurm_config *cfg);

/* One client of one slurmrestd; thread-safe (a request is its own curl handle). */
typedef struct slurm_rest slurm_rest;
slurm_rest *slurm_rest_new(const slurm_config *cfg);
void slurm_rest_free(slurm_rest *r);
/* METHOD /slurm/v0.0.38/PATH with an optional JSON body. 0 with *answer (the JSON object) for a 2xx;
 * otherwise a negative errno and one line naming what to do: -EHOSTUNREACH when slurmrestd does not
 * answer, -EACCES when it refuses the token, -ENOENT when Slurm says the object does not exist,
 * -EIO for any other error Slurm reports (its own message quoted). */
int slurm_rest_call(slurm_rest *r, const char *method, const char *path, const cJSON *body, cJSON **answer,
                    amlfs_err *err);

/* Slurm's own words in an answer ("error: description" of its first error), or "" when it has none. */
void slurm_rest_error_text(const cJSON *answer, char *buf, size_t len);
/* The number of Slurm's first error (error_code, error_number or errno), 0 when none. */
long long slurm_rest_error_code(const cJSON *answer);

/* Slurm's job_state words onto compute states; *failed_why gets the failure word for a job that
 * ended otherwise than COMPLETED or CANCELLED (NULL else). */
compute_state slurm_job_state(const char *job_state, bool *canceled, bool *timed_out, const char **failed_why);

/* The Slurm compute target. Settings are checked (not the cluster: see ops->check). */
compute *compute_slurm_new(const char *name, const compute_spec *spec, const char *filename, int max_instances,
                           const char *server_exe, amlfs_err *err);

#endif
