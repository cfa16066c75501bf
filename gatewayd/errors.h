/* Error responses in the wire format of the endpoint that was called
 * (OpenAI's {"error":{message,type,param,code}} for the /v1 OpenAI routes). */
#ifndef GW_ERRORS_H
#define GW_ERRORS_H

struct gw_request;

/* Sets r's status and body to an error. type is OpenAI's error type
 * (invalid_request_error, authentication_error, ...); code and param may be
 * NULL. The message is printf-formatted. */
void gw_error_respond(struct gw_request *r, int status, const char *type, const char *code,
                      const char *param, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* The SSE event that ends a stream which failed after it started. */
void gw_error_stream_event(struct gw_request *r, const char *type, const char *code,
                           const char *message);

#endif
