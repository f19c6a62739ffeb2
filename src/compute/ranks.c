/* ranks.c: a distributed run's ranks on one node: where they stand (node rank, master address and port),
 * each rank's environment (torch env://, Open MPI/PMI, TF_CONFIG), and the "[rank N] " line prefixing. */
#include "amlfs/compute_local.h"
#include "amlfs/util.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DEFAULT_MASTER_ADDR "127.0.0.1"
/* Every node of a Slurm job derives the same port from the job id, in [SLURM_PORT_BASE, 2 * BASE). */
#define SLURM_PORT_BASE 20000
/* The most variables compute_rank_env sets (7 common, 8 for mpi or 1 for tensorflow). */
#define RANK_ENV_MAX 16

static const char *const known_distributions[] = {"pytorch", "mpi", "tensorflow", NULL};

bool compute_launch_distributed(const compute_launch *launch)
{
    return launch->distribution || launch->nodes > 1 || launch->per_node > 1;
}

/* A whole decimal number in [0, max]; false for anything else (empty, sign, trailing text). */
static bool parse_number(const char *text, long max, long *out)
{
    if (!text || *text < '0' || *text > '9')
        return false;
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || *end || v > max)
        return false;
    *out = v;
    return true;
}

static bool is_set(const char *value)
{
    return value && *value;
}

static int check_distribution(const char *distribution, amlfs_err *err)
{
    if (!distribution)
        return 0;
    for (size_t i = 0; known_distributions[i]; i++)
        if (strcmp(distribution, known_distributions[i]) == 0)
            return 0;
    return amlfs_fail(err, EINVAL, "distribution type '%.100s' cannot be started by the local compute "
                      "(it starts pytorch, mpi and tensorflow)", distribution);
}

/* SLURM_NODEID when it is a number: the supervisor runs as node K's task of a Slurm job. */
static int find_node_rank(int nodes, int *out, amlfs_err *err)
{
    long id = 0;
    *out = 0;
    if (!parse_number(getenv("SLURM_NODEID"), 1L << 30, &id))
        return 0;
    if (id >= nodes)
        return amlfs_fail(err, EINVAL, "SLURM_NODEID is %ld but the run has %d node%s; ask Slurm for as "
                          "many nodes as resources.instance_count", id, nodes, nodes == 1 ? "" : "s");
    *out = (int)id;
    return 0;
}

/* Asks the kernel for a port nobody listens on now (bind 127.0.0.1:0), so two local runs never collide. */
static int free_loopback_port(int *port, amlfs_err *err)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return amlfs_fail(err, errno, "cannot open a socket to find a free MASTER_PORT: %s", strerror(errno));
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    int rc = 0;
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) < 0)
        rc = amlfs_fail(err, errno, "cannot find a free MASTER_PORT on 127.0.0.1: %s", strerror(errno));
    else
        *port = ntohs(addr.sin_port);
    close(fd);
    return rc;
}

/* AMLFS_MASTER_PORT, else one every node of a Slurm job agrees on, else a free loopback port.
 * `extra` more ports must fit above it (tensorflow's workers use MASTER_PORT + 1 + local rank). */
static int choose_master_port(int extra, int *port, amlfs_err *err)
{
    const char *given = getenv("AMLFS_MASTER_PORT");
    long v = 0;
    if (is_set(given)) {
        if (!parse_number(given, 65535 - extra, &v) || v < 1)
            return amlfs_fail(err, EINVAL, "AMLFS_MASTER_PORT must be a port number from 1 to %d, "
                              "not '%.40s'", 65535 - extra, given);
        *port = (int)v;
        return 0;
    }
    if (parse_number(getenv("SLURM_JOB_ID"), LONG_MAX, &v)) {
        *port = SLURM_PORT_BASE + (int)(v % SLURM_PORT_BASE);
        return 0;
    }
    int rc = free_loopback_port(port, err);
    if (rc == 0 && *port > 65535 - extra)
        rc = amlfs_fail(err, EADDRINUSE, "the free port %d leaves no room for %d more above it; set "
                        "AMLFS_MASTER_PORT", *port, extra);
    return rc;
}

