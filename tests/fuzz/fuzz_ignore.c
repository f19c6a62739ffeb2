/* fuzz_ignore.c: the .amlignore/.gitignore parser and matcher: the first line of the input is a path to
 * test, the rest the ignore file; also the pattern matcher on its own. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "amlfs/snapshot.h"
#include "amlfs/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = util_xcalloc(1, size + 1);
    memcpy(copy, data, size);
    char *newline = memchr(copy, '\n', size);
    const char *path = newline ? copy : "a/b.txt";
    const char *rules = newline ? newline + 1 : copy;
    size_t rules_len = newline ? size - (size_t)(newline + 1 - copy) : size;
    if (newline)
        *newline = '\0';
    snapshot_ignore *ig = snapshot_ignore_new("/nonexistent-amlfs-fuzz-root", SNAPSHOT_AMLIGNORE);
    amlfs_err err = {0};
    if (snapshot_ignore_add_text(ig, "", rules, rules_len, &err) == 0 && strlen(path) < 4096) {
        snapshot_ignore_rule why;
        snapshot_ignore_match_entry(ig, path, false, &why);
        snapshot_ignore_match_entry(ig, path, true, &why);
        free(snapshot_ignore_line_for(path, false));
    }
    snapshot_ignore_free(ig);
    if (strlen(path) < 256 && strlen(rules) < 256)
        snapshot_wildmatch(path, rules);
    free(copy);
    return 0;
}
