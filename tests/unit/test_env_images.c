/* test_env_images.c: image environments without a real podman: identity, build context copy, records,
 * auth files, container command lines, and the builder driven through a fake `podman` script. */
#include "amlfs/compute_local.h"
#include "amlfs/env.h"
#include "amlfs/env_podman.h"
#include "amlfs/util.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static char tmp[] = "/tmp/amlfs-test-env.XXXXXX";

static void write_text(const char *path, const char *text, mode_t mode)
{
    amlfs_err err = {0};
    if (util_write_file_atomic(path, text, strlen(text), mode, &err) < 0)
        printf("setup: %s\n", err.msg);
}

static char *read_text(const char *path)
{
    char *text = NULL;
    if (util_read_file(path, &text, NULL, NULL) < 0)
        return util_xstrdup("");
    return text;
}

/* ---- what the builder reports ---- */
static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t report_cond = PTHREAD_COND_INITIALIZER;
static int reports;
static env_status last_status;
static char last_reason[1024];
static int64_t last_log_size;

static void on_grew(void *ctx, const char *name, int64_t size)
{
    (void)ctx;
    (void)name;
    pthread_mutex_lock(&report_lock);
    last_log_size = size;
    pthread_mutex_unlock(&report_lock);
}

static void on_finished(void *ctx, const char *name, int version, env_status status, const char *reason)
{
    (void)ctx;
    (void)name;
    (void)version;
    pthread_mutex_lock(&report_lock);
    reports++;
    last_status = status;
    snprintf(last_reason, sizeof last_reason, "%s", reason ? reason : "");
    pthread_cond_signal(&report_cond);
    pthread_mutex_unlock(&report_lock);
}

/* Waits for the n-th report (deadline 20 s). */
static bool wait_reports(int n)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 20;
    pthread_mutex_lock(&report_lock);
    while (reports < n && pthread_cond_timedwait(&report_cond, &report_lock, &deadline) == 0)
        ;
    bool ok = reports >= n;
    pthread_mutex_unlock(&report_lock);
    return ok;
}

/* ---- a version in a temp workspace ---- */
typedef struct fixture {
    env_spec spec;
    char *context, *log, *setup;
    env_version_ref ref;
} fixture;

static void fixture_init(fixture *f, env_images *im, const char *name, int version, const char *yaml)
{
    memset(f, 0, sizeof *f);
    amlfs_err err = {0};
    if (spec_parse_env(yaml, strlen(yaml), "environment.yaml", &f->spec, &err) < 0)
        printf("setup: %s\n", err.msg);
    f->context = util_strdupf("%s/envs/%s/files", tmp, name);
    f->log = util_strdupf("%s/envs/%s/build.log", tmp, name);
    f->setup = util_strdupf("%s/envs/%s/setup", tmp, name);
    util_mkdir_p(f->context, 0700, NULL);
    f->ref = (env_version_ref){.name = name, .version = version, .spec = &f->spec, .context_dir = f->context,
                               .build_log = f->log, .setup_dir = f->setup, .images = im};
}

static void fixture_free(fixture *f)
{
    spec_env_free(&f->spec);
    free(f->context);
    free(f->log);
    free(f->setup);
}

static void put(fixture *f, const char *rel, const char *text)
{
    char *path = util_strdupf("%s/%s", f->context, rel);
    write_text(path, text, 0644);
    free(path);
}

static int identity_of(env_images *im, fixture *f, char hash[SNAPSHOT_SHA_HEX], amlfs_err *reason)
{
    env_identity id;
    int rc = env_identity_prepare(im, &f->ref, &id, reason);
    if (rc == 0) {
        snprintf(hash, SNAPSHOT_SHA_HEX, "%s", id.hash);
        env_identity_free(&id);
    }
    return rc;
}

