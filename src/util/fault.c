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
