/* test_compute_slurm.c: the Slurm compute's pure parts: its compute.yaml keys (with positions in every
 * refusal), how Slurm's job states read, and the distributed shape a job file asks for. The REST calls
 * are tested against a real slurmrestd in tests/e2e/test_slurm.sh. */
#include "amlfs/compute_slurm.h"
#include "amlfs/spec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static const char base[] = "name: c\ntype: slurm\nslurmrestd_url: http://127.0.0.1:6820/\ntoken_file: /t\n"
                           "partition: debug\nshared_folder: /shared/amlfs/\n";

/* Parses base + extra; returns the parse result, with the config in cfg (freed by the caller). */
static int parse(const char *extra, slurm_config *cfg, amlfs_err *err)
{
    char *text = malloc(strlen(base) + strlen(extra) + 1);
    strcpy(text, base);
    strcat(text, extra);
    compute_spec spec;
    int rc = spec_parse_compute(text, strlen(text), "compute.yaml", &spec, err);
    if (rc == 0)
        rc = slurm_config_parse(&spec, "compute.yaml", "/usr/bin/amlfs-server", cfg, err);
    spec_compute_free(&spec);
    free(text);
    return rc;
}

static void test_config(void)
{
    slurm_config cfg;
    amlfs_err err = {0};
    CHECK(parse("cpus: 4\nmemory: 2G\ntime_limit: 1:30:00\naccount: ml\nqos: high\n", &cfg, &err) == 0,
          "a full config: %s", err.msg);
    CHECK(cfg.cpus == 4 && cfg.memory_mb == 2048 && cfg.time_limit_min == 90, "numbers: %d %ld %ld", cfg.cpus,
          cfg.memory_mb, cfg.time_limit_min);
    CHECK(strcmp(cfg.url, "http://127.0.0.1:6820") == 0, "trailing slash of the url dropped: %s", cfg.url);
    CHECK(strcmp(cfg.shared_folder, "/shared/amlfs") == 0, "trailing slash of the folder dropped");
    CHECK(strcmp(cfg.amlfs_server, "/usr/bin/amlfs-server") == 0, "amlfs_server defaults to the server's path");
    CHECK(cfg.user_name && cfg.user_name[0], "user_name defaults to the server's user");
    slurm_config_free(&cfg);

    static const struct {
        const char *extra, *expect;
    } bad[] = {
        {"memroy: 4G\n", "line 7 column 9: unknown key 'memroy' for a slurm compute (did you mean 'memory'?)"},
        {"gres: gpu:1\n", "unknown key 'gres' for a slurm compute (known beyond the common keys: slurmrestd_url"},
        {"memory: lots\n", "line 7 column 9: memory must be a size for each run like 512M"},
        {"cpus: 0\n", "cpus must be a whole number of CPUs for each run, from 1"},
        {"time_limit: 1:99\n", "time_limit must be minutes (90) or HH:MM:SS"},
        {"token_command: scontrol token\n", "write either token_file or token_command, not both"},
        {"amlfs_server: amlfs-server\n", "amlfs_server must be the absolute path of amlfs-server on the nodes"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        amlfs_err why = {0};
        CHECK(parse(bad[i].extra, &cfg, &why) == -EINVAL && strstr(why.msg, bad[i].expect), "[%s]: %s",
              bad[i].extra, why.msg);
    }
    compute_spec spec;
    amlfs_err why = {0};
    const char *no_folder = "name: c\ntype: slurm\nslurmrestd_url: http://h:1\ntoken_file: /t\npartition: p\n";
    CHECK(spec_parse_compute(no_folder, strlen(no_folder), "compute.yaml", &spec, &why) == 0, "parse");
    CHECK(slurm_config_parse(&spec, "compute.yaml", "/x", &cfg, &why) == -EINVAL &&
              strstr(why.msg, "a slurm compute needs 'shared_folder'"), "missing folder: %s", why.msg);
    spec_compute_free(&spec);
}

static void test_job_states(void)
{
    static const struct {
        const char *word;
        compute_state state;
        bool canceled, timed_out, failed;
    } cases[] = {
        {"PENDING", COMPUTE_QUEUED, false, false, false},     {"CONFIGURING", COMPUTE_PREPARING, false, false, false},
        {"RUNNING", COMPUTE_RUNNING, false, false, false},    {"COMPLETING", COMPUTE_FINALIZING, false, false, false},
        {"COMPLETED", COMPUTE_ENDED, false, false, false},    {"CANCELLED", COMPUTE_ENDED, true, false, false},
        {"TIMEOUT", COMPUTE_ENDED, false, true, true},        {"OUT_OF_MEMORY", COMPUTE_ENDED, false, false, true},
        {"NODE_FAIL", COMPUTE_ENDED, false, false, true},     {"FAILED", COMPUTE_ENDED, false, false, true},
        {"REQUEUED", COMPUTE_QUEUED, false, false, false},    {"SOMETHING_NEW", COMPUTE_ENDED, false, false, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool canceled, timed_out;
        const char *failed_why;
        compute_state s = slurm_job_state(cases[i].word, &canceled, &timed_out, &failed_why);
        CHECK(s == cases[i].state && canceled == cases[i].canceled && timed_out == cases[i].timed_out &&
                  (failed_why != NULL) == cases[i].failed,
              "%s -> %d %d %d %s", cases[i].word, s, canceled, timed_out, failed_why ? failed_why : "-");
    }
    bool c, t;
    const char *f;
    CHECK(slurm_job_state(NULL, &c, &t, &f) == COMPUTE_UNKNOWN, "no state word: unknown");
}

static void test_ranks(void)
{
    static const struct {
        const char *yaml;
        int rc, nodes, per_node;
        const char *message;
    } cases[] = {
        {"command: x\nenvironment: e\n", 0, 1, 1, NULL},
        {"command: x\nenvironment: e\nresources: {instance_count: 2}\ndistribution: {type: pytorch, "
         "process_count_per_instance: 4}\n", 0, 2, 4, NULL},
        {"command: x\nenvironment: e\nresources: {instance_count: 2}\ndistribution: {type: tensorflow, "
         "worker_count: 6}\n", 0, 2, 3, NULL},
        {"command: x\nenvironment: e\nresources: {instance_count: 4}\ndistribution: {type: tensorflow, "
         "worker_count: 6}\n", -EINVAL, 0, 0, "worker_count 6 cannot be spread evenly over instance_count 4"},
        {"command: x\nenvironment: e\ndistribution: {type: tensorflow, worker_count: 2, parameter_server_count: 1}\n",
         -EINVAL, 0, 0, "parameter servers"},
        {"command: x\nenvironment: e\ndistribution: {type: ray}\n", -EINVAL, 0, 0, "line 3 column 15: distribution "
                                                                                   "type ray is not supported here"},
        {"command: x\nenvironment: e\ndistribution: {type: mpi, process_count_per_instance: 3}\n", 0, 1, 3, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        job_spec job;
        amlfs_err err = {0};
        int nodes = 0, per_node = 0;
        int rc = spec_parse_job(cases[i].yaml, strlen(cases[i].yaml), "job.yaml", &job, &err);
        CHECK(rc == 0, "parse %zu: %s", i, err.msg);
        if (rc < 0)
            continue;
        rc = spec_job_ranks(&job, "job.yaml", &nodes, &per_node, &err);
        CHECK(rc == cases[i].rc, "case %zu: rc %d: %s", i, rc, err.msg);
        if (rc == 0)
            CHECK(nodes == cases[i].nodes && per_node == cases[i].per_node, "case %zu: %d x %d", i, nodes, per_node);
        else
            CHECK(strstr(err.msg, cases[i].message), "case %zu: %s", i, err.msg);
        spec_job_free(&job);
    }
    const char *huge = "command: x\nenvironment: e\ndistribution: {type: pytorch, process_count_per_instance: 100000}\n";
    job_spec job;
    amlfs_err err = {0};
    CHECK(spec_parse_job(huge, strlen(huge), "job.yaml", &job, &err) == -EINVAL && strstr(err.msg, "256"),
          "a bound on ranks: %s", err.msg);
}

static void test_ignored_provisioning_keys(void)
{
    const char *yaml = "name: c\ntype: amlcompute\nsize: STANDARD_D2\nmin_instances: 0\nmax_instances: 4\n"
                       "idle_time_before_scale_down: 120\nlocation: westeurope\nidentity: {type: system_assigned}\n";
    compute_spec spec;
    amlfs_err err = {0};
    CHECK(spec_parse_compute(yaml, strlen(yaml), "compute.yaml", &spec, &err) == 0, "parse: %s", err.msg);
    const char *expect[] = {"size", "min_instances", "idle_time_before_scale_down", "location", "identity"};
    CHECK(spec.ignored.count == 5, "ignored keys: %zu", spec.ignored.count);
    for (size_t i = 0; i < spec.ignored.count && i < 5; i++)
        CHECK(strcmp(spec.ignored.items[i].key, expect[i]) == 0, "ignored %zu: %s", i, spec.ignored.items[i].key);
    spec_compute_free(&spec);
}

int main(void)
{
    test_config();
    test_job_states();
    test_ranks();
    test_ignored_provisioning_keys();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
