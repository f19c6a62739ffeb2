/* run_token.c: the token a job gets as MLFLOW_TRACKING_TOKEN: "RUN_ID.HMAC", HMAC-SHA256 of the run id
 * keyed by the server's secret token (libcrypto), so it names its run and is good for that run only; it
 * is checked in constant time and never stored. */
#include "amlfs/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "amlfs/util.h"

#define MAC_LEN 32
#define MAC_HEX (2 * MAC_LEN)
/* A run id is at most 256 bytes (MLflow's rule; amlfs's names are shorter still). */
#define RUN_ID_MAX 256

/* Domain-separated: the MAC of a run id is never the MAC of anything else the key may sign. */
static int mac_hex(const char *key, const char *run_id, char hex[MAC_HEX + 1])
{
    char *msg = util_strdupf("amlfs-run-token-v1\n%s", run_id);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    unsigned char *ok = HMAC(EVP_sha256(), key, (int)strlen(key), (const unsigned char *)msg, strlen(msg), mac, &len);
    free(msg);
    if (!ok || len != MAC_LEN)
        return -EIO;
    for (unsigned i = 0; i < len; i++)
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    return 0;
}

char *run_token_make(const char *key, const char *run_id)
{
    char hex[MAC_HEX + 1];
    if (!key || !run_id || mac_hex(key, run_id, hex) < 0)
        return NULL;
    return util_strdupf("%s.%s", run_id, hex);
}

int run_token_check(const char *key, const char *token, char **run_id)
{
    *run_id = NULL;
    if (!key || !token)
        return 0;
    size_t len = strnlen(token, RUN_ID_MAX + MAC_HEX + 2);
    if (len < MAC_HEX + 2 || len > RUN_ID_MAX + MAC_HEX + 1 || token[len - MAC_HEX - 1] != '.')
        return 0;
    char id[RUN_ID_MAX + 1];
    size_t idlen = len - MAC_HEX - 1;
    memcpy(id, token, idlen);
    id[idlen] = '\0';
    char hex[MAC_HEX + 1];
    if (mac_hex(key, id, hex) < 0)
        return 0;
    if (CRYPTO_memcmp(hex, token + idlen + 1, MAC_HEX) != 0)
        return 0;
    *run_id = util_xstrdup(id);
    return 1;
}
