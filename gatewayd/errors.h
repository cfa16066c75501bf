/* Error responses in the wire format of the endpoint that was called:
 * OpenAI's {"error":{message,type,param,code}} for the OpenAI routes,
 * Anthropic's {"type":"error","error":{type,message}} for /v1/messages and
 * /v1/messages/count_tokens (chosen from r->api, so a call site never cares
 * which front door it serves). */
#ifndef GW_ERRORS_H
#define GW_ERRORS_H

#include <stddef.h>

struct gw_buf;
struct gw_request;

/* Sets r's status and body to an error. type is OpenAI's error type
 * (invalid_request_error, authentication_error, ...); code and param may be
 * NULL. The message is printf-formatted. For Anthropic callers the error type
 * follows from the status (gw_error_anthropic_type); code is still what the
 * usage row records. */
void gw_error_respond(struct gw_request *r, int status, const char *type, const char *code,
                      const char *param, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* Appends to out the SSE event that ends a stream which failed after it
 * started: `data: {"error":...}` for OpenAI callers, `event: error` with an
 * api_error for Anthropic callers. */
void gw_error_stream_event(struct gw_request *r, struct gw_buf *out, const char *type,
                           const char *code, const char *message);

/* An upstream's non-2xx answer, passed on with its status. OpenAI callers get
 * the body unchanged when it is an OpenAI error object (ownership of *body
 * moves to r->out), else a wrapped error with code upstream_http_<status>;
 * Anthropic callers get the upstream's message in Anthropic's shape. */
void gw_error_upstream(struct gw_request *r, int status, struct gw_buf *body, const char *provider);

/* Anthropic's error type for an HTTP status (400 invalid_request_error, 401
 * authentication_error, 403 permission_error, 404 not_found_error, 413
 * request_too_large, 429 rate_limit_error, 5xx api_error, ...). */
const char *gw_error_anthropic_type(int status);

#endif
