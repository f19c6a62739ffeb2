/* test_blob_parse.c: the blob client's parts that need no service: the Shared Key string-to-sign (the
 * Azure doc's example) and its HMAC, SAS tokens, base64, dates, listing and error XML, the block list,
 * and every refusal of a bad configuration. The requests are checked against Azurite in
 * tests/e2e/test_blob_client.sh. */
#include "amlfs/blob.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/data/blob_internal.h"
#include "check.h"

/* base64 of "amlfs unit-test key, not a secret"; expected signatures computed with Python's hmac. */
static const char test_key[] = "YW1sZnMgdW5pdC10ZXN0IGtleSwgbm90IGEgc2VjcmV0";

static void test_string_to_sign(void)
{
    /* "Authorize with Shared Key": GET container metadata with timeout=20, the account twice in the path
     * (as with the emulator), x-ms-date and x-ms-version; the query sorted by name. */
    blob_kv query[] = {{"restype", "container"}, {"comp", "metadata"}, {"timeout", "20"}};
    blob_kv headers[] = {{"x-ms-version", "2009-09-19"}, {"x-ms-date", "Sun, 11 Oct 2009 21:49:13 GMT"}};
    blob_sign_input in = {.method = "GET", .account = "myaccount", .path = "/myaccount/mycontainer",
                          .query = query, .nquery = 3, .headers = headers, .nheaders = 2};
    char *s = blob_string_to_sign(&in);
    const char *expect = "GET\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:Sun, 11 Oct 2009 21:49:13 GMT\nx-ms-version:2009-09-19\n"
                         "/myaccount/myaccount/mycontainer\ncomp:metadata\nrestype:container\ntimeout:20";
    CHECK(strcmp(s, expect) == 0, "the doc's string-to-sign:\n%s\n--- expected:\n%s", s, expect);
    size_t key_len = 0;
    unsigned char *key = blob_base64_decode(test_key, &key_len);
    CHECK(key && key_len == 33, "the test key decodes: %zu bytes", key_len);
    char sig[45];
    blob_hmac_base64(key, key_len, s, sig);
    CHECK(strcmp(sig, "sEt1pP6pBloz2/0nPUTMyiMOdfR+gyl788C2lFfNGTI=") == 0, "HMAC-SHA256 base64: %s", sig);
    free(s);
    free(key);

    /* The doc's list example: one parameter given three times becomes one line, its values sorted. */
    blob_kv q2[] = {{"restype", "container"}, {"comp", "list"}, {"include", "snapshots"},
                    {"include", "metadata"}, {"include", "uncommittedblobs"}};
    blob_sign_input in2 = {.method = "GET", .account = "myaccount", .path = "/mycontainer", .query = q2, .nquery = 5};
    s = blob_string_to_sign(&in2);
    const char *tail = "\n/myaccount/mycontainer\ncomp:list\ninclude:metadata,snapshots,uncommittedblobs\nrestype:container";
    CHECK(strlen(s) > strlen(tail) && strcmp(s + strlen(s) - strlen(tail), tail) == 0, "repeated parameter: %s", s);
    free(s);

    /* A PUT: Content-Length and the standard headers in their slots, x-ms-* sorted case-insensitively,
     * white space of values folded (not inside quotes), query values raw (not percent-encoded). */
    blob_kv h3[] = {{"Content-MD5", "1B2M2Y8AsgTpgAmY7PhCfg=="}, {"X-MS-Meta-B", "  two   words \"in   quotes\"  "},
                    {"x-ms-blob-type", "BlockBlob"}, {"Range", "bytes=0-9"}, {"Content-Type", "text/plain"}};
    blob_kv q3[] = {{"blockid", "YWJj+/=="}, {"comp", "block"}};
    blob_sign_input in3 = {.method = "PUT", .account = "acct", .path = "/c/dir/a%20b.txt", .query = q3, .nquery = 2,
                           .headers = h3, .nheaders = 5, .content_length = 11};
    s = blob_string_to_sign(&in3);
    expect = "PUT\n\n\n11\n1B2M2Y8AsgTpgAmY7PhCfg==\ntext/plain\n\n\n\n\n\nbytes=0-9\n"
             "x-ms-blob-type:BlockBlob\nx-ms-meta-b:two words \"in   quotes\"\n"
             "/acct/c/dir/a%20b.txt\nblockid:YWJj+/==\ncomp:block";
    CHECK(strcmp(s, expect) == 0, "a PUT's string-to-sign:\n%s\n--- expected:\n%s", s, expect);
    free(s);
}

