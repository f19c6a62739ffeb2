/* upload.c: a local code folder (or one file) to the server as a snapshot: its manifest (ignore rules, limits,
 * hashes) to POST /v1/snapshots, then a tar of only the contents the server lacks to POST /v1/blobs. */
#include "client_internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "amlfs/snapshot.h"
#include "amlfs/util.h"

#define MB (1024ull * 1024)

/* POST /v1/snapshots; *missing gets the hashes the server lacks. */
static int post_manifest(amlfs_client *c, const snapshot_manifest *m, const snapshot_limits *limits,
                         char ***missing, size_t *n, amlfs_err *err)
{
    *missing = NULL;
    *n = 0;
    /* The manifest's text goes into the body as it was printed: parsing it only to print it again cost
     * milliseconds per save at 2,000 files. */
    char *text = snapshot_manifest_to_json(m);
    char *body = util_strdupf("{\"manifest\":%s,\"limits\":{\"max_mb\":%llu,\"max_files\":%llu}}", text,
                              (unsigned long long)(limits->max_bytes / MB), (unsigned long long)limits->max_files);
    free(text);
    cJSON *answer = NULL;
    int rc = client_send_json_text(c, "POST", "/v1/snapshots", body, strlen(body), &answer, err);
    free(body);
    if (rc < 0)
        return rc;
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(answer, "missing");
    int count = cJSON_GetArraySize(arr);
    char **list = util_xcalloc(count > 0 ? (size_t)count : 1, sizeof *list);
    const cJSON *item;
    cJSON_ArrayForEach(item, arr) {
        if (!cJSON_IsString(item) || !snapshot_sha_valid(item->valuestring)) {
            rc = amlfs_fail(err, EIO, "amlfs-server answered POST /v1/snapshots with a missing content that is not "
                            "a SHA-256");
            break;
        }
        list[(*n)++] = util_xstrdup(item->valuestring);
    }
    cJSON_Delete(answer);
    if (rc < 0) {
        snapshot_strings_free(list, *n);
        *n = 0;
        return rc;
    }
    *missing = list;
    return 0;
}

/* An unlinked temp file: the archive can be as large as the code, so it does not go to memory. */
static int temp_file(amlfs_err *err)
{
    const char *dir = getenv("TMPDIR");
    char *path = util_strdupf("%s/amlfs-upload-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0)
        fd = amlfs_fail(err, errno, "cannot make a temp file for the upload (%s): %s", path, strerror(errno));
    else
        unlink(path);
    free(path);
    return fd;
}

static int upload_missing(amlfs_client *c, const char *root, const snapshot_manifest *m, char **missing, size_t n,
                          amlfs_err *err)
{
    int fd = temp_file(err);
    if (fd < 0)
        return fd;
    snapshot_pack_opts opts = {.only_sha = (const char *const *)missing, .only_count = n};
    int rc = snapshot_pack_fd(root, m, &opts, fd, err);
    off_t size = rc >= 0 ? lseek(fd, 0, SEEK_END) : -1;
    if (rc >= 0 && size < 0)
        rc = amlfs_fail(err, errno, "cannot measure the upload: %s", strerror(errno));
    cJSON *answer = NULL;
    if (rc >= 0) {
        char *url = util_strdupf("/v1/blobs?snapshot=%s", m->hash);
        rc = client_post_fd(c, url, fd, size, "application/x-tar", &answer, err);
        free(url);
    }
    close(fd);
    int still = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(answer, "missing"));
    if (rc >= 0 && still > 0)
        rc = amlfs_fail(err, EIO, "amlfs-server still lacks %d content%s of the snapshot after the upload", still,
                        still == 1 ? "" : "s");
    cJSON_Delete(answer);
    return rc < 0 ? rc : 0;
}

int client_snapshot_upload(amlfs_client *c, const char *path, const snapshot_limits *limits,
                           char hash[SNAPSHOT_SHA_HEX], amlfs_err *err)
{
    snapshot_manifest m;
    struct stat st;
    /* A file is a snapshot of itself alone; its contents are packed from its folder. */
    bool is_file = stat(path, &st) == 0 && S_ISREG(st.st_mode);
    const char *slash = strrchr(path, '/');
    char *root = is_file ? (slash && slash != path ? util_strdupf("%.*s", (int)(slash - path), path)
                                                   : util_xstrdup(slash ? "/" : "."))
                         : util_xstrdup(path);
    int rc = is_file ? snapshot_manifest_build_file(path, limits, &m, err)
                     : snapshot_manifest_build(path, limits, &m, err);
    if (rc < 0) {
        free(root);
        return rc;
    }
    char **missing = NULL;
    size_t n = 0;
    rc = post_manifest(c, &m, limits, &missing, &n, err);
    if (rc == 0 && n > 0)
        rc = upload_missing(c, root, &m, missing, n, err);
    if (rc == 0)
        snprintf(hash, SNAPSHOT_SHA_HEX, "%s", m.hash);
    snapshot_strings_free(missing, n);
    snapshot_manifest_free(&m);
    free(root);
    return rc;
}
