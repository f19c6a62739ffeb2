/* test_fs_paths.c: mount paths: every path of the contract's tree classifies right, specs and editors'
 * scratch names are told apart, and the inode table keeps paths and inode numbers straight. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/fs/fs_internal.h"

#include "check.h"

static void expect(const char *path, node_kind kind, const char *name, const char *rel)
{
    node_path np;
    node_kind got = node_classify(path, &np);
    CHECK(got == kind && np.kind == kind, "'%s': kind %d, expected %d", path, got, kind);
    if (got != kind)
        return;
    if (name)
        CHECK(strcmp(np.name, name) == 0, "'%s': name '%s', expected '%s'", path, np.name, name);
    if (rel)
        CHECK(np.rel && strcmp(np.rel, rel) == 0, "'%s': rel '%s', expected '%s'", path,
              np.rel ? np.rel : "(null)", rel);
}

static void test_the_tree(void)
{
    expect("", NODE_ROOT, NULL, NULL);
    expect("workspace.json", NODE_WORKSPACE_JSON, NULL, NULL);

    expect("environments", NODE_ENVS_DIR, NULL, NULL);
    expect("environments/status", NODE_ENVS_STATUS, NULL, NULL);
    expect("environments/host", NODE_ENV_DIR, "host", NULL);
    expect("environments/host/status", NODE_ENV_STATUS, "host", NULL);
    expect("environments/host/build.log", NODE_ENV_BUILD_LOG, "host", NULL);
    expect("environments/host/versions", NODE_ENV_VERSIONS_DIR, "host", NULL);
    expect("environments/host/versions/3", NODE_ENV_VERSION_DIR, "host", NULL);
    expect("environments/host/versions/3/environment.yaml", NODE_ENV_VERSION_YAML, "host", NULL);
    /* Versions may be names, as az ml allows. */
    expect("environments/ngc/versions/22.02-py3", NODE_ENV_VERSION_DIR, "ngc", NULL);
    expect("environments/ngc/versions/22.02-py3/environment.yaml", NODE_ENV_VERSION_YAML, "ngc", NULL);
    node_path np;
    CHECK(node_classify("environments/ngc/versions/22.02-py3/environment.yaml", &np) == NODE_ENV_VERSION_YAML &&
              strcmp(np.version, "22.02-py3") == 0,
          "the version's name: '%s'", np.version);
    expect("environments/host/environment.yaml", NODE_ENV_FILE, "host", "environment.yaml");
    expect("environments/host/Dockerfile", NODE_ENV_FILE, "host", "Dockerfile");
    expect("environments/host/ctl", NODE_ENV_CTL, "host", NULL);
    expect("environments/host/ctx/requirements.txt", NODE_ENV_FILE, "host", "ctx/requirements.txt");

    expect("computes", NODE_COMPUTES_DIR, NULL, NULL);
    expect("computes/local", NODE_COMPUTE_DIR, "local", NULL);
    expect("computes/local/compute.yaml", NODE_COMPUTE_YAML, "local", NULL);
    expect("computes/local/status", NODE_COMPUTE_STATUS, "local", NULL);

    expect("experiments", NODE_EXPS_DIR, NULL, NULL);
    expect("experiments/status", NODE_EXPS_STATUS, NULL, NULL);
    expect("experiments/mnist", NODE_EXP_DIR, "mnist", NULL);
    expect("experiments/mnist/status", NODE_EXP_STATUS, "mnist", NULL);
    expect("experiments/mnist/runs", NODE_EXP_RUNS_DIR, "mnist", NULL);
    expect("experiments/mnist/runs/latest", NODE_EXP_RUN_LINK, "mnist", "latest");
    expect("experiments/mnist/runs/mnist_0001", NODE_EXP_RUN_LINK, "mnist", "mnist_0001");
    expect("experiments/mnist/job.yaml", NODE_EXP_FILE, "mnist", "job.yaml");
    expect("experiments/mnist/train.py", NODE_EXP_FILE, "mnist", "train.py");
    expect("experiments/mnist/src/a/b.py", NODE_EXP_FILE, "mnist", "src/a/b.py");
    expect("experiments/mnist/src/runs", NODE_EXP_FILE, "mnist", "src/runs");
    expect("experiments/mnist/src/status", NODE_EXP_FILE, "mnist", "src/status");

    expect("runs", NODE_RUNS_DIR, NULL, NULL);
    expect("runs/r1", NODE_RUN_DIR, "r1", NULL);
    expect("runs/r1/status", NODE_RUN_STATUS, "r1", NULL);
    expect("runs/r1/log", NODE_RUN_LOG, "r1", NULL);
    expect("runs/r1/job.yaml", NODE_RUN_JOB_YAML, "r1", NULL);
    expect("runs/r1/info.json", NODE_RUN_INFO, "r1", NULL);
    expect("runs/r1/ctl", NODE_RUN_CTL, "r1", NULL);
    expect("runs/r1/snapshot", NODE_RUN_SNAPSHOT_DIR, "r1", NULL);
    expect("runs/r1/snapshot/train.py", NODE_RUN_SNAPSHOT_FILE, "r1", "train.py");
    expect("runs/r1/snapshot/src/a/b/c.py", NODE_RUN_SNAPSHOT_FILE, "r1", "src/a/b/c.py");
    CHECK(node_is_read_only(NODE_RUN_SNAPSHOT_FILE) && node_is_read_only(NODE_RUN_SNAPSHOT_DIR) &&
              node_is_fixed_dir(NODE_RUN_SNAPSHOT_DIR) && !node_is_stored(NODE_RUN_SNAPSHOT_FILE),
          "a run's snapshot is read-only and not a stored folder");
    expect("runs/r1/outputs", NODE_RUN_OUTPUTS_DIR, "r1", NULL);
    expect("runs/r1/outputs/model.txt", NODE_RUN_OUTPUTS_FILE, "r1", "model.txt");
    expect("runs/r1/outputs/sub/x.bin", NODE_RUN_OUTPUTS_FILE, "r1", "sub/x.bin");
    expect("runs/r1/outputs/a/b/c/d", NODE_RUN_OUTPUTS_FILE, "r1", "a/b/c/d");
    CHECK(node_is_read_only(NODE_RUN_OUTPUTS_FILE) && node_is_read_only(NODE_RUN_OUTPUTS_DIR) &&
              node_is_fixed_dir(NODE_RUN_OUTPUTS_DIR) && !node_is_fixed_dir(NODE_RUN_OUTPUTS_FILE) &&
              !node_is_stored(NODE_RUN_OUTPUTS_FILE) && !node_is_snapshot(NODE_RUN_OUTPUTS_FILE),
          "a run's outputs are read-only, not a stored folder and not a snapshot");
    CHECK(node_is_run_output(NODE_RUN_OUTPUTS_DIR) && node_is_run_output(NODE_RUN_OUTPUTS_FILE) &&
              !node_is_run_output(NODE_RUN_SNAPSHOT_FILE) && !node_is_run_output(NODE_RUN_LOG),
          "only outputs nodes are run outputs");
    expect("runs/r1/metrics", NODE_RUN_METRICS_DIR, "r1", NULL);
    expect("runs/r1/metrics/loss", NODE_RUN_METRIC, "r1", "loss");
    expect("runs/r1/metrics/train/val acc", NODE_RUN_METRIC, "r1", "train/val acc");
    expect("runs/r1/metrics.json", NODE_RUN_METRICS_JSON, "r1", NULL);
    expect("runs/r1/params.json", NODE_RUN_PARAMS_JSON, "r1", NULL);
    expect("runs/r1/tags.json", NODE_RUN_TAGS_JSON, "r1", NULL);
    CHECK(node_is_read_only(NODE_RUN_METRIC) && node_is_read_only(NODE_RUN_METRICS_DIR) &&
              node_is_fixed_dir(NODE_RUN_METRICS_DIR) && !node_is_fixed_dir(NODE_RUN_METRIC) &&
              node_is_live_text(NODE_RUN_METRICS_JSON) && node_is_live_text(NODE_RUN_PARAMS_JSON) &&
              node_is_generated_text(NODE_RUN_TAGS_JSON) && !node_is_generated_text(NODE_RUN_METRIC),
          "metrics are read-only; the json files live text; a series bytes like the log");
    node_classify("runs/r1/outputs/job.yaml", &np);
    CHECK(node_spec_kind(&np, NULL) == SPEC_NONE, "a job.yaml among outputs is not a spec");
}

