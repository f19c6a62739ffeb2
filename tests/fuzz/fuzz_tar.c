/* fuzz_tar.c: tar archives as uploads bring them, extracted with the limits into a scratch folder that is
 * emptied after each input: nothing may land outside it, whatever the headers say. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "fuzz.h"
#include "amlfs/snapshot.h"
#include "amlfs/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char dir[] = "/tmp/amlfs-fuzz-tar-XXXXXX";
    if (!mkdtemp(dir))
        return 0;
    char *dest = util_strdupf("%s/out", dir);
    snapshot_limits limits = {.max_bytes = 1 << 20, .max_files = 64};
    amlfs_err err = {0};
    snapshot_extract_buffer(data, size, dest, &limits, &err);
    util_rm_rf(dir, &err);
    free(dest);
    return 0;
}
