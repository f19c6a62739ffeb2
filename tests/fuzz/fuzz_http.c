/* fuzz_http.c: what the server does with a request before a handler runs: routing METHOD and URL (names,
 * file paths, depth), and the JSON body's decoding (NUL escapes, the spec text's length). */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "amlfs/server.h"
#include "amlfs/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* METHOD SP URL LF BODY */
    char *copy = util_xcalloc(1, size + 1);
    memcpy(copy, data, size);
    char *space = strchr(copy, ' ');
    char *newline = space ? strchr(space + 1, '\n') : NULL;
    if (!space || !newline || space == copy || newline == space + 1) {
        free(copy);
        return 0;
    }
    *space = '\0';
    *newline = '\0';
    http_request req = {.method = copy, .url = space + 1, .body = newline + 1,
                        .body_len = size - (size_t)(newline + 1 - copy), .body_fd = -1};
    char *scratch[2] = {NULL, NULL};
    unsigned status = 0;
    router_find(&req, scratch, &status);
    free(scratch[0]);
    free(scratch[1]);
    cJSON *body = NULL;
    amlfs_err err = {0};
    if (req.body_len && http_body_json(&req, &body, &err) == 0) {
        const cJSON *yaml = cJSON_GetObjectItemCaseSensitive(body, "yaml");
        if (cJSON_IsString(yaml))
            http_spec_len(body, yaml);
        cJSON_Delete(body);
    }
    free(copy);
    return 0;
}