static void test_base64_and_date(void)
{
    size_t n = 0;
    unsigned char *b = blob_base64_decode("YWJj", &n);
    CHECK(b && n == 3 && memcmp(b, "abc", 3) == 0, "YWJj is abc");
    free(b);
    b = blob_base64_decode("YQ==", &n);
    CHECK(b && n == 1 && b[0] == 'a', "YQ== is a");
    free(b);
    static const char *const bad[] = {"", "YWJ", "YW=j", "Y===", "Y===x", "YW J", "YWJj\n", "!!!!"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        b = blob_base64_decode(bad[i], &n);
        CHECK(!b, "'%s' is not base64", bad[i]);
        free(b);
    }
    char *e = blob_base64((const unsigned char *)"a", 1);
    CHECK(strcmp(e, "YQ==") == 0, "base64 of a: %s", e);
    free(e);
    char date[40];
    blob_http_date(1255297753000, date, sizeof date);
    CHECK(strcmp(date, "Sun, 11 Oct 2009 21:49:13 GMT") == 0, "RFC 1123 date: %s", date);
    blob_http_date(0, date, sizeof date);
    CHECK(strcmp(date, "Thu, 01 Jan 1970 00:00:00 GMT") == 0, "the epoch: %s", date);
}

static blob_config good_config(void)
{
    return (blob_config){.endpoint = "http://127.0.0.1:10000/myaccount/", .account_name = "myaccount",
                         .container = "mycontainer", .account_key = test_key};
}

static void test_sas(void)
{
    blob_config cfg = good_config();
    amlfs_err err = {0};
    blob_client *c = blob_client_new(&cfg, &err);
    CHECK(c, "a good configuration: %s", err.msg);
    if (!c)
        return;
    CHECK(strcmp(c->endpoint, "http://127.0.0.1:10000/myaccount") == 0, "endpoint without the slash: %s", c->endpoint);
    CHECK(strcmp(c->endpoint_path, "/myaccount") == 0, "its path: %s", c->endpoint_path);
    char *sas = NULL;
    CHECK(blob_container_sas(c, "rl", 1893553445000, &sas, &err) == 0, "a SAS: %s", err.msg);
    const char *expect = "sv=2021-08-06&sr=c&sp=rl&se=2030-01-02T03%3A04%3A05Z"
                         "&sig=%2B%2FhEM7I4qygoFwHnbAMpME9%2B%2BDn1u68JPmanRBUiG4k%3D";
    CHECK(sas && strcmp(sas, expect) == 0, "the service SAS:\n%s\n--- expected:\n%s", sas ? sas : "", expect);
    blob_secret_free(sas);
    CHECK(blob_container_sas(c, "lr", 1893553445000, &sas, &err) == -EINVAL && strstr(err.msg, "in that order"),
          "permissions out of order: %s", err.msg);
    CHECK(blob_container_sas(c, "rq", 1893553445000, &sas, &err) == -EINVAL, "an unknown permission");
    blob_client_free(c);

    /* Azure's names of the account's endpoint, private or sovereign, and an emulator's. */
    static const char *const endpoints[] = {"https://myaccount.blob.core.windows.net/",
                                            "https://myaccount.privatelink.blob.core.windows.net",
                                            "https://myaccount.blob.core.chinacloudapi.cn",
                                            "http://[::1]:10000/myaccount", "http://myaccount.blob.localhost:10000"};
    for (size_t i = 0; i < sizeof endpoints / sizeof endpoints[0]; i++) {
        blob_config e = good_config();
        e.endpoint = endpoints[i];
        c = blob_client_new(&e, &err);
        CHECK(c, "endpoint %s: %s", endpoints[i], err.msg);
        blob_client_free(c);
    }

    blob_config pasted = good_config();
    pasted.account_key = " YW1sZnMgdW5pdC10ZXN0IGtleSwgbm90IGEgc2VjcmV0\n";
    c = blob_client_new(&pasted, &err);
    CHECK(c && c->key_len == 33, "white space around a key is not part of it: %s", err.msg);
    blob_client_free(c);

    cfg.account_key = NULL;
    cfg.sas_token = "?sv=2021-08-06&sr=c&sp=rl&sig=abc\n";
    c = blob_client_new(&cfg, &err);
    CHECK(c && strcmp(c->sas, "sv=2021-08-06&sr=c&sp=rl&sig=abc") == 0, "a SAS token, its '?' dropped: %s", err.msg);
    CHECK(c && blob_container_sas(c, "r", 1893553445000, &sas, &err) == -EINVAL && strstr(err.msg, "account key"),
          "no SAS without the key: %s", err.msg);
    blob_client_free(c);
}