/* AMLFS_NODE_HOSTS ("host0,host1,...") when it names at least `nodes` hosts, else `fallback` for all. */
static char **node_hosts(int nodes, const char *fallback)
{
    char **hosts = util_xcalloc((size_t)nodes + 1, sizeof *hosts);
    char *list = util_xstrdup(getenv("AMLFS_NODE_HOSTS"));
    int found = 0;
    char *save = NULL;
    for (char *tok = list ? strtok_r(list, ", ", &save) : NULL; tok && found < nodes;
         tok = strtok_r(NULL, ", ", &save))
        hosts[found++] = util_xstrdup(tok);
    free(list);
    for (int i = 0; found < nodes && i < nodes; i++) {
        free(hosts[i]);
        hosts[i] = util_xstrdup(fallback);
    }
    return hosts;
}

int compute_rank_plan_init(compute_rank_plan *plan, const compute_launch *launch, amlfs_err *err)
{
    memset(plan, 0, sizeof *plan);
    plan->distribution = launch->distribution;
    plan->nodes = launch->nodes > 0 ? launch->nodes : 1;
    plan->per_node = launch->per_node > 0 ? launch->per_node : 1;
    bool tensorflow = launch->distribution && strcmp(launch->distribution, "tensorflow") == 0;
    int rc = check_distribution(launch->distribution, err);
    if (rc == 0)
        rc = find_node_rank(plan->nodes, &plan->node_rank, err);
    if (rc == 0)
        rc = choose_master_port(tensorflow ? plan->per_node : 0, &plan->master_port, err);
    if (rc < 0)
        return rc;
    const char *addr = getenv("AMLFS_MASTER_ADDR");
    plan->master_addr = util_xstrdup(is_set(addr) ? addr : DEFAULT_MASTER_ADDR);
    plan->hosts = node_hosts(plan->nodes, plan->master_addr);
    return 0;
}

void compute_rank_plan_free(compute_rank_plan *plan)
{
    free(plan->master_addr);
    compute_strings_free(plan->hosts);
    memset(plan, 0, sizeof *plan);
}

int compute_rank_global(const compute_rank_plan *plan, int local_rank)
{
    return plan->node_rank * plan->per_node + local_rank;
}

int compute_rank_world(const compute_rank_plan *plan)
{
    return plan->nodes * plan->per_node;
}

/* {"cluster": {"worker": ["HOST:PORT", ...]}, "task": {"type": "worker", "index": RANK}}: worker i runs
 * on node i / per_node, at MASTER_PORT + 1 + its local rank. NULL when out of memory. */
static char *tf_config(const compute_rank_plan *plan, int rank)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *workers = cJSON_AddArrayToObject(cJSON_AddObjectToObject(root, "cluster"), "worker");
    for (int i = 0; workers && i < compute_rank_world(plan); i++) {
        char address[300];
        snprintf(address, sizeof address, "%.255s:%d", plan->hosts[i / plan->per_node],
                 plan->master_port + 1 + i % plan->per_node);
        cJSON_AddItemToArray(workers, cJSON_CreateString(address));
    }
    cJSON *task = cJSON_AddObjectToObject(root, "task");
    cJSON_AddStringToObject(task, "type", "worker");
    cJSON_AddNumberToObject(task, "index", rank);
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return text;
}

static void add_var(char **env, size_t *n, const char *key, long value)
{
    env[(*n)++] = util_strdupf("%s=%ld", key, value);
}

