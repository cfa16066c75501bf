/* Unit tests of the prompt library's pure parts: common/template.c (the
 * {{variable}} scanner and renderer: spaces, escapes, braces next to
 * placeholders, every malformed form with its offset) and
 * common/prompt_tpl.c (text, JSON and YAML documents into the canonical
 * template, every refusal naming its member, and YAML written back reading
 * as the same template), and common/linediff.c (the unified diff of two
 * versions). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "buf.h"
#include "linediff.h"
#include "prompt_tpl.h"
#include "template.h"

/* ---- template.c ---------------------------------------------------------- */

struct names {
    char list[512];
};

static int collect(const char *name, size_t len, void *arg)
{
    struct names *n = arg;
    size_t at = strlen(n->list);
    snprintf(n->list + at, sizeof n->list - at, "%s%.*s", at ? "," : "", (int)len, name);
    return 0;
}

static const char *vars_of(const char *text, struct names *n)
{
    n->list[0] = '\0';
    struct gw_tpl_error e;
    return gw_tpl_scan(text, strlen(text), collect, n, &e) == 0 ? n->list : "ERROR";
}

static void test_scan_names(void **state)
{
    struct names n;
    assert_string_equal(vars_of("no placeholders { } }} {x}", &n), "");
    assert_string_equal(vars_of("Hi {{name}}!", &n), "name");
    assert_string_equal(vars_of("{{ a }}{{\tb\t}} {{a}}", &n), "a,b,a");
    assert_string_equal(vars_of("{{user.first-name}} {{_x9}}", &n), "user.first-name,_x9");
    assert_string_equal(vars_of("{{{{literal}} and {{x}}", &n), "x");
    assert_string_equal(vars_of("{\"json\": {{{v}}}}", &n), "v");
    assert_string_equal(vars_of("{{{{", &n), "");
    assert_string_equal(vars_of("", &n), "");
}

static void expect_scan_error(const char *text, size_t offset, const char *what)
{
    struct gw_tpl_error e = {0};
    assert_int_equal(gw_tpl_scan(text, strlen(text), NULL, NULL, &e), -1);
    assert_int_equal(e.offset, offset);
    assert_non_null(strstr(e.msg, what));
}

static void test_scan_errors(void **state)
{
    expect_scan_error("{{}}", 0, "not followed by a variable name");
    expect_scan_error("ab {{ }}", 3, "not followed by a variable name");
    expect_scan_error("x {{9lives}}", 2, "not followed by a variable name");
    expect_scan_error("{{name", 0, "not closed");
    expect_scan_error("{{name}", 0, "not closed");
    expect_scan_error("{{na me}}", 0, "not closed");
    expect_scan_error("{{a}} {{b!}}", 6, "not closed");
    expect_scan_error("{{", 0, "not followed");
    expect_scan_error("{{{", 1, "not followed");
    char longname[100];
    memset(longname, 'a', sizeof longname);
    memcpy(longname, "{{", 2);
    memcpy(longname + 2 + 65, "}}", 3);
    expect_scan_error(longname, 0, "longer than 64");
    /* 64 bytes is the limit, and allowed */
    memcpy(longname + 2 + 64, "}}", 3);
    struct names n;
    assert_int_equal(strlen(vars_of(longname, &n)), 64);
}

static const char *lookup(const char *name, size_t len, size_t *vlen, void *arg)
{
    static const char *const kv[][2] = {
        {"name", "Ada"}, {"topic", "engines"}, {"empty", ""}, {"braces", "{{not_a_var}}"}};
    for (size_t i = 0; i < sizeof kv / sizeof *kv; i++)
        if (strlen(kv[i][0]) == len && memcmp(kv[i][0], name, len) == 0) {
            *vlen = strlen(kv[i][1]);
            return kv[i][1];
        }
    return NULL;
}

static char *render(const char *text, int *rc, struct gw_tpl_error *e)
{
    struct gw_buf out = {0};
    *rc = gw_tpl_render(text, strlen(text), lookup, NULL, &out, e);
    char *s = strdup(out.data ? out.data : "");
    gw_buf_free(&out);
    return s;
}

