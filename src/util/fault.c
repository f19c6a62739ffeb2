/* fault.c: crash points for the fault-injection tests: a process whose $AMLFS_FAULT names a point kills
 * itself there (SIGKILL, as a crash would), so a test can stop the server between two chosen steps. */
#include "amlfs/util.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

void util_fault_point(const char *name)
{
    const char *chosen = getenv("AMLFS_FAULT");
    if (chosen && strcmp(chosen, name) == 0)
        raise(SIGKILL);
}

void util_fault_point_file(const char *step, const char *path)
{
    const char *chosen = getenv("AMLFS_FAULT");
    if (!chosen)
        return;
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t n = strlen(step);
    if (strncmp(chosen, step, n) == 0 && chosen[n] == ':' && strcmp(chosen + n + 1, base) == 0)
        raise(SIGKILL);
}
