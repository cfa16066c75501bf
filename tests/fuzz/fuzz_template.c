/* libFuzzer target for the prompt library's parsers: common/template.c (the
 * {{variable}} scanner and renderer), common/prompt_tpl.c (template
 * documents in text, JSON and YAML, and the YAML written back),
 * common/linediff.c, and the request side: a body through the parse stage
 * (or parse_messages) and the prompt stage (gatewayd/stages/prompt.c,
 * gatewayd/prompts.c) against a snapshot of three templates loaded from a
 * database made at start-up. Input: byte 0 picks the mode (value % 6: 0 a
 * template text, 1 a plain-text document, 2 JSON, 3 YAML, 4 a chat body,
 * 5 a /v1/messages body), the rest is the text.
 * Checks: scanning and rendering agree on whether a text is well formed
 * (and on the offset and message when it is not), every name found is
 * valid, and rendering with every value empty never gives more than the
 * text; an accepted document is canonical (checking it again changes
 * nothing) and its YAML reads back as the same template; a text diffed with
 * itself gives nothing, and with another text something; a body the two
 * stages accept has a model equal to r->model_name, a non-empty messages
 * array and no "prompt" or "inputs" left, and one they refuse has a 400,
 * 404 or 413 in its front door's error shape. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "db.h"
#include "fuzz_request.h"
#include "linediff.h"
#include "pipeline.h"
#include "prompt_tpl.h"
#include "prompts.h"
#include "template.h"

/* ---- the snapshot the request modes render from ------------------------- */

static char dir[64], db_path[96];

static void cleanup(void)
{
    static const char *const suffix[] = {"", "-wal", "-shm"};
    char p[128];
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", db_path, suffix[i]);
        unlink(p);
    }
    rmdir(dir);
}

