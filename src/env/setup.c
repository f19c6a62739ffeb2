/* setup.c: choosing how an environment is set up (host or container) and the status words.
 * The server only talks to env_setup_ops, so a container builder slots in without touching it. */
#include "amlfs/env.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const status_names[] = {
    [ENV_DRAFT] = "Draft", [ENV_BUILDING] = "Building", [ENV_READY] = "Ready", [ENV_FAILED] = "Failed",
};

const char *env_status_name(env_status s)
{
    return (unsigned)s <= ENV_FAILED ? status_names[s] : "Unknown";
}

int env_status_parse(const char *word)
{
    for (int i = 0; word && i <= ENV_FAILED; i++)
        if (strcmp(word, status_names[i]) == 0)
            return i;
    return -1;
}

void env_runtime_free(env_runtime *rt)
{
    if (rt) {
        free(rt->image);
        rt->image = NULL;
    }
}

const char *env_ref_label(const env_version_ref *v, char buf[ENV_LABEL_BUF])
{
    if (v->label)
        return v->label;
    snprintf(buf, ENV_LABEL_BUF, "%d", v->version);
    return buf;
}

const env_setup_ops *env_setup_for(const env_spec *spec)
{
    if (spec && (spec->image || spec->has_build))
        return &env_setup_container;
    return &env_setup_host;
}