static void test_paths_outside_the_tree(void)
{
    const char *outside[] = {
        "nothing", "workspace.json/x", "environments/bad name", "environments/-x", "environments/host/ctl/x",
        "environments/host/status/x", "environments/host/versions/-1", "environments/host/versions/a b",
        "environments/host/versions/.x", "environments/host/versions/3/other", "environments/host/versions/..",
        "environments/host/versions/3/environment.yaml/x", "environments/host/./x", "environments/host/a/../b",
        "computes/local/other", "computes/local/compute.yaml/x", "experiments/bad name",
        "experiments/x/status/y", "experiments/x/runs/a/b", "experiments/x/a//b", "experiments/x/a/",
        "runs/r1/other", "runs/r1/log/x", "runs/..", "/runs", "experiments/.hidden",
        "runs/r1/snapshot/../x", "runs/r1/snapshot/a/./b", "runs/r1/snapshot/", "runs/r1/snapshot//x",
        "runs/r1/outputs/../x", "runs/r1/outputs/a/./b", "runs/r1/outputs/", "runs/r1/outputs//x",
        "runs/r1/outputs/..", "runs/r1/output", "runs/r1/metrics/../x", "runs/r1/metrics/a//b",
        "runs/r1/metrics/", "runs/r1/metrics/.", "runs/r1/metrics.json/x", "runs/r1/params.json/x",
    };
    for (size_t i = 0; i < sizeof outside / sizeof outside[0]; i++) {
        node_path np;
        CHECK(node_classify(outside[i], &np) == NODE_NONE, "'%s' should be outside the tree", outside[i]);
    }
}