static void add_prompt(sqlite3 *db, const char *name, int version, const char *yaml)
{
    char err[400], sql[160];
    cJSON *t = gw_ptpl_parse(yaml, strlen(yaml), GW_PTPL_YAML, err, sizeof err);
    CHECK(t != NULL);
    char *json = cJSON_PrintUnformatted(t);
    snprintf(sql, sizeof sql,
             "INSERT INTO prompts VALUES ('%s', %d, %d, 0, 0, NULL) ON CONFLICT DO UPDATE SET "
             "active_version = %d, latest_version = %d",
             name, version, version, version, version);
    CHECK(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_stmt *st;
    CHECK(sqlite3_prepare_v2(db,
                             "INSERT INTO prompt_versions VALUES (?, ?, ?, '', 'yaml', 0, NULL)",
                             -1, &st, NULL) == SQLITE_OK);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, version);
    sqlite3_bind_text(st, 3, json, -1, SQLITE_STATIC);
    CHECK(sqlite3_step(st) == SQLITE_DONE);
    sqlite3_finalize(st);
    cJSON_free(json);
    cJSON_Delete(t);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[400];
    fuzz_install_default_config("fuzz_template");
    snprintf(dir, sizeof dir, "/tmp/fuzz_template.XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    snprintf(db_path, sizeof db_path, "%s/gateway.db", dir);
    atexit(cleanup);
    sqlite3 *db = gw_db_open(db_path, GW_DB_READWRITE, err, sizeof err);
    CHECK(db && gw_db_migrate(db, err, sizeof err) == 0);
    add_prompt(db, "p", 1, "system: \"Hi {{a}} and {{ b }}\"\n");
    add_prompt(db, "p", 2, "system: \"Hi {{a}}\"\nmessages: [{role: user, content: \"{{a}}\"}]\n");
    add_prompt(db, "q", 1,
               "model: gpt-4o-mini\nforce_model: true\nparams: {temperature: 0.5, max_tokens: 9}\n"
               "messages: [{role: assistant, content: \"x {{{{y}}\"}]\n");
    sqlite3_close(db);
    CHECK(gw_prompts_reload(db_path, err, sizeof err) == 0);
    return 0;
}

struct count {
    size_t vars;
};

static int count_var(const char *name, size_t len, void *arg)
{
    struct count *c = arg;
    CHECK(gw_tpl_name_valid(name, len));
    c->vars++;
    return 0;
}

static const char *empty_value(const char *name, size_t len, size_t *vlen, void *arg)
{
    *vlen = 0;
    return "";
}

static void fuzz_text(const char *s, size_t n)
{
    struct count c = {0};
    struct gw_tpl_error e1, e2;
    int scanned = gw_tpl_scan(s, n, count_var, &c, &e1);
    struct gw_buf out = {0};
    int rendered = gw_tpl_render(s, n, empty_value, NULL, &out, &e2);
    CHECK(rendered != -2);
    CHECK((scanned == 0) == (rendered == 0));
    if (scanned != 0) {
        CHECK(e1.offset == e2.offset && e1.offset < n);
        CHECK(strcmp(e1.msg, e2.msg) == 0);
    } else {
        CHECK(out.len <= n);
    }
    gw_buf_free(&out);
}

static void fuzz_doc(const char *s, size_t n, enum gw_ptpl_format f)
{
    char err[400];
    cJSON *t = gw_ptpl_parse(s, n, f, err, sizeof err);
    if (!t) {
        CHECK(err[0] != '\0');
        return;
    }
    cJSON *again = gw_ptpl_check(t, err, sizeof err);
    CHECK(again && cJSON_Compare(t, again, 1));
    struct gw_buf y = {0};
    CHECK(gw_ptpl_yaml(t, &y) == 0);
    cJSON *back = gw_ptpl_parse(y.data, y.len, GW_PTPL_YAML, err, sizeof err);
    if (!back || !cJSON_Compare(t, back, 1))
        abort();
    struct gw_buf d = {0};
    CHECK(gw_linediff(y.data, y.len, y.data, y.len, 3, "a", "b", &d) == 0);
    CHECK(d.len == 0);
    CHECK(gw_linediff(s, n, y.data, y.len, 2, "a", "b", &d) == 0);
    CHECK((d.len == 0) == (n == y.len && memcmp(s, y.data, n) == 0));
    gw_buf_free(&d);
    gw_buf_free(&y);
    cJSON_Delete(again);
    cJSON_Delete(back);
    cJSON_Delete(t);
}

/* A body through parse (or parse_messages) and the prompt stage. */
static void fuzz_request_body(const uint8_t *data, size_t size, int messages)
{
    struct gw_request *r =
        fuzz_request(messages ? GW_API_MESSAGES : GW_API_CHAT,
                     messages ? "/v1/messages" : "/v1/chat/completions", data, size);
    enum gw_stage_rc rc = (messages ? gw_stage_parse_messages : gw_stage_parse).run(r);
    if (rc == GW_STAGE_CONTINUE)
        rc = gw_stage_prompt.run(r);
    if (rc == GW_STAGE_CONTINUE) {
        CHECK(r->status == 0);
        const cJSON *model = cJSON_GetObjectItemCaseSensitive(r->json, "model");
        CHECK(cJSON_IsString(model) && r->model_name &&
              strcmp(model->valuestring, r->model_name) == 0);
        const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(r->json, "messages");
        CHECK(cJSON_IsArray(msgs) && msgs->child);
        if (r->prompt_name) {
            CHECK(r->json_rewritten && r->prompt_version > 0);
            CHECK(!cJSON_GetObjectItemCaseSensitive(r->json, "prompt"));
            CHECK(!cJSON_GetObjectItemCaseSensitive(r->json, "inputs"));
            CHECK(r->headers && strcmp(r->headers->name, "x-gw-prompt") == 0);
        }
    } else {
        CHECK(rc == GW_STAGE_RESPOND);
        CHECK(r->status == 400 || r->status == 404 || r->status == 413);
        cJSON *j = cJSON_ParseWithLength(r->out.data, r->out.len);
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
        CHECK(cJSON_IsObject(e));
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(e, "message");
        CHECK(cJSON_IsString(msg) && *msg->valuestring);
        if (messages)
            CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "type")));
        cJSON_Delete(j);
    }
    gw_request_release(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 64 * 1024)
        return 0;
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    switch (data[0] % 6) {
    case 0:
        fuzz_text(s, n);
        break;
    case 1:
        fuzz_doc(s, n, GW_PTPL_TEXT);
        break;
    case 2:
        fuzz_doc(s, n, GW_PTPL_JSON);
        break;
    case 3:
        fuzz_doc(s, n, GW_PTPL_YAML);
        break;
    default:
        fuzz_request_body(data + 1, n, data[0] % 6 == 5);
        break;
    }
    return 0;
}
