/* render.c: a job's command with ${{inputs.NAME}} and ${{outputs.NAME}} filled in, and az ml's
 * optional sections $[[ ... ]] kept only when every input they use was given. */
#include "amlfs/spec_yaml.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct render_ctx {
    const job_spec *job;
    const spec_render_values *values;
    const char *filename;
    FILE *out;
    amlfs_err *err;
} render_ctx;

/* Refuses a command that would grow past what one argument of a program may hold (sh -c COMMAND). */
static int room_for(render_ctx *c, size_t more)
{
    long have = ftell(c->out);
    if (have >= 0 && (size_t)have + more <= SPEC_COMMAND_MAX)
        return 0;
    return spec_fail_at(c->err, E2BIG, c->filename, c->job->command_pos, "the command would be over %d bytes "
                        "once ${{...}} are filled in, more than one argument of a program may hold: shorten it or "
                        "its inputs", SPEC_COMMAND_MAX);
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* One ${{ EXPR }}. `*missing` is set instead of failing when inside an optional section. */
static int render_expr(render_ctx *c, const char *expr, size_t n, int optional, int *missing)
{
    while (n && is_space(*expr)) {
        expr++;
        n--;
    }
    while (n && is_space(expr[n - 1]))
        n--;
    char *e = strndup(expr, n);
    if (!e)
        abort(); /* out of memory: same policy as util_x* */
    int rc = 0;
    const char *name = NULL;
    if (!strncmp(e, "inputs.", 7) && spec_is_identifier(e + 7)) {
        name = e + 7;
        const char *placed = c->values && c->values->inputs ? spec_kvlist_get(c->values->inputs, name) : NULL;
        const char *value = placed ? placed : spec_kvlist_get(&c->job->inputs, name);
        if (value && (rc = room_for(c, strlen(value))) < 0) {
            /* said by room_for */
        } else if (value) {
            fputs(value, c->out);
        } else if (optional) {
            *missing = 1;
        } else if (!c->job->inputs.count) {
            rc = spec_fail_at(c->err, EINVAL, c->filename, c->job->command_pos,
                              "command uses ${{inputs.%s}} but the job has no inputs: add `inputs: {%s: VALUE}`",
                              name, name);
        } else {
            char hint[700];
            spec_suggest_kv(name, &c->job->inputs, hint, sizeof hint);
            rc = spec_fail_at(c->err, EINVAL, c->filename, c->job->command_pos,
                              "command uses ${{inputs.%s}} but inputs has no '%s'%s", name, name, hint);
        }
    } else if (!strncmp(e, "outputs.", 8) && spec_is_identifier(e + 8)) {
        const char *placed = c->values && c->values->outputs ? spec_kvlist_get(c->values->outputs, e + 8) : NULL;
        if ((rc = room_for(c, placed ? strlen(placed) : strlen(e) + 2)) < 0)
            ; /* said by room_for */
        else if (placed)
            fputs(placed, c->out);
        else
            fprintf(c->out, "./outputs/%s", e + 8);
    } else {
        rc = spec_fail_at(c->err, EINVAL, c->filename, c->job->command_pos,
                          "command uses ${{%s}}: only ${{inputs.NAME}} and ${{outputs.NAME}} can be used here", e);
    }
    free(e);
    return rc;
}

static int render_text(render_ctx *c, const char *s, size_t n, int optional, int *missing)
{
    const char *end = s + n;
    while (s < end) {
        if (!optional && end - s >= 3 && !strncmp(s, "$[[", 3)) {
            const char *close = memmem(s + 3, (size_t)(end - s - 3), "]]", 2);
            if (!close)
                return spec_fail_at(c->err, EINVAL, c->filename, c->job->command_pos,
                                    "command has '$[[' without a closing ']]'");
            /* Render the section on its own so it can be dropped whole. */
            char *section = NULL;
            size_t section_len = 0;
            FILE *saved = c->out;
            c->out = open_memstream(&section, &section_len);
            if (!c->out)
                abort();
            int section_missing = 0;
            int rc = render_text(c, s + 3, (size_t)(close - s - 3), 1, &section_missing);
            fclose(c->out);
            c->out = saved;
            if (rc == 0 && !section_missing)
                fwrite(section, 1, section_len, c->out);
            free(section);
            if (rc < 0)
                return rc;
            s = close + 2;
        } else if (end - s >= 3 && !strncmp(s, "${{", 3)) {
            const char *close = memmem(s + 3, (size_t)(end - s - 3), "}}", 2);
            if (!close)
                return spec_fail_at(c->err, EINVAL, c->filename, c->job->command_pos,
                                    "command has '${{' without a closing '}}'");
            int rc = render_expr(c, s + 3, (size_t)(close - s - 3), optional, missing);
            if (rc < 0)
                return rc;
            s = close + 2;
        } else {
            fputc(*s++, c->out);
        }
    }
    return 0;
}

int spec_job_render_command(const job_spec *s, const spec_render_values *values, const char *filename, char **out,
                            amlfs_err *err)
{
    *out = NULL;
    if (!s->command)
        return spec_fail_at(err, EINVAL, filename, (spec_pos){0, 0}, "the job has no command");
    char *text = NULL;
    size_t len = 0;
    render_ctx c = {.job = s, .values = values, .filename = filename, .err = err, .out = open_memstream(&text, &len)};
    if (!c.out)
        return amlfs_fail(err, ENOMEM, "out of memory rendering the command");
    int missing = 0;
    int rc = render_text(&c, s->command, strlen(s->command), 0, &missing);
    if (rc == 0)
        rc = room_for(&c, 0);
    fclose(c.out);
    if (rc < 0) {
        free(text);
        return rc;
    }
    *out = text;
    return 0;
}