static void test_identity(env_images *im)
{
    fixture a, b;
    fixture_init(&a, im, "app", 1, "build:\n  path: .\n");
    put(&a, "Dockerfile", "FROM localhost/base:1\nCOPY greet.txt /g\n");
    put(&a, "greet.txt", "hello\n");
    put(&a, "environment.yaml", "build:\n  path: .\n");
    put(&a, ".Dockerfile.swp", "vim was here");
    char h1[SNAPSHOT_SHA_HEX] = "", h2[SNAPSHOT_SHA_HEX] = "", h3[SNAPSHOT_SHA_HEX] = "";
    amlfs_err reason = {0};
    CHECK(identity_of(im, &a, h1, &reason) == 0, "identity: %s", reason.msg);
    char *dir = util_strdupf("%s/images/%s", tmp, h1);
    char *copied = util_strdupf("%s/context/greet.txt", dir), *spec = util_strdupf("%s/context/environment.yaml", dir);
    char *swap = util_strdupf("%s/context/.Dockerfile.swp", dir), *meta = util_strdupf("%s/meta.json", dir);
    CHECK(access(copied, F_OK) == 0 && access(spec, F_OK) != 0 && access(swap, F_OK) != 0,
          "the context copy holds the files, not the spec or scratch files");
    char *meta_text = read_text(meta);
    CHECK(strstr(meta_text, "\"build\"") && strstr(meta_text, "\"Dockerfile\""), "meta.json: %s", meta_text);
    free(meta_text);

    /* The spec's own text, the name and the version are not content. */
    put(&a, "environment.yaml", "build:\n  path: .\ndescription: another text\n");
    put(&a, ".Dockerfile.swp", "vim wrote more");
    fixture_init(&b, im, "other-name", 7, "build: {path: ., dockerfile_path: Dockerfile}\ndescription: x\n");
    put(&b, "Dockerfile", "FROM localhost/base:1\nCOPY greet.txt /g\n");
    put(&b, "greet.txt", "hello\n");
    CHECK(identity_of(im, &a, h2, &reason) == 0 && strcmp(h1, h2) == 0, "same content, same hash");
    CHECK(identity_of(im, &b, h3, &reason) == 0 && strcmp(h1, h3) == 0, "another name and version, same hash");
    put(&a, "greet.txt", "hello again\n");
    CHECK(identity_of(im, &a, h2, &reason) == 0 && strcmp(h1, h2) != 0, "a changed context file, a new hash");
    fixture_free(&b);

    /* A conda file over 1 MiB (sparse, 1 TiB) is refused, not read whole. */
    fixture_init(&b, im, "huge-conda", 1, "image: base:1\nconda_file: conda.yaml\n");
    char *conda = util_strdupf("%s/conda.yaml", b.context);
    int fd = open(conda, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0 && ftruncate(fd, (off_t)1 << 40) == 0, "a 1 TiB conda file");
    if (fd >= 0)
        close(fd);
    CHECK(identity_of(im, &b, h3, &reason) == -EFBIG && strstr(reason.msg, "conda_file 'conda.yaml'") &&
              strstr(reason.msg, "over 1024 KiB"),
          "huge conda file: %s", reason.msg);
    unlink(conda);
    free(conda);
    fixture_free(&b);

    fixture_init(&b, im, "app", 2, "build:\n  dockerfile_path: docker/Missing\n");
    CHECK(identity_of(im, &b, h3, &reason) == -ENOENT && strstr(reason.msg, "docker/Missing"),
          "missing Dockerfile: %s", reason.msg);
    fixture_free(&b);
    fixture_init(&b, im, "app", 3, "build:\n  path: ../elsewhere\n");
    CHECK(identity_of(im, &b, h3, &reason) == -EINVAL && strstr(reason.msg, "build.path"), "build.path '..': %s",
          reason.msg);
    fixture_free(&b);
    fixture_init(&b, im, "img", 1, "image: \"base:1\\nRUN evil\"\n");
    CHECK(identity_of(im, &b, h3, &reason) == -EINVAL && strstr(reason.msg, "not an image reference"),
          "an image reference with a newline: %s", reason.msg);
    fixture_free(&b);
    fixture_init(&b, im, "img", 1, "image: base:1\nos_type: windows\n");
    CHECK(identity_of(im, &b, h3, &reason) == -EINVAL && strstr(reason.msg, "Windows"), "windows: %s", reason.msg);
    fixture_free(&b);

    /* conda: part of the content unless user_managed_dependencies says to install nothing. */
    fixture c1, c2, c3;
    fixture_init(&c1, im, "img", 1, "image: base:1\n");
    fixture_init(&c2, im, "img", 2, "image: base:1\nconda_file:\n  dependencies: [python=3.11]\n");
    fixture_init(&c3, im, "img", 3,
                 "image: base:1\nconda_file:\n  dependencies: [python=3.11]\nuser_managed_dependencies: true\n");
    CHECK(identity_of(im, &c1, h1, &reason) == 0 && identity_of(im, &c2, h2, &reason) == 0 &&
              identity_of(im, &c3, h3, &reason) == 0,
          "image identities: %s", reason.msg);
    CHECK(strcmp(h1, h2) != 0 && strcmp(h1, h3) == 0, "conda changes the hash; user-managed ignores it");
    char *conda_df = util_strdupf("%s/images/%s/conda/Dockerfile", tmp, h2);
    char *text = read_text(conda_df);
    CHECK(strstr(text, "FROM base:1") && strstr(text, "conda env update"), "conda Dockerfile: %s", text);
    free(text);
    free(conda_df);
    fixture_free(&c1);
    fixture_free(&c2);
    fixture_free(&c3);

    /* Records. */
    char back[SNAPSHOT_SHA_HEX] = "";
    CHECK(env_record_write(&a.ref, h1, &reason) == 0 && env_record_read(&a.ref, back, &reason) == 0 &&
              strcmp(back, h1) == 0,
          "record round trip: %s", reason.msg);
    a.ref.version = 99;
    CHECK(env_record_read(&a.ref, back, &reason) == -ENOENT, "no record for an unknown version");
    fixture_free(&a);
    free(dir);
    free(copied);
    free(spec);
    free(swap);
    free(meta);
}

