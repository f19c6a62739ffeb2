/* fuzz_spec.c: every spec parser on hostile text (job, environment, data, datastore, compute), then what
 * runs on a parsed job (the rendered command, the pinned copy) and the redaction of any text. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "amlfs/spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    /* The first byte picks the parser, the rest is the file. */
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    amlfs_err err = {0};
    switch (data[0] % 6) {
    case 0: {
        job_spec job;
        if (spec_parse_job(text, len, "job.yaml", &job, &err) == 0) {
            char *cmd = NULL;
            if (spec_job_render_command(&job, NULL, "job.yaml", &cmd, &err) == 0)
                free(cmd);
            spec_job_free(&job);
        }
        break;
    }
    case 1: {
        env_spec env;
        if (spec_parse_env(text, len, "environment.yaml", &env, &err) == 0)
            spec_env_free(&env);
        break;
    }
    case 2: {
        data_spec d;
        if (spec_parse_data(text, len, "data.yaml", &d, &err) == 0)
            spec_data_free(&d);
        break;
    }
    case 3: {
        datastore_spec ds;
        if (spec_parse_datastore(text, len, "datastore.yaml", &ds, &err) == 0)
            spec_datastore_free(&ds);
        break;
    }
    case 4: {
        compute_spec c;
        if (spec_parse_compute(text, len, "compute.yaml", &c, &err) == 0)
            spec_compute_free(&c);
        break;
    }
    default:
        free(spec_redact_yaml(text, len));
        break;
    }
    return 0;
}