static void expect_render(const char *text, const char *want)
{
    int rc;
    struct gw_tpl_error e;
    char *got = render(text, &rc, &e);
    assert_int_equal(rc, 0);
    assert_string_equal(got, want);
    free(got);
}

static void test_render(void **state)
{
    expect_render("Hello {{name}}, about {{ topic }}.", "Hello Ada, about engines.");
    expect_render("{{name}}{{name}}", "AdaAda");
    expect_render("[{{empty}}]", "[]");
    expect_render("{{{{name}} is written {{name}}", "{{name}} is written Ada");
    expect_render("{\"who\": {{{name}}}}", "{\"who\": {Ada}}");
    expect_render("a { b } c }} d", "a { b } c }} d");
    /* a value is inserted as it is, never scanned again */
    expect_render("{{braces}}", "{{not_a_var}}");
    expect_render("", "");
    expect_render("{", "{");

    int rc;
    struct gw_tpl_error e;
    char *got = render("Hi {{nobody}}", &rc, &e);
    assert_int_equal(rc, -1);
    assert_int_equal(e.offset, 5);
    assert_non_null(strstr(e.msg, "'nobody'"));
    free(got);
    got = render("Hi {{name", &rc, &e);
    assert_int_equal(rc, -1);
    assert_int_equal(e.offset, 3);
    free(got);
}

static void test_name_valid(void **state)
{
    assert_true(gw_tpl_name_valid("a", 1));
    assert_true(gw_tpl_name_valid("_a.b-c9", 7));
    assert_false(gw_tpl_name_valid("", 0));
    assert_false(gw_tpl_name_valid("9a", 2));
    assert_false(gw_tpl_name_valid("a b", 3));
    assert_false(gw_tpl_name_valid("-a", 2));
}

/* ---- prompt_tpl.c -------------------------------------------------------- */

static cJSON *parse(const char *src, enum gw_ptpl_format f, char *err)
{
    return gw_ptpl_parse(src, strlen(src), f, err, 300);
}

static char *json_of(const cJSON *v)
{
    return cJSON_PrintUnformatted(v);
}

static void expect_doc(const char *src, enum gw_ptpl_format f, const char *want_json)
{
    char err[300] = "";
    cJSON *t = parse(src, f, err);
    if (!t)
        fail_msg("refused: %s\n%s", err, src);
    char *j = json_of(t);
    assert_string_equal(j, want_json);
    /* the YAML written back reads as the same template */
    struct gw_buf y = {0};
    assert_int_equal(gw_ptpl_yaml(t, &y), 0);
    cJSON *back = parse(y.data, GW_PTPL_YAML, err);
    if (!back)
        fail_msg("YAML not read back: %s\n%s", err, y.data);
    char *j2 = json_of(back);
    assert_string_equal(j2, want_json);
    free(j);
    free(j2);
    cJSON_Delete(t);
    cJSON_Delete(back);
    gw_buf_free(&y);
}

static void expect_refused(const char *src, enum gw_ptpl_format f, const char *what)
{
    char err[300] = "";
    cJSON *t = parse(src, f, err);
    if (t)
        fail_msg("accepted: %s", src);
    if (!strstr(err, what))
        fail_msg("error '%s' does not say '%s'", err, what);
}

static void test_doc_text(void **state)
{
    expect_doc("You help {{customer}} with {{ product }}.\n", GW_PTPL_TEXT,
               "{\"variables\":[\"customer\",\"product\"],"
               "\"system\":\"You help {{customer}} with {{ product }}.\"}");
    expect_doc("line one\r\n  line two\n\n", GW_PTPL_TEXT,
               "{\"variables\":[],\"system\":\"line one\\r\\n  line two\"}");
    expect_refused("\n\n", GW_PTPL_TEXT, "non-empty system");
    expect_refused("bad {{ placeholder", GW_PTPL_TEXT, "system: '{{' not closed");
    expect_refused("\xff\xfe", GW_PTPL_TEXT, "not UTF-8");
}