static void test_auth_file(env_images *im)
{
    char *path = NULL;
    amlfs_err err = {0};
    CHECK(env_auth_create(im, "registry.example.com", NULL, NULL, &path, &err) == 0 && !path,
          "no credentials, no file");
    CHECK(env_auth_create(im, "registry.example.com", "someone", "pw", &path, &err) == 0 && path, "auth file: %s",
          err.msg);
    if (!path)
        return;
    struct stat st, dst;
    char *dir = util_xstrdup(path);
    *strrchr(dir, '/') = '\0';
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "auth file mode %o", st.st_mode & 0777);
    CHECK(stat(dir, &dst) == 0 && (dst.st_mode & 0777) == 0700, "auth folder mode %o", dst.st_mode & 0777);
    char *text = read_text(path);
    /* base64("someone:pw") */
    CHECK(strstr(text, "\"registry.example.com\"") && strstr(text, "c29tZW9uZTpwdw=="), "auth.json: %s", text);
    free(text);
    env_auth_remove(path);
    CHECK(access(dir, F_OK) != 0, "auth folder removed");
    free(dir);
}

static void test_container_command(void)
{
    char *env[] = {"FOO=a value with spaces", "PYTHONUNBUFFERED=1", NULL};
    char *podman[] = {"/usr/bin/podman", "--root", "/r", NULL};
    compute_launch l = {.run_id = "exp_1_abc", .command = "python train.py", .env = env, .work_dir = "/d/work",
                        .image = "localhost/amlfs-env:x", .podman = podman, .memory = "512m", .cpus = "1.5"};
    char *dir = util_strdupf("%s/run", tmp), *file = NULL;
    util_mkdir_p(dir, 0700, NULL);
    amlfs_err err = {0};
    CHECK(compute_container_env_file(dir, &l, &file, &err) == 0, "env file: %s", err.msg);
    struct stat st;
    CHECK(file && stat(file, &st) == 0 && (st.st_mode & 0777) == 0600, "env file mode 0600");
    char *text = file ? read_text(file) : util_xstrdup("");
    CHECK(strcmp(text, "FOO=a value with spaces\nPYTHONUNBUFFERED=1\n") == 0, "env file: %s", text);
    free(text);
    char **argv = compute_container_argv(&l, file ? file : "x");
    size_t n = 0;
    bool none = false, name = false, envfile = false, leaked = false, limits = false, work = false;
    for (; argv[n]; n++) {
        none |= strcmp(argv[n], "--network=none") == 0;
        name |= strcmp(argv[n], "amlfs-exp_1_abc") == 0;
        envfile |= strcmp(argv[n], "--env-file") == 0;
        leaked |= strstr(argv[n], "a value with spaces") != NULL;
        limits |= strcmp(argv[n], "512m") == 0 && argv[n + 1] && strcmp(argv[n + 1], "--cpus") == 0;
        work |= strcmp(argv[n], "/d/work:/work") == 0;
    }
    CHECK(strcmp(argv[0], "/usr/bin/podman") == 0 && strcmp(argv[3], "run") == 0, "podman prefix then run");
    CHECK(none && name && envfile && !leaked && limits && work, "argv: network %d name %d env-file %d leak %d "
          "limits %d work %d", none, name, envfile, leaked, limits, work);
    CHECK(n >= 3 && strcmp(argv[n - 1], "python train.py") == 0 && strcmp(argv[n - 2], "-c") == 0,
          "the command last, through sh -c");
    compute_strings_free(argv);
    l.network = true;
    argv = compute_container_argv(&l, "x");
    none = false;
    for (n = 0; argv[n]; n++)
        none |= strcmp(argv[n], "--network=none") == 0;
    CHECK(!none, "a job that asks for the network gets it");
    compute_strings_free(argv);
    char *bad[] = {"X=two\nlines", NULL};
    l.env = bad;
    free(file);
    file = NULL;
    CHECK(compute_container_env_file(dir, &l, &file, &err) == -EINVAL && strstr(err.msg, "X"), "newline refused: %s",
          err.msg);
    free(file);
    free(dir);
}