static void test_spec_files(void)
{
    node_path np;
    char *dir = NULL;
    node_classify("experiments/x/job.yaml", &np);
    CHECK(node_spec_kind(&np, &dir) == SPEC_JOB && dir && strcmp(dir, "") == 0, "job.yaml at the root");
    free(dir);
    /* Only the experiment's own job.yaml submits: a copied repo's configs/x/job.yaml is code. */
    node_classify("experiments/x/sub/dir/job.yaml", &np);
    CHECK(node_spec_kind(&np, &dir) == SPEC_NONE && !dir, "job.yaml in a subfolder is code");
    free(dir);
    node_classify("environments/e/environment.yaml", &np);
    CHECK(node_spec_kind(&np, NULL) == SPEC_ENVIRONMENT, "environment.yaml");
    node_classify("computes/local/compute.yaml", &np);
    CHECK(node_spec_kind(&np, NULL) == SPEC_COMPUTE, "compute.yaml");

    const char *not_specs[] = {
        "experiments/x/job.yaml~", "experiments/x/.job.yaml.swp", "experiments/x/.job.yaml.swx",
        "experiments/x/4913", "experiments/x/.#job.yaml", "experiments/x/#job.yaml#",
        "experiments/x/job.yml", "experiments/x/myjob.yaml", "environments/e/sub/environment.yaml",
        "environments/e/versions/1/environment.yaml", "runs/r/job.yaml", "experiments/x/environment.yaml",
        "environments/e/job.yaml",
    };
    for (size_t i = 0; i < sizeof not_specs / sizeof not_specs[0]; i++) {
        node_classify(not_specs[i], &np);
        CHECK(node_spec_kind(&np, &dir) == SPEC_NONE && dir == NULL, "'%s' is not a spec", not_specs[i]);
        free(dir);
    }
}

static void test_scratch_names(void)
{
    const char *scratch[] = {".job.yaml.swp", ".job.yaml.swx", ".job.yaml.swo", "job.yaml~", "4913",
                             ".#job.yaml", "#job.yaml#"};
    for (size_t i = 0; i < sizeof scratch / sizeof scratch[0]; i++)
        CHECK(node_is_scratch_name(scratch[i]), "'%s' is scratch", scratch[i]);
    const char *plain[] = {"job.yaml", "train.py", "swp", ".swp", "~", "#", "4914", ".bashrc", "a.swp"};
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
        CHECK(!node_is_scratch_name(plain[i]), "'%s' is not scratch", plain[i]);
}