static void test_doc_yaml(void **state)
{
    expect_doc("description: Support answers\n"
               "model: gpt-4o-mini\n"
               "params: { temperature: 0.2, max_tokens: 300, stop: [\"END\"], "
               "response_format: {type: json_object} }\n"
               "system: |\n"
               "  You are the support agent of {{company}}.\n"
               "  Answer in {{language}}.\n"
               "messages:\n"
               "  - role: user\n"
               "    content: 'Product: {{product}}'\n",
               GW_PTPL_YAML,
               "{\"description\":\"Support answers\",\"model\":\"gpt-4o-mini\","
               "\"params\":{\"temperature\":0.2,\"max_tokens\":300,\"stop\":[\"END\"],"
               "\"response_format\":{\"type\":\"json_object\"}},"
               "\"variables\":[\"company\",\"language\",\"product\"],"
               "\"system\":\"You are the support agent of {{company}}.\\nAnswer in "
               "{{language}}.\\n\","
               "\"messages\":[{\"role\":\"user\",\"content\":\"Product: {{product}}\"}]}");
    /* declared variables, in their own order; force_model */
    expect_doc("variables: [b, a]\nmodel: m\nforce_model: true\nsystem: \"{{a}} {{b}}\"\n",
               GW_PTPL_YAML,
               "{\"model\":\"m\",\"force_model\":true,\"variables\":[\"b\",\"a\"],"
               "\"system\":\"{{a}} {{b}}\"}");
    /* plain scalars: numbers and words that look like other types stay what
     * YAML's core schema says; quoted ones are strings */
    expect_doc("params: {seed: 7, user: \"7\", logprobs: true, top_logprobs: null, x: yes}\n"
               "system: s\n",
               GW_PTPL_YAML,
               "{\"params\":{\"seed\":7,\"user\":\"7\",\"logprobs\":true,\"top_logprobs\":null,"
               "\"x\":\"yes\"},\"variables\":[],\"system\":\"s\"}");
    /* text a block cannot carry is written quoted with escapes, and read back */
    expect_doc(
        "{\"system\":\"  indented\\n\\ttab\\u2028ls \\u0085 \\\"q\\\" \\\\ "
        "\\u0001\",\"messages\":[{\"role\":\"assistant\",\"content\":\"\\n\\nlead\\n\\n\\n\"},"
        "{\"role\":\"user\",\"content\":\"  two\\n    spaces\\n\"},"
        "{\"role\":\"developer\",\"content\":\"trailing   \\n   \"}]}",
        GW_PTPL_JSON,
        "{\"variables\":[],\"system\":\"  indented\\n\\ttab\xe2\x80\xa8ls \xc2\x85 "
        "\\\"q\\\" \\\\ \\u0001\",\"messages\":[{\"role\":\"assistant\",\"content\":"
        "\"\\n\\nlead\\n\\n\\n\"},{\"role\":\"user\",\"content\":\"  two\\n    spaces\\n\"},"
        "{\"role\":\"developer\",\"content\":\"trailing   \\n   \"}]}");
}

