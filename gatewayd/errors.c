/* Error bodies. One place builds them so every endpoint's errors have the
 * same shape, and the usage row gets a short description of what failed. */
#include "errors.h"

#include <stdarg.h>
#include <stdio.h>

#include "buf.h"
#include "request.h"

static void error_json(struct gw_buf *b, const char *type, const char *code, const char *param,
                       const char *msg)
{
    gw_buf_puts(b, "{\"error\":{\"message\":");
    gw_buf_json_str(b, msg);
    gw_buf_puts(b, ",\"type\":");
    gw_buf_json_str(b, type);
    gw_buf_puts(b, ",\"param\":");
    if (param)
        gw_buf_json_str(b, param);
    else
        gw_buf_puts(b, "null");
    gw_buf_puts(b, ",\"code\":");
    if (code)
        gw_buf_json_str(b, code);
    else
        gw_buf_puts(b, "null");
    gw_buf_puts(b, "}}");
}

void gw_error_respond(struct gw_request *r, int status, const char *type, const char *code,
                      const char *param, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->status = status;
    r->content_type = "application/json";
    gw_buf_reset(&r->out);
    error_json(&r->out, type, code, param, msg);
    gw_buf_puts(&r->out, "\n");
    r->error = gw_arena_strdup(r->arena, code ? code : type);
}

void gw_error_stream_event(struct gw_request *r, const char *type, const char *code,
                           const char *message)
{
    gw_buf_puts(&r->out, "data: ");
    error_json(&r->out, type, code, NULL, message);
    gw_buf_puts(&r->out, "\n\n");
    r->error = gw_arena_strdup(r->arena, code ? code : type);
}
