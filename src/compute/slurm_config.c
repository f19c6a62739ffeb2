/* slurm_config.c: the keys of a `type: slurm` compute.yaml (where slurmrestd is, how to authenticate,
 * what each run asks of the cluster, the shared folder), checked with the position of each value. */
#include "amlfs/compute_slurm.h"
#include "amlfs/util.h"

#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

const char *const slurm_config_keys[] = {
    "slurmrestd_url", "user_name", "token_file", "token_command", "partition", "account", "qos", "cpus",
    "memory", "time_limit", "shared_folder", "amlfs_server", NULL,
};

/* The largest per-run request that makes sense: beyond it a typo is more likely than a machine. */
#define MAX_CPUS 100000
#define MAX_MEMORY_MB (1024L * 1024 * 1024) /* 1 PiB */
#define MAX_TIME_LIMIT_MIN (366L * 24 * 60)

static const char *config_key_hint(void)
{
    return "slurmrestd_url, user_name, token_file or token_command, partition, account, qos, cpus, memory, "
           "time_limit, shared_folder, amlfs_server";
}

/* "4G", "512M", "1024" (megabytes, as Slurm's --mem), "1T". */
static int parse_memory_mb(const char *text, long *mb)
{
    char *end = NULL;
    errno = 0;
    long n = strtol(text, &end, 10);
    if (errno || end == text || n <= 0)
        return -EINVAL;
    long scale = 1;
    if (*end) {
        switch (*end) {
        case 'M': case 'm': scale = 1; break;
        case 'G': case 'g': scale = 1024; break;
        case 'T': case 't': scale = 1024L * 1024; break;
        default: return -EINVAL;
        }
        if (end[1] && strcasecmp(end + 1, "b") != 0 && strcasecmp(end + 1, "ib") != 0)
            return -EINVAL;
    }
    if (n > MAX_MEMORY_MB / scale)
        return -ERANGE;
    *mb = n * scale;
    return 0;
}

/* Minutes, as a whole number or Slurm's [D-]HH:MM:SS / MM:SS forms. */
static int parse_minutes(const char *text, long *minutes)
{
    long n;
    if (spec_parse_long_text(text, &n) == 0) {
        if (n < 1 || n > MAX_TIME_LIMIT_MIN)
            return -ERANGE;
        *minutes = n;
        return 0;
    }
    long days = 0, parts[3] = {0, 0, 0};
    int count = 0;
    const char *p = text;
    const char *dash = strchr(text, '-');
    if (dash) {
        char *end;
        days = strtol(text, &end, 10);
        if (end != dash || days < 0)
            return -EINVAL;
        p = dash + 1;
    }
    while (*p && count < 3) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > 59 * (count == 0 ? 1000 : 1))
            return -EINVAL;
        parts[count++] = v;
        if (*end == ':')
            p = end + 1;
        else if (*end == '\0')
            p = end;
        else
            return -EINVAL;
    }
    if (*p || count < 2)
        return -EINVAL;
    long seconds = count == 3 ? parts[0] * 3600 + parts[1] * 60 + parts[2] : parts[0] * 60 + parts[1];
    seconds += days * 86400;
    long m = (seconds + 59) / 60;
    if (m < 1 || m > MAX_TIME_LIMIT_MIN)
        return -ERANGE;
    *minutes = m;
    return 0;
}

static char *current_user(void)
{
    struct passwd pw, *found = NULL;
    char buf[1024];
    if (getpwuid_r(geteuid(), &pw, buf, sizeof buf, &found) == 0 && found)
        return util_xstrdup(found->pw_name);
    return util_strdupf("%u", (unsigned)geteuid());
}

static int need(const char *value, const char *key, const char *filename, const compute_spec *spec,
                const char *example, amlfs_err *err)
{
    if (value && *value)
        return 0;
    return spec_fail_at(err, EINVAL, filename, spec->type_pos,
                        "a slurm compute needs '%s' (for example `%s: %s`)", key, key, example);
}

