/* Growable byte buffers (always NUL-terminated for convenience) and small
 * string helpers shared by the daemon, gwctl, the mock and the tests. */
#ifndef GW_BUF_H
#define GW_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct gw_buf {
    char *data; /* owned; NULL until the first append */
    size_t len;
    size_t cap;
};

/* Each returns 0, or -1 when memory runs out (the buffer is left unchanged). */
int gw_buf_reserve(struct gw_buf *b, size_t extra);
int gw_buf_append(struct gw_buf *b, const void *p, size_t n);
int gw_buf_puts(struct gw_buf *b, const char *s);
int gw_buf_printf(struct gw_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int gw_buf_vprintf(struct gw_buf *b, const char *fmt, va_list ap);
/* Appends s as a JSON string literal, quotes included. */
int gw_buf_json_str(struct gw_buf *b, const char *s);
/* Drops the first n bytes. */
void gw_buf_consume(struct gw_buf *b, size_t n);
void gw_buf_reset(struct gw_buf *b);
void gw_buf_free(struct gw_buf *b);

/* Monotonic clock in microseconds, wall clock in milliseconds. */
long long gw_now_us(void);
long long gw_wall_ms(void);

#endif
