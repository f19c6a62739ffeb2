/* blob_errors.c: the Blob service's refusals and transport failures as one errno and one line a person
 * can act on. Never quotes the key or the SAS token: only the account, container and blob are named. */
#include "blob_internal.h"

#include <stdio.h>
#include <string.h>

/* "blob 'a/b.txt' in container 'data'" or "container 'data'". */
static void object_text(const blob_client *c, const blob_req *r, char *buf, size_t len)
{
    if (r->name)
        snprintf(buf, len, "blob '%s' in container '%s'", r->name, c->container);
    else
        snprintf(buf, len, "container '%s'", c->container);
}

/* " (Code: message)", " (Code)" or "". */
static void service_says(const blob_req *r, bool with_message, char *buf, size_t len)
{
    if (!r->error_code[0] && !r->error_message[0])
        buf[0] = '\0';
    else if (with_message && r->error_message[0])
        snprintf(buf, len, " (%s%s%s)", r->error_code, r->error_code[0] ? ": " : "", r->error_message);
    else
        snprintf(buf, len, " (%s)", r->error_code);
}

static bool code_is(const blob_req *r, const char *code)
{
    return strcmp(r->error_code, code) == 0;
}

int blob_status_error(const blob_client *c, const blob_req *r, amlfs_err *err)
{
    char object[1400], says[700];
    object_text(c, r, object, sizeof object);
    /* AuthenticationFailed, AuthorizationFailure, AuthorizationPermissionMismatch,
     * KeyBasedAuthenticationNotPermitted ...: all say the credential does not open this. */
    if (r->status == 401 || r->status == 403) {
        service_says(r, true, says, sizeof says);
        if (c->key)
            return amlfs_fail(err, EACCES, "%s %s: storage account '%s' refused the account key%s: check "
                              "account_key (key1 or key2 of the account's Access keys) and this machine's clock",
                              r->what, object, c->account, says);
        return amlfs_fail(err, EACCES, "%s %s: storage account '%s' refused the SAS token%s: check that the SAS is "
                          "for this container and its permissions (sp=) and expiry (se=) allow this",
                          r->what, object, c->account, says);
    }
    if (r->status == 404 || code_is(r, "ContainerNotFound") || code_is(r, "BlobNotFound")) {
        if (code_is(r, "ContainerNotFound") || (!r->error_code[0] && !r->name))
            return amlfs_fail(err, ENOENT, "container '%s' does not exist in storage account '%s' (%s)",
                              c->container, c->account, c->endpoint);
        if (code_is(r, "BlobNotFound") || !r->error_code[0])
            return amlfs_fail(err, ENOENT, "blob '%s' does not exist in container '%s' of storage account '%s'",
                              r->name ? r->name : "", c->container, c->account);
        service_says(r, true, says, sizeof says);
        return amlfs_fail(err, ENOENT, "%s %s: storage account '%s' at %s has no such resource%s: check endpoint "
                          "and account_name", r->what, object, c->account, c->endpoint, says);
    }
    if (code_is(r, "ContainerAlreadyExists"))
        return amlfs_fail(err, EEXIST, "container '%s' already exists in storage account '%s'", c->container,
                          c->account);
    service_says(r, true, says, sizeof says);
    return amlfs_fail(err, EIO, "%s %s: storage account '%s' answered HTTP %ld%s%s", r->what, object, c->account,
                      r->status, says, r->status == 503 || r->status == 500 ? ": try again later" : "");
}

int blob_transport_error(const blob_client *c, const blob_req *r, CURLcode cc, const char *curl_text,
                         amlfs_err *err)
{
    char object[1400];
    object_text(c, r, object, sizeof object);
    if (r->local_errno && r->shrank)
        return amlfs_fail(err, EIO, "%s %s: the file ended before its %llu bytes (it changed meanwhile)", r->what,
                          object, (unsigned long long)(r->body_off + r->body_len));
    if (r->local_errno)
        return amlfs_fail(err, r->local_errno, "%s %s: local file: %s", r->what, object, strerror(r->local_errno));
    if (r->mem_overflow)
        return amlfs_fail(err, EIO, "%s %s: storage account '%s' sent more than the range asked for", r->what,
                          object, c->account);
    (void)cc;
    return amlfs_fail(err, EHOSTUNREACH, "blob endpoint %s does not answer: %s (%s %s)", c->endpoint, curl_text,
                      r->what, object);
}