static void test_config_refusals(void)
{
    static const struct {
        blob_config cfg;
        const char *expect;
    } bad[] = {
        {{.endpoint = "http://h/a", .account_name = "My_Account", .container = "c1c", .account_key = test_key},
         "account_name 'My_Account' is not a storage account name"},
        {{.endpoint = "http://h/a", .account_name = "acct", .container = "Data", .account_key = test_key},
         "container 'Data' is not a container name"},
        {{.endpoint = "http://h/a", .account_name = "acct", .container = "a--b", .account_key = test_key},
         "container 'a--b' is not"},
        {{.account_name = "acct", .container = "data", .account_key = test_key}, "endpoint is missing"},
        {{.endpoint = "not a url", .account_name = "acct", .container = "data", .account_key = test_key},
         "endpoint 'not a url' is not a URL"},
        {{.endpoint = "ftp://h", .account_name = "acct", .container = "data", .account_key = test_key},
         "must start with https://"},
        {{.endpoint = "https://acct.blob.core.windows.net/?sv=1&sig=SECRETSIG", .account_name = "acct",
          .container = "data", .account_key = test_key}, "without '?'"},
        {{.endpoint = "https://other.blob.core.windows.net", .account_name = "acct", .container = "data",
          .account_key = test_key}, "is not storage account 'acct''s: use https://acct.blob.core.windows.net"},
        {{.endpoint = "https://other.privatelink.blob.core.windows.net", .account_name = "acct", .container = "data",
          .account_key = test_key}, "use https://acct.privatelink.blob.core.windows.net"},
        {{.endpoint = "https://acct.blob.core.windows.net/data", .account_name = "acct", .container = "data",
          .account_key = test_key}, "has a path: give the container ('data') as container"},
        {{.endpoint = "http://h/a", .account_name = "acct", .container = "data"}, "no credential"},
        {{.endpoint = "http://h/a", .account_name = "acct", .container = "data", .account_key = test_key,
          .sas_token = "sig=x"}, "not both"},
        {{.endpoint = "http://h/a", .account_name = "acct", .container = "data", .account_key = "SECRET-not-b64"},
         "account_key of storage account 'acct' is not base64"},
        {{.endpoint = "http://h/a", .account_name = "acct", .container = "data", .sas_token = "sv=2021&sp=r"},
         "sas_token has no sig= parameter"},
        {{.endpoint = "http://h/a", .account_name = "acct", .container = "data",
          .sas_token = "https://acct.blob.core.windows.net/data?sv=1&sig=SECRETSIG"}, "sas_token is a URL"},
        {{.endpoint = "http://h/a", .account_name = "acct", .container = "data", .account_key = test_key,
          .list_page_size = 9000}, "list_page_size 9000 is more than the service's 5000"},
        {{.endpoint = "http://h/a", .account_name = "acct", .container = "data", .account_key = test_key,
          .block_size = 100}, "block_size 100 is outside"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        amlfs_err err = {0};
        blob_client *c = blob_client_new(&bad[i].cfg, &err);
        CHECK(!c && err.code == EINVAL && strstr(err.msg, bad[i].expect), "refusal %zu: %s", i, err.msg);
        CHECK(!strstr(err.msg, "SECRET") && !strstr(err.msg, test_key), "refusal %zu quotes no secret: %s", i, err.msg);
        blob_client_free(c);
    }
}

static const char listing_page[] =
    "\xef\xbb\xbf<?xml version=\"1.0\" encoding=\"utf-8\"?>"
    "<EnumerationResults ServiceEndpoint=\"https://acct.blob.core.windows.net/\" ContainerName=\"data\">"
    "<Prefix>dir/</Prefix><MaxResults>3</MaxResults><Delimiter>/</Delimiter><Blobs>"
    "<Blob><Name>dir/a.txt</Name><Properties><Creation-Time>Tue, 04 Sep 2012 23:17:52 GMT</Creation-Time>"
    "<Last-Modified>Sun, 11 Oct 2009 21:49:13 GMT</Last-Modified><Etag>\"0x8CFB877BB56A6FB\"</Etag>"
    "<Content-Length>12345678901</Content-Length><Content-Type>text/plain</Content-Type>"
    "<Content-MD5>1B2M2Y8AsgTpgAmY7PhCfg==</Content-MD5><BlobType>BlockBlob</BlobType></Properties></Blob>"
    "<BlobPrefix><Name>dir/sub/</Name></BlobPrefix>"
    "<Blob><Name Encoded=\"true\">dir/%EF%BF%BEodd</Name><Properties><Content-Length>0</Content-Length>"
    "<Content-MD5 /></Properties></Blob>"
    "</Blobs><NextMarker>2!72!MDAwMDEy</NextMarker></EnumerationResults>";

static void test_listing(void)
{
    blob_listing l = {0};
    char *next = NULL;
    amlfs_err err = {0};
    int rc = blob_xml_listing(listing_page, sizeof listing_page - 1, &l, 100, &next, &err);
    CHECK(rc == 0, "a page parses: %s", err.msg);
    CHECK(l.count == 2 && l.prefix_count == 1, "two blobs and a folder: %zu %zu", l.count, l.prefix_count);
    if (l.count == 2 && l.prefix_count == 1) {
        CHECK(strcmp(l.blobs[0].name, "dir/a.txt") == 0, "name: %s", l.blobs[0].name);
        CHECK(l.blobs[0].size == 12345678901ULL, "a size past 4 GiB: %llu", (unsigned long long)l.blobs[0].size);
        CHECK(l.blobs[0].last_modified_ms == 1255297753000, "time: %lld", (long long)l.blobs[0].last_modified_ms);
        CHECK(strcmp(l.blobs[0].etag, "\"0x8CFB877BB56A6FB\"") == 0, "etag: %s", l.blobs[0].etag);
        CHECK(l.blobs[0].content_md5 && strcmp(l.blobs[0].content_md5, "1B2M2Y8AsgTpgAmY7PhCfg==") == 0, "md5");
        CHECK(strcmp(l.blobs[1].name, "dir/\xef\xbf\xbeodd") == 0, "an Encoded name is decoded: %s", l.blobs[1].name);
        CHECK(l.blobs[1].size == 0 && !l.blobs[1].content_md5 && !l.blobs[1].etag, "an empty MD5 is none");
        CHECK(strcmp(l.prefixes[0], "dir/sub/") == 0, "folder: %s", l.prefixes[0]);
    }
    CHECK(next && strcmp(next, "2!72!MDAwMDEy") == 0, "next marker: %s", next ? next : "(none)");
    free(next);
    /* A second page is appended; past the limit it is refused. */
    rc = blob_xml_listing(listing_page, sizeof listing_page - 1, &l, 5, &next, &err);
    CHECK(rc == -EFBIG && strstr(err.msg, "more than 5 entries"), "the bound: %d %s", rc, err.msg);
    free(next);
    blob_listing_free(&l);

    const char *last = "<EnumerationResults><Blobs/><NextMarker/></EnumerationResults>";
    CHECK(blob_xml_listing(last, strlen(last), &l, 100, &next, &err) == 0 && !next && l.count == 0,
          "an empty last page");
    blob_listing_free(&l);
    static const char *const broken[] = {
        "<html>not a listing</html>",
        "<EnumerationResults><Blobs><Blob><Name>x</Name><Properties><Content-Length>-1</Content-Length>"
        "</Properties></Blob></Blobs></EnumerationResults>",
        "<EnumerationResults><Blobs><Blob><Properties><Content-Length>1</Content-Length></Properties></Blob>"
        "</Blobs></EnumerationResults>",
        "<EnumerationResults><Blobs><Blob><Name>",
        "",
        /* An external entity is neither fetched nor expanded. */
        "<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><EnumerationResults><Blobs><Blob><Name>&x;</Name>"
        "<Properties><Content-Length>1</Content-Length></Properties></Blob></Blobs></EnumerationResults>",
        /* Nor are nested internal ones (a billion laughs). */
        "<!DOCTYPE r [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">"
        "<!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\"><!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\">"
        "<!ENTITY e \"&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;\"><!ENTITY f \"&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;\">"
        "<!ENTITY g \"&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;\"><!ENTITY h \"&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;\">]>"
        "<EnumerationResults><Blobs><Blob><Name>&h;</Name><Properties><Content-Length>1</Content-Length>"
        "</Properties></Blob></Blobs></EnumerationResults>",
    };
    for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++) {
        rc = blob_xml_listing(broken[i], strlen(broken[i]), &l, 100, &next, &err);
        bool leaked = false;
        for (size_t k = 0; k < l.count; k++)
            leaked |= strstr(l.blobs[k].name, "root:") != NULL;
        CHECK(rc == -EIO && !leaked, "broken page %zu: %d %s", i, rc, err.msg);
        blob_listing_free(&l);
        free(next);
        next = NULL;
    }
}

