/* datastore.c: datastore.yaml (az ml CLI v2 datastore of `type: azure_blob`): the storage account and
 * container, where its endpoint is, and one credential (an account key or a SAS token), with positions. */
#include "amlfs/spec_yaml.h"

#include <stdlib.h>
#include <string.h>

#include "amlfs/util.h"

static const char *const datastore_keys[] = {
    "$schema", "name", "type", "description", "tags", "account_name", "container_name", "endpoint",
    "protocol", "credentials", "properties", NULL,
};
static const char *const credential_keys[] = {"account_key", "sas_token", NULL};
static const char *const datastore_types[] = {"azure_blob", "azure_file", "azure_data_lake_gen1",
                                              "azure_data_lake_gen2", NULL};

static int parse_datastore(spec_doc *d, yaml_node_t *root, datastore_spec *out, amlfs_err *err)
{
    int rc;
    yaml_node_t *creds = NULL;
    if ((rc = spec_check_keys(d, root, datastore_keys, "datastore", err)) < 0 ||
        (rc = spec_get_str(d, root, "name", &out->name, &out->name_pos, err)) < 0 ||
        (rc = spec_get_str(d, root, "type", &out->type, &out->type_pos, err)) < 0 ||
        (rc = spec_get_str(d, root, "description", &out->description, NULL, err)) < 0 ||
        (rc = spec_get_str(d, root, "account_name", &out->account_name, &out->account_pos, err)) < 0 ||
        (rc = spec_get_str(d, root, "container_name", &out->container_name, NULL, err)) < 0 ||
        (rc = spec_get_str(d, root, "endpoint", &out->endpoint, &out->endpoint_pos, err)) < 0 ||
        (rc = spec_get_str(d, root, "protocol", &out->protocol, NULL, err)) < 0 ||
        (rc = spec_get_map(d, root, "credentials", &creds, err)) < 0)
        return rc;
    if (!out->type)
        return spec_fail_at(err, EINVAL, d->filename, (spec_pos){1, 1},
                            "'type' is missing: this workspace reads `type: azure_blob` datastores");
    size_t i = 0;
    while (datastore_types[i] && strcmp(datastore_types[i], out->type))
        i++;
    if (i != 0)
        return spec_fail_at(err, EINVAL, d->filename, out->type_pos, "datastore type '%s' is not read by this "
                            "workspace (offered: azure_blob)", out->type);
    if (!out->account_name || !out->container_name)
        return spec_fail_at(err, EINVAL, d->filename, (spec_pos){1, 1}, "an azure_blob datastore needs "
                            "account_name and container_name");
    if (out->protocol && strcmp(out->protocol, "https") && strcmp(out->protocol, "http"))
        return spec_fail_at(err, EINVAL, d->filename, (spec_pos){1, 1}, "protocol must be https or http, not '%s'",
                            out->protocol);
    if (!creds)
        return spec_fail_at(err, EINVAL, d->filename, (spec_pos){1, 1}, "an azure_blob datastore needs "
                            "credentials: {account_key: KEY} or {sas_token: TOKEN}");
    out->credentials_pos = spec_node_pos(creds);
    if ((rc = spec_check_keys(d, creds, credential_keys, "credentials", err)) < 0 ||
        (rc = spec_get_str(d, creds, "account_key", &out->account_key, NULL, err)) < 0 ||
        (rc = spec_get_str(d, creds, "sas_token", &out->sas_token, NULL, err)) < 0)
        return rc;
    if (!out->account_key == !out->sas_token)
        return spec_fail_at(err, EINVAL, d->filename, out->credentials_pos,
                            "credentials take one of account_key or sas_token");
    yaml_node_t *secret = spec_map_get(d, creds, out->account_key ? "account_key" : "sas_token");
    out->secret_start = secret->start_mark.index;
    out->secret_end = secret->end_mark.index;
    if (out->name && (rc = spec_check_name_at(d, "datastore", out->name, out->name_pos, err)) < 0)
        return rc;
    return 0;
}

int spec_parse_datastore(const char *text, size_t len, const char *filename, datastore_spec *out, amlfs_err *err)
{
    spec_doc d;
    memset(out, 0, sizeof *out);
    int rc = spec_doc_load(&d, text, len, filename, "a datastore", "type: azure_blob", err);
    if (rc < 0)
        return rc;
    rc = parse_datastore(&d, spec_doc_root(&d), out, err);
    spec_doc_free(&d);
    if (rc < 0)
        spec_datastore_free(out);
    return rc;
}

void spec_datastore_free(datastore_spec *s)
{
    if (!s)
        return;
    free(s->name);
    free(s->type);
    free(s->description);
    free(s->account_name);
    free(s->container_name);
    free(s->endpoint);
    free(s->protocol);
    if (s->account_key)
        explicit_bzero(s->account_key, strlen(s->account_key));
    free(s->account_key);
    if (s->sas_token)
        explicit_bzero(s->sas_token, strlen(s->sas_token));
    free(s->sas_token);
    memset(s, 0, sizeof *s);
}