/* A fake podman: answers by its first argument after the global options, from files the test writes. */
static char *fake_podman(void)
{
    char *path = util_strdupf("%s/fake-podman", tmp);
    char *script = util_strdupf(
        "#!/bin/sh\n"
        "# a stand-in for podman in test_env_images\n"
        "while [ \"${1#--}\" != \"$1\" ]; do shift 2; done\n"
        "echo \"fake podman $* conf=$CONTAINERS_CONF\"\n"
        "case \"$1 $2\" in\n"
        "  'image exists') [ -e %s/exists-\"$(echo $3 | tr '/:' '__')\" ] && exit 0; exit 1 ;;\n"
        "  pull*) echo \"Error: initializing source docker://$2: no such host\"; exit 125 ;;\n"
        "  build*) if [ -e %s/slow ]; then sleep 30; fi; echo 'STEP 1/1: RUN conda ...';\n"
        "          echo 'amlfs: conda is not in the image base:1: use an image that has conda'; exit 3 ;;\n"
        "  tag*) exit 0 ;;\n"
        "esac\n"
        "exit 0\n",
        tmp, tmp);
    write_text(path, script, 0755);
    free(script);
    return path;
}

static void test_builder(void)
{
    char *podman = fake_podman();
    char *data = util_strdupf("%s/ws2", tmp);
    env_images_config cfg = {.data_dir = data, .podman = podman, .build_timeout_s = 2};
    env_images_hooks hooks = {.log_grew = on_grew, .finished = on_finished};
    env_images *im = NULL;
    amlfs_err err = {0};
    CHECK(env_images_open(&cfg, &hooks, &im, &err) == 0, "open: %s", err.msg);
    if (!im)
        return;
    char *conf = util_strdupf("%s/containers.conf", data);
    char *conf_text = read_text(conf);
    CHECK(strstr(conf_text, "default_ulimits") && strstr(conf_text, "nofile="), "containers.conf: %s", conf_text);
    free(conf_text);

    /* Not on the machine, not pullable: Failed with the registry's own words. */
    fixture f;
    fixture_init(&f, im, "nowhere", 1, "image: registry.invalid/x:1\n");
    env_status status;
    amlfs_err reason = {0};
    CHECK(env_setup_container.register_version(&f.ref, &status, &reason) == 0 && status == ENV_BUILDING,
          "registered: %d %s", status, reason.msg);
    CHECK(wait_reports(1) && last_status == ENV_FAILED &&
              strstr(last_reason, "could not be pulled: initializing source docker://registry.invalid/x:1"),
          "pull failure: %s", last_reason);
    char *log = read_text(f.log);
    CHECK(strstr(log, "conf=") && strstr(log, "containers.conf") && last_log_size > 0,
          "podman ran with CONTAINERS_CONF, the log grew: %s", log);
    free(log);
    fixture_free(&f);

    /* On the machine: tagged, Ready; the same content again is Ready at once. */
    char *exists = util_strdupf("%s/exists-localhost_base_1", tmp);
    write_text(exists, "", 0644);
    fixture_init(&f, im, "local", 1, "image: localhost/base:1\n");
    CHECK(env_setup_container.register_version(&f.ref, &status, &reason) == 0 && status == ENV_BUILDING,
          "registered local image");
    CHECK(wait_reports(2) && last_status == ENV_READY, "local image Ready: %s", last_reason);
    env_runtime rt = {0};
    char hash[SNAPSHOT_SHA_HEX] = "";
    env_record_read(&f.ref, hash, &reason);
    char *tag_file = util_strdupf("%s/exists-localhost_amlfs-env_%.32s", tmp, hash);
    write_text(tag_file, "", 0644); /* what `podman tag` made, for the fake */
    f.ref.version = 2;
    CHECK(env_setup_container.register_version(&f.ref, &status, &reason) == 0 && status == ENV_READY,
          "same content: Ready at once (%d)", status);
    CHECK(env_setup_container.prepare_run(&f.ref, &rt, &reason) == 0 && rt.image &&
              strncmp(rt.image, ENV_IMAGE_REPO ":", strlen(ENV_IMAGE_REPO) + 1) == 0,
          "a run gets the content-named tag: %s", rt.image ? rt.image : reason.msg);
    env_runtime_free(&rt);
    fixture_free(&f);

    /* A conda step without conda: our own line is the reason. */
    fixture_init(&f, im, "conda", 1, "image: localhost/base:1\nconda_file:\n  dependencies: [numpy]\n");
    env_setup_container.register_version(&f.ref, &status, &reason);
    CHECK(wait_reports(3) && last_status == ENV_FAILED && strncmp(last_reason, "conda is not in the image", 25) == 0,
          "conda reason: %s", last_reason);
    /* A step that outlives the setup's time limit is stopped, and says so. */
    char *slow = util_strdupf("%s/slow", tmp);
    write_text(slow, "", 0644);
    CHECK(env_setup_container.rebuild(&f.ref, &status, &reason) == 0 && status == ENV_BUILDING, "rebuild queued");
    CHECK(env_setup_container.rebuild(&f.ref, &status, &reason) == -EBUSY, "a second rebuild while building: EBUSY");
    CHECK(wait_reports(4) && last_status == ENV_FAILED && strstr(last_reason, "longer than"), "timeout: %s",
          last_reason);
    unlink(slow);
    fixture_free(&f);
    env_images_close(im);
    free(slow);
    free(tag_file);
    free(exists);
    free(conf);
    free(data);
    free(podman);
}