static void test_doc_refusals(void **state)
{
    expect_refused("system: a\nsystme: b\n", GW_PTPL_YAML, "systme: unknown key");
    expect_refused("system: a\nsystem: b\n", GW_PTPL_YAML, "line 2: key 'system' given twice");
    expect_refused("system: [a\n", GW_PTPL_YAML, "line ");
    expect_refused("- a\n- b\n", GW_PTPL_YAML, "must be a mapping");
    expect_refused("", GW_PTPL_YAML, "empty");
    expect_refused("system: a\n---\nsystem: b\n", GW_PTPL_YAML, "more than one YAML document");
    expect_refused("a: &x [*x]\n", GW_PTPL_YAML, "line");
    expect_refused("system: 5\n", GW_PTPL_YAML, "system: must be a string");
    expect_refused("model: gpt\n", GW_PTPL_YAML, "non-empty system or at least one message");
    expect_refused("messages: []\n", GW_PTPL_YAML, "non-empty system or at least one message");
    expect_refused("messages: [{role: tool, content: x}]\n", GW_PTPL_YAML,
                   "messages[0].role: must be one of");
    expect_refused("messages: [{role: user}]\n", GW_PTPL_YAML,
                   "messages[0].content: must be a string");
    expect_refused("messages: [{role: user, content: x, name: n}]\n", GW_PTPL_YAML,
                   "messages[0].name: unknown key");
    expect_refused("messages: [{role: user, content: \"{{x\"}]\n", GW_PTPL_YAML,
                   "messages[0].content: '{{' not closed");
    expect_refused("messages: hello\n", GW_PTPL_YAML, "messages: must be a list");
    expect_refused("system: s\nparams: {model: x}\n", GW_PTPL_YAML,
                   "params.model: set by the request");
    expect_refused("system: s\nparams: {stream: true}\n", GW_PTPL_YAML, "params.stream");
    expect_refused("system: s\nparams: {temperature: hot}\n", GW_PTPL_YAML,
                   "params.temperature: must be a number");
    expect_refused("system: s\nparams: [1]\n", GW_PTPL_YAML, "params: must be a mapping");
    expect_refused("system: s\nmodel: \"\"\n", GW_PTPL_YAML, "model: must be a non-empty");
    expect_refused("system: s\nforce_model: true\n", GW_PTPL_YAML,
                   "force_model: true needs a model");
    expect_refused("system: s\nforce_model: 1\n", GW_PTPL_YAML, "force_model: must be");
    expect_refused("system: \"{{a}}\"\nvariables: [a, b]\n", GW_PTPL_YAML,
                   "'b' is declared but no text uses {{b}}");
    expect_refused("system: \"{{a}} {{c}}\"\nvariables: [a]\n", GW_PTPL_YAML,
                   "{{c}} is used but not declared");
    expect_refused("system: \"{{a}}\"\nvariables: [a, a]\n", GW_PTPL_YAML, "listed twice");
    expect_refused("system: \"{{a}}\"\nvariables: [\"9a\"]\n", GW_PTPL_YAML, "variables[0]");
    expect_refused("system: s\nvariables: a\n", GW_PTPL_YAML, "variables: must be a list");
    expect_refused("system: s\ndescription: [x]\n", GW_PTPL_YAML, "description: must be a string");
    expect_refused("{\"system\": \"s\"} x", GW_PTPL_JSON, "data after the JSON object");
    expect_refused("{\"system\": ", GW_PTPL_JSON, "not valid JSON");
    expect_refused("\"just a string\"", GW_PTPL_JSON, "must be a mapping");
    expect_refused("system: \"a\\0b\"\n", GW_PTPL_YAML, "NUL");

    /* too many variables, too large */
    struct gw_buf b = {0};
    gw_buf_puts(&b, "system: \"");
    for (int i = 0; i <= GW_PTPL_MAX_VARIABLES; i++)
        gw_buf_printf(&b, "{{v%d}}", i);
    gw_buf_puts(&b, "\"\n");
    expect_refused(b.data, GW_PTPL_YAML, "more than 64 variables");
    gw_buf_free(&b);
    char *big = malloc(GW_PTPL_MAX_SOURCE + 2);
    memset(big, 'a', GW_PTPL_MAX_SOURCE + 1);
    big[GW_PTPL_MAX_SOURCE + 1] = '\0';
    expect_refused(big, GW_PTPL_TEXT, "larger than");
    free(big);
    /* aliases expanding past the node budget */
    struct gw_buf bomb = {0};
    gw_buf_puts(&bomb, "a: &a [x,x,x,x,x,x,x,x,x,x]\n");
    for (char c = 'b'; c <= 'h'; c++)
        gw_buf_printf(&bomb, "%c: &%c [*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c]\n", c, c, c - 1,
                      c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1);
    expect_refused(bomb.data, GW_PTPL_YAML, "too many values");
    gw_buf_free(&bomb);
}

static void test_formats(void **state)
{
    enum gw_ptpl_format f;
    assert_int_equal(gw_ptpl_format_parse("yaml", &f), 0);
    assert_int_equal(f, GW_PTPL_YAML);
    assert_int_equal(gw_ptpl_format_parse("yml", &f), -1);
    assert_int_equal(gw_ptpl_format_for_file("a/b/support.YAML"), GW_PTPL_YAML);
    assert_int_equal(gw_ptpl_format_for_file("x.yml"), GW_PTPL_YAML);
    assert_int_equal(gw_ptpl_format_for_file("x.json"), GW_PTPL_JSON);
    assert_int_equal(gw_ptpl_format_for_file("x.txt"), GW_PTPL_TEXT);
    assert_int_equal(gw_ptpl_format_for_file("json"), GW_PTPL_TEXT);
    assert_int_equal(gw_ptpl_format_for_file(NULL), GW_PTPL_TEXT);
    assert_string_equal(gw_ptpl_format_name(GW_PTPL_JSON), "json");
}