static void test_error_body(void)
{
    const char *body = "\xef\xbb\xbf<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>ContainerNotFound</Code>"
                       "<Message>The specified container does not exist.\nRequestId:1c3e\nTime:2026-12-01T00:00:00Z"
                       "</Message></Error>";
    char code[64], msg[256];
    CHECK(blob_xml_error(body, strlen(body), code, sizeof code, msg, sizeof msg) == 0, "an error body parses");
    CHECK(strcmp(code, "ContainerNotFound") == 0, "code: %s", code);
    CHECK(strcmp(msg, "The specified container does not exist.") == 0, "the first line of the message: %s", msg);
    CHECK(blob_xml_error("oops", 4, code, sizeof code, msg, sizeof msg) == -1 && !code[0], "not XML");
    CHECK(blob_xml_error("<a/>", 4, code, sizeof code, msg, sizeof msg) == -1, "not an Error");
}

static void test_block_list(void)
{
    char *ids[] = {"YQ==", "Yg=="};
    size_t len = 0;
    char *xml = blob_xml_block_list(ids, 2, &len);
    const char *expect = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                         "<BlockList><Latest>YQ==</Latest><Latest>Yg==</Latest></BlockList>\n";
    CHECK(xml && strcmp(xml, expect) == 0 && len == strlen(expect), "block list: %s", xml ? xml : "(null)");
    free(xml);
}

static void test_names(void)
{
    amlfs_err err = {0};
    CHECK(blob_check_name("", &err) == -EINVAL, "an empty name");
    char *long_name = calloc(1, 1100);
    memset(long_name, 'a', 1099);
    CHECK(blob_check_name(long_name, &err) == -EINVAL && strstr(err.msg, "longer than 1024"), "%s", err.msg);
    free(long_name);
    CHECK(blob_check_name("dir/a b+c%.txt", &err) == 0, "any characters");
}

int main(void)
{
    test_string_to_sign();
    test_base64_and_date();
    test_sas();
    test_config_refusals();
    test_listing();
    test_error_body();
    test_block_list();
    test_names();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
