/* run_code.c: a run's working folder, made when the run is prepared rather than when it is submitted: its
 * code copied from its snapshot, then its outputs' folders. A Queued run costs no disk; a restart redoes it. */
#include "amlfs/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "amlfs/util.h"

/* Beside work/, not in it (the job sees exactly its snapshot there): the copy is built here and renamed into
 * place whole, so a work/ that exists is complete, even after a crash in the middle of the copy. */
#define BUILDING "work.preparing"

static int copy_code(server *srv, const store_run *r, const char *dest, amlfs_err *err)
{
    if (!r->snapshot || !r->snapshot[0]) /* a run from before amlfs kept snapshots: no code of its own */
        return mkdir(dest, 0755) == 0 ? 0 : amlfs_fail(err, errno, "cannot create %s: %s", dest, strerror(errno));
    const snapshot_manifest *m = NULL;
    int rc = server_snapshot_get(srv, r->snapshot, &m, err);
    if (rc == 0)
        rc = snapshot_materialize(srv->snapshot_dir, m, dest, err);
    server_snapshot_release(srv, m);
    return rc;
}

static int make_outputs(const char *work, const job_spec *job, amlfs_err *err)
{
    char *outputs = util_strdupf("%s/outputs", work);
    int rc = util_mkdir_p(outputs, 0755, err);
    for (size_t i = 0; rc == 0 && job && i < job->outputs.count; i++) {
        char *dir = util_strdupf("%s/%s", outputs, job->outputs.items[i].key);
        rc = util_mkdir_p(dir, 0755, err);
        free(dir);
    }
    free(outputs);
    return rc;
}

int run_code_prepare(server *srv, const store_run *r, const job_spec *job, amlfs_err *err)
{
    char *work = server_path(srv, "runs/%s/work", r->id);
    char *building = server_path(srv, "runs/%s/" BUILDING, r->id);
    struct stat st;
    int rc = 0;
    if (lstat(work, &st) == 0) {
        /* Made already: by this run's preparation before it waited for its environment or before a restart,
         * or at submission by an older server. */
        if (!S_ISDIR(st.st_mode))
            rc = amlfs_fail(err, ENOTDIR, "%s is not a folder", work);
    } else if (errno != ENOENT) {
        rc = amlfs_fail(err, errno, "cannot use %s: %s", work, strerror(errno));
    } else {
        rc = util_rm_rf(building, err); /* what a preparation cut short by a crash left */
        if (rc == 0)
            rc = copy_code(srv, r, building, err);
        if (rc == 0 && rename(building, work) < 0) {
            rc = amlfs_fail(err, errno, "cannot rename %s to %s: %s", building, work, strerror(errno));
            amlfs_err ignored = {0};
            util_rm_rf(building, &ignored);
        }
    }
    if (rc == 0)
        rc = make_outputs(work, job, err);
    if (rc < 0)
        amlfs_wrap(err, "preparing the code of run %s: ", r->id);
    free(work);
    free(building);
    return rc;
}