static void test_yaml_view(void **state)
{
    char err[300];
    cJSON *t = parse("{\"model\":\"gpt-4o\",\"params\":{\"temperature\":0.5},"
                     "\"system\":\"Be brief.\\nAsk {{who}}.\\n\","
                     "\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}",
                     GW_PTPL_JSON, err);
    assert_non_null(t);
    struct gw_buf y = {0};
    assert_int_equal(gw_ptpl_yaml(t, &y), 0);
    assert_string_equal(y.data, "model: gpt-4o\n"
                                "params:\n"
                                "  temperature: 0.5\n"
                                "variables: [who]\n"
                                "system: |\n"
                                "  Be brief.\n"
                                "  Ask {{who}}.\n"
                                "messages:\n"
                                "  - role: user\n"
                                "    content: \"Hi\"\n");
    gw_buf_free(&y);
    cJSON_Delete(t);
}

/* ---- linediff.c ---------------------------------------------------------- */

static char *diff(const char *a, const char *b, int context)
{
    struct gw_buf out = {0};
    assert_int_equal(gw_linediff(a, strlen(a), b, strlen(b), context, "a", "b", &out), 0);
    char *s = strdup(out.data ? out.data : "");
    gw_buf_free(&out);
    return s;
}

static void test_linediff(void **state)
{
    char *d = diff("same\n", "same\n", 3);
    assert_string_equal(d, "");
    free(d);
    d = diff("a\nb\nc\n", "a\nB\nc\n", 3);
    assert_string_equal(d, "--- a\n+++ b\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n");
    free(d);
    d = diff("", "x\n", 3);
    assert_string_equal(d, "--- a\n+++ b\n@@ -0,0 +1 @@\n+x\n");
    free(d);
    d = diff("x\ny\n", "", 3);
    assert_string_equal(d, "--- a\n+++ b\n@@ -1,2 +0,0 @@\n-x\n-y\n");
    free(d);
    /* two hunks when the changes are more than 2 * context lines apart */
    d = diff("1\n2\n3\n4\n5\n6\n7\n8\n9\n", "1\nX\n3\n4\n5\n6\n7\nY\n9\n", 1);
    assert_string_equal(d, "--- a\n+++ b\n@@ -1,3 +1,3 @@\n 1\n-2\n+X\n 3\n"
                           "@@ -7,3 +7,3 @@\n 7\n-8\n+Y\n 9\n");
    free(d);
    /* one hunk when they are close */
    d = diff("1\n2\n3\n4\n", "X\n2\n3\nY\n", 1);
    assert_string_equal(d, "--- a\n+++ b\n@@ -1,4 +1,4 @@\n-1\n+X\n 2\n 3\n-4\n+Y\n");
    free(d);
    /* a last line without its line break */
    d = diff("a\nb", "a\nc", 3);
    assert_string_equal(d, "--- a\n+++ b\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n"
                           "+c\n\\ No newline at end of file\n");
    free(d);
    /* an insertion in the middle keeps the common lines */
    d = diff("a\nb\nc\n", "a\nb\nnew\nc\n", 0);
    assert_string_equal(d, "--- a\n+++ b\n@@ -2,0 +3 @@\n+new\n");
    free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scan_names),   cmocka_unit_test(test_scan_errors),
        cmocka_unit_test(test_render),       cmocka_unit_test(test_name_valid),
        cmocka_unit_test(test_doc_text),     cmocka_unit_test(test_doc_yaml),
        cmocka_unit_test(test_doc_refusals), cmocka_unit_test(test_formats),
        cmocka_unit_test(test_yaml_view),    cmocka_unit_test(test_linediff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