static void test_permissions(void)
{
    CHECK(node_is_read_only(NODE_RUN_STATUS) && node_is_read_only(NODE_WORKSPACE_JSON) &&
              node_is_read_only(NODE_RUN_LOG) && node_is_read_only(NODE_ENV_VERSION_YAML),
          "generated files and logs are read-only");
    CHECK(!node_is_read_only(NODE_RUN_CTL) && !node_is_read_only(NODE_COMPUTE_YAML) &&
              !node_is_read_only(NODE_EXP_FILE),
          "ctl, compute.yaml and stored files are writable");
    CHECK(node_is_live_text(NODE_RUN_STATUS) && node_is_live_text(NODE_RUN_INFO) &&
              !node_is_live_text(NODE_RUN_JOB_YAML) && !node_is_live_text(NODE_ENV_VERSION_YAML),
          "status-like files are live, immutable ones are not");
}

static void test_inode_table(void)
{
    inode_table *t = inode_table_new();
    char *p = inode_path(t, FUSE_ROOT_ID);
    CHECK(p && strcmp(p, "") == 0, "the root is \"\"");
    free(p);
    fuse_ino_t a = inode_ref(t, "experiments/x/a", 0);
    fuse_ino_t b = inode_ref(t, "experiments/x/a/b", 0);
    fuse_ino_t xy = inode_ref(t, "experiments/xy", 0);
    CHECK(a > FUSE_ROOT_ID && b != a && inode_ref(t, "experiments/x/a", 0) == a, "one inode per path");
    p = inode_child_path(t, a, "c");
    CHECK(p && strcmp(p, "experiments/x/a/c") == 0, "child path: %s", p ? p : "(null)");
    free(p);
    p = inode_child_path(t, FUSE_ROOT_ID, "runs");
    CHECK(p && strcmp(p, "runs") == 0, "child of the root: %s", p ? p : "(null)");
    free(p);

    inode_hit *hits;
    size_t n = inode_collect(t, "experiments/x", &hits);
    CHECK(n == 2 && (hits[0].ino == a || hits[1].ino == a) && (hits[0].ino == b || hits[1].ino == b),
          "collect takes the path and what is below it, not experiments/xy: %zu", n);
    inode_hits_free(hits, n);

    /* rename a over an existing c: a and its child move, the old c is detached */
    fuse_ino_t c = inode_ref(t, "experiments/x/c", 0);
    inode_rename(t, "experiments/x/a", "experiments/x/c");
    p = inode_path(t, b);
    CHECK(p && strcmp(p, "experiments/x/c/b") == 0, "the child moved: %s", p ? p : "(null)");
    free(p);
    CHECK(inode_find(t, "experiments/x/c") == a && inode_find(t, "experiments/x/a") == 0, "a is now c");
    p = inode_path(t, c);
    CHECK(p == NULL, "the replaced inode has no path");
    free(p);

    inode_detach(t, "experiments/x/c");
    CHECK(inode_find(t, "experiments/x/c") == 0 && inode_find(t, "experiments/x/c/b") == 0, "detached");
    fuse_ino_t again = inode_ref(t, "experiments/x/c", 0);
    CHECK(again != a && again != c, "a new file at a removed name gets a new inode");

    inode_forget(t, xy, 1);
    p = inode_path(t, xy);
    CHECK(p == NULL && inode_find(t, "experiments/xy") == 0, "forgotten to zero: gone");
    free(p);

    wbuf *fresh = NULL, *other = NULL;
    amlfs_err err = {0};
    CHECK(wbuf_new("abc", 3, 0644, &fresh, &err) == 0 && wbuf_size(fresh) == 3, "a write buffer");
    wbuf *w1 = inode_wbuf_attach(t, again, fresh);
    CHECK(wbuf_new("", 0, 0644, &other, &err) == 0, "a second buffer");
    wbuf *w2 = inode_wbuf_attach(t, again, other);
    CHECK(w1 == fresh && w2 == fresh && fresh->refs == 2, "the second open shares the first buffer");
    wbuf *w3 = inode_wbuf_get(t, again);
    CHECK(w3 == fresh && fresh->refs == 3, "get takes a reference");
    inode_wbuf_put(t, again, w3);
    inode_wbuf_put(t, again, w2);
    inode_wbuf_put(t, again, w1);
    CHECK(inode_wbuf_get(t, again) == NULL, "the last put detaches the buffer");
    inode_table_free(t);
}

int main(void)
{
    test_the_tree();
    test_paths_outside_the_tree();
    test_spec_files();
    test_scratch_names();
    test_permissions();
    test_inode_table();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