static int take_value(const spec_kv *kv, slurm_config *cfg, const char *filename, amlfs_err *err)
{
    char **strings[] = {&cfg->url, &cfg->user_name, &cfg->token_file, &cfg->token_command, &cfg->partition,
                        &cfg->account, &cfg->qos, NULL, NULL, NULL, &cfg->shared_folder, &cfg->amlfs_server};
    size_t i = 0;
    while (slurm_config_keys[i] && strcmp(slurm_config_keys[i], kv->key))
        i++;
    if (!slurm_config_keys[i]) {
        const char *close = spec_closest(kv->key, slurm_config_keys);
        if (close)
            return spec_fail_at(err, EINVAL, filename, kv->pos, "unknown key '%s' for a slurm compute (did you "
                                "mean '%s'?)", kv->key, close);
        return spec_fail_at(err, EINVAL, filename, kv->pos, "unknown key '%s' for a slurm compute (known "
                            "beyond the common keys: %s)", kv->key, config_key_hint());
    }
    const char *v = kv->value ? kv->value : "";
    if (strings[i]) {
        if (strchr(v, '\n'))
            return spec_fail_at(err, EINVAL, filename, kv->pos, "'%s' must be one line", kv->key);
        free(*strings[i]);
        *strings[i] = *v ? util_xstrdup(v) : NULL;
        return 0;
    }
    long n = 0;
    if (strcmp(kv->key, "cpus") == 0) {
        if (spec_parse_long_text(v, &n) < 0 || n < 1 || n > MAX_CPUS)
            return spec_fail_at(err, EINVAL, filename, kv->pos, "cpus must be a whole number of CPUs for each "
                                "run, from 1 to %d, not '%s'", MAX_CPUS, v);
        cfg->cpus = (int)n;
    } else if (strcmp(kv->key, "memory") == 0) {
        if (parse_memory_mb(v, &cfg->memory_mb) < 0)
            return spec_fail_at(err, EINVAL, filename, kv->pos, "memory must be a size for each run like 512M, "
                                "4G or 1T (a bare number is megabytes, as Slurm's --mem), not '%s'", v);
    } else if (parse_minutes(v, &cfg->time_limit_min) < 0) {
        return spec_fail_at(err, EINVAL, filename, kv->pos, "time_limit must be minutes (90) or HH:MM:SS "
                            "(1:30:00), at most 366 days, not '%s'", v);
    }
    return 0;
}

int slurm_config_parse(const compute_spec *spec, const char *filename, const char *server_exe, slurm_config *cfg,
                       amlfs_err *err)
{
    memset(cfg, 0, sizeof *cfg);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < spec->extra.count; i++)
        rc = take_value(&spec->extra.items[i], cfg, filename, err);
    if (rc == 0)
        rc = need(cfg->url, "slurmrestd_url", filename, spec, "http://slurm-head:6820", err);
    if (rc == 0 && strncmp(cfg->url, "http://", 7) != 0 && strncmp(cfg->url, "https://", 8) != 0)
        rc = spec_fail_at(err, EINVAL, filename, spec->type_pos,
                          "slurmrestd_url must start with http:// or https://, not '%s'", cfg->url);
    if (rc == 0)
        rc = need(cfg->partition, "partition", filename, spec, "debug", err);
    if (rc == 0)
        rc = need(cfg->shared_folder, "shared_folder", filename, spec, "/shared/amlfs", err);
    if (rc == 0 && cfg->shared_folder[0] != '/')
        rc = spec_fail_at(err, EINVAL, filename, spec->type_pos,
                          "shared_folder must be an absolute path that the server and every node see, not '%s'",
                          cfg->shared_folder);
    if (rc == 0 && !cfg->token_file == !cfg->token_command)
        rc = spec_fail_at(err, EINVAL, filename, spec->type_pos,
                          cfg->token_file ? "write either token_file or token_command, not both"
                                          : "a slurm compute needs token_file (a file holding a Slurm JWT, e.g. "
                                            "from `scontrol token`) or token_command (a command printing one)");
    if (rc == 0 && !cfg->user_name)
        cfg->user_name = current_user();
    if (rc == 0 && !cfg->amlfs_server)
        cfg->amlfs_server = util_xstrdup(server_exe ? server_exe : "amlfs-server");
    if (rc == 0 && cfg->amlfs_server[0] != '/')
        rc = spec_fail_at(err, EINVAL, filename, spec->type_pos,
                          "amlfs_server must be the absolute path of amlfs-server on the nodes, not '%s'",
                          cfg->amlfs_server);
    /* Trailing slashes would make every run folder path differ from what the nodes are told. */
    for (size_t n = rc == 0 ? strlen(cfg->url) : 0; n > 0 && cfg->url[n - 1] == '/'; n--)
        cfg->url[n - 1] = '\0';
    for (size_t n = rc == 0 ? strlen(cfg->shared_folder) : 0; n > 1 && cfg->shared_folder[n - 1] == '/'; n--)
        cfg->shared_folder[n - 1] = '\0';
    if (rc < 0)
        slurm_config_free(cfg);
    return rc;
}

void slurm_config_free(slurm_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->url);
    free(cfg->user_name);
    free(cfg->token_file);
    free(cfg->token_command);
    free(cfg->partition);
    free(cfg->account);
    free(cfg->qos);
    free(cfg->shared_folder);
    free(cfg->amlfs_server);
    memset(cfg, 0, sizeof *cfg);
}