static void test_without_podman(void)
{
    char *data = util_strdupf("%s/ws3", tmp);
    env_images_config cfg = {.data_dir = data, .podman = "/nonexistent/podman"};
    env_images *im = NULL;
    amlfs_err err = {0};
    CHECK(env_images_open(&cfg, NULL, &im, &err) == 0, "open without podman: %s", err.msg);
    fixture f;
    fixture_init(&f, im, "bb", 1, "image: base:1\n");
    env_status status = ENV_READY;
    amlfs_err reason = {0};
    CHECK(env_setup_container.register_version(&f.ref, &status, &reason) == 0 && status == ENV_FAILED &&
              strstr(reason.msg, "podman is not installed"),
          "no podman: %s", reason.msg);
    CHECK(env_setup_host.rebuild(&f.ref, &status, &reason) == -EINVAL, "nothing to rebuild on the host");
    fixture_free(&f);
    env_images_close(im);
    free(data);
}

int main(void)
{
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 1;
    }
    char *data = util_strdupf("%s", tmp);
    env_images_config cfg = {.data_dir = data, .podman = "/nonexistent/podman"};
    env_images *im = NULL;
    amlfs_err err = {0};
    if (env_images_open(&cfg, NULL, &im, &err) < 0) {
        printf("FAIL open: %s\n", err.msg);
        failed++;
    } else {
        test_identity(im);
        test_auth_file(im);
        env_images_close(im);
    }
    test_container_command();
    test_builder();
    test_without_podman();
    util_rm_rf(tmp, NULL);
    free(data);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