static void add_mpi_vars(char **env, size_t *n, const compute_rank_plan *plan, int local_rank)
{
    int rank = compute_rank_global(plan, local_rank), world = compute_rank_world(plan);
    add_var(env, n, "OMPI_COMM_WORLD_RANK", rank);
    add_var(env, n, "OMPI_COMM_WORLD_SIZE", world);
    add_var(env, n, "OMPI_COMM_WORLD_LOCAL_RANK", local_rank);
    add_var(env, n, "OMPI_COMM_WORLD_LOCAL_SIZE", plan->per_node);
    add_var(env, n, "OMPI_COMM_WORLD_NODE_RANK", plan->node_rank);
    add_var(env, n, "PMI_RANK", rank);
    add_var(env, n, "PMI_SIZE", world);
    add_var(env, n, "PMIX_RANK", rank);
}

int compute_rank_env(const compute_rank_plan *plan, int local_rank, char ***out, amlfs_err *err)
{
    int rank = compute_rank_global(plan, local_rank);
    char **env = util_xcalloc(RANK_ENV_MAX + 1, sizeof *env);
    size_t n = 0;
    add_var(env, &n, "RANK", rank);
    add_var(env, &n, "WORLD_SIZE", compute_rank_world(plan));
    add_var(env, &n, "LOCAL_RANK", local_rank);
    add_var(env, &n, "LOCAL_WORLD_SIZE", plan->per_node);
    add_var(env, &n, "NODE_RANK", plan->node_rank);
    env[n++] = util_strdupf("MASTER_ADDR=%s", plan->master_addr);
    add_var(env, &n, "MASTER_PORT", plan->master_port);
    if (plan->distribution && strcmp(plan->distribution, "mpi") == 0)
        add_mpi_vars(env, &n, plan, local_rank);
    if (plan->distribution && strcmp(plan->distribution, "tensorflow") == 0) {
        char *config = tf_config(plan, rank);
        if (!config) {
            compute_strings_free(env);
            *out = NULL;
            return amlfs_fail(err, ENOMEM, "out of memory building TF_CONFIG for rank %d", rank);
        }
        env[n++] = util_strdupf("TF_CONFIG=%s", config);
        free(config);
    }
    *out = env;
    return 0;
}

void compute_line_buf_init(compute_line_buf *b, int rank)
{
    char prefix[32];
    int len = snprintf(prefix, sizeof prefix, "[rank %d] ", rank);
    b->prefix_len = (size_t)len;
    b->buf = util_xcalloc(b->prefix_len + COMPUTE_LINE_MAX + 1, 1); /* + 1: the newline */
    memcpy(b->buf, prefix, b->prefix_len);
    b->len = b->prefix_len;
    b->broke = false;
}

/* Writes the held line, newline-ended, and starts the next one. */
static int emit_line(compute_line_buf *b, int fd)
{
    if (b->buf[b->len - 1] != '\n')
        b->buf[b->len++] = '\n';
    int rc = util_write_all(fd, b->buf, b->len);
    b->len = b->prefix_len;
    return rc;
}

int compute_line_buf_feed(compute_line_buf *b, const char *data, size_t len, int fd)
{
    int rc = 0;
    while (len > 0) {
        if (b->broke) {
            /* A line cut just before its own newline: the cut already wrote one. */
            b->broke = false;
            if (data[0] == '\n') {
                data++;
                len--;
                continue;
            }
        }
        size_t room = COMPUTE_LINE_MAX - (b->len - b->prefix_len);
        const char *nl = memchr(data, '\n', len);
        size_t take = nl ? (size_t)(nl - data) + 1 : len;
        bool ended = nl != NULL;
        if ((ended ? take - 1 : take) > room) {
            take = room;
            ended = false;
        }
        memcpy(b->buf + b->len, data, take);
        b->len += take;
        data += take;
        len -= take;
        if (ended || b->len - b->prefix_len == COMPUTE_LINE_MAX) {
            b->broke = !ended;
            int w = emit_line(b, fd);
            rc = rc < 0 ? rc : w;
        }
    }
    return rc;
}

int compute_line_buf_flush(compute_line_buf *b, int fd)
{
    b->broke = false;
    return b->len > b->prefix_len ? emit_line(b, fd) : 0;
}

void compute_line_buf_free(compute_line_buf *b)
{
    free(b->buf);
    memset(b, 0, sizeof *b);
}
