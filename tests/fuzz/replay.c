/* replay.c: a fuzz target as a plain program: runs LLVMFuzzerTestOneInput on every file named (or in
 * every folder named), so each corpus, crashes found included, stays a test in `make test`. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "amlfs/util.h"

static int run_file(const char *path)
{
    char *data = NULL;
    size_t len = 0;
    if (util_read_file(path, &data, &len, NULL) < 0) {
        printf("FAIL cannot read %s\n", path);
        return 1;
    }
    LLVMFuzzerTestOneInput((const uint8_t *)data, len);
    free(data);
    return 0;
}

int main(int argc, char **argv)
{
    int failed = 0, passed = 0;
    /* Without arguments: the target's own corpus, from the repository's root (as tests/run.sh runs). */
    char *fallback[] = {argv[0], FUZZ_CORPUS};
    if (argc < 2) {
        argc = 2;
        argv = fallback;
    }
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            DIR *d = opendir(argv[i]);
            struct dirent *e;
            while (d && (e = readdir(d)) != NULL) {
                if (e->d_name[0] == '.')
                    continue;
                char *path = util_strdupf("%s/%s", argv[i], e->d_name);
                int rc = run_file(path);
                failed += rc;
                passed += !rc;
                free(path);
            }
            if (d)
                closedir(d);
        } else {
            int rc = run_file(argv[i]);
            failed += rc;
            passed += !rc;
        }
    }
    /* A crash or a sanitizer report ends the program before this line. */
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
