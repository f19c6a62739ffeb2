/* fuzz_manifest.c: snapshot manifests as clients send them (POST /v1/snapshots): JSON decoding and every
 * check a manifest passes before the server trusts a path in it. */
#include "fuzz.h"
#include "amlfs/snapshot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    snapshot_manifest m;
    amlfs_err err = {0};
    if (snapshot_manifest_from_json((const char *)data, size, &m, &err) == 0) {
        snapshot_limits limits = {.max_bytes = 1 << 20, .max_files = 100};
        snapshot_limits_check(&m, &limits, "fuzzed folder", NULL, &err);
        snapshot_manifest_free(&m);
    }
    return 0;
}
