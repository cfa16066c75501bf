/* Callback-driven response bodies: the paced stream of events every wire
 * format's streamed answer is made of (chunk pacing, sse_garbage, drop_after,
 * the mid-stream failure of overloaded / exception, tool-argument fragments)
 * and the truncated unstreamed body used by drop_after.
 *
 * DESIGN: a streamed answer is one fixed sequence of steps (enum mock_ev:
 * start, text block, one step per word, tool call, finish, usage, done),
 * walked lazily here; the format's render function turns each step into its
 * own bytes (SSE events, binary event-stream frames) or into nothing. MHD
 * calls the reader from one of its worker threads. Each call produces at
 * most one step's bytes, which MHD sends as their own HTTP chunk before
 * asking for the next. When a step is not due yet (chunk_delay_ms) the reader
 * suspends the connection through wake.c and returns 0; the timer thread
 * resumes it later and MHD calls the reader again, so a slow stream never
 * holds a worker thread. */
#include "mock.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct mock_stream {
    struct mock_chat chat;
    const struct mock_stream_format *fmt;
    struct MHD_Connection *conn;
    enum mock_ev step;  /* the next step to render */
    const char *cursor; /* next word of chat.reply */
    long words_sent;
    int frags_sent; /* tool-argument fragments */
    bool fail_due;  /* overloaded / exception: FAIL after the first word */
    bool sent_any;  /* pacing starts after the first event */
    char *event;    /* the bytes being sent, and how much of them went out */
    size_t event_len, event_off;
    uint64_t due_ms; /* monotonic time the next event may go out */
};

/* Ends the response mid-body. MHD only marks the connection closed when a
 * reader fails and may not look at it again until the socket has an event,
 * so shut it down here: the peer reads what was sent, then end-of-file. */
static ssize_t mock_abort(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci)
        shutdown(ci->connect_fd, SHUT_RDWR);
    return MHD_CONTENT_READER_END_WITH_ERROR;
}

char *mock_sse_event(const char *name, char *json, const char *eol, size_t *len)
{
    if (!json)
        return NULL;
    size_t nn = name ? strlen(name) : 0, jn = strlen(json), en = strlen(eol);
    char *ev = malloc(nn + 8 + 6 + jn + en + 1), *p = ev;
    if (ev) {
        if (name) {
            memcpy(p, "event: ", 7);
            memcpy(p + 7, name, nn);
            p[7 + nn] = '\n';
            p += nn + 8;
        }
        memcpy(p, "data: ", 6);
        memcpy(p + 6, json, jn);
        memcpy(p + 6 + jn, eol, en + 1);
        *len = (size_t)(p - ev) + 6 + jn + en;
    }
    free(json);
    return ev;
}

/* The next word of the reply: [*w, *e) and where the one after starts. */
static bool mock_stream_word(const char *cursor, const char **e, const char **next)
{
    const char *p = cursor;
    while (*p && !isspace((unsigned char)*p))
        p++;
    *e = p;
    while (isspace((unsigned char)*p))
        p++;
    *next = p;
    return *e != cursor;
}

/* Renders text[0..n) as one word event, or with split=N as several events
 * of at most N bytes each (never inside a UTF-8 character), sent together. */
static bool mock_stream_render_text(struct mock_stream *s, const char *text, size_t n, char **out,
                                    size_t *len)
{
    size_t piece = s->chat.dir.split > 0 ? (size_t)s->chat.dir.split : n;
    struct mock_buf all = {0};
    for (size_t at = 0; at < n || (n == 0 && at == 0);) {
        size_t k = n - at < piece ? n - at : piece;
        while (at + k < n && k > 1 && ((unsigned char)text[at + k] & 0xc0) == 0x80)
            k--;
        while (at + k < n && ((unsigned char)text[at + k] & 0xc0) == 0x80)
            k++; /* a character longer than N goes whole */
        char *ev = NULL;
        size_t evlen = 0;
        if (!s->fmt->render(&s->chat, MOCK_EV_WORD, text + at, k, &ev, &evlen)) {
            mock_buf_free(&all);
            return false;
        }
        if (piece == n && at == 0) { /* whole: the common case, no copy */
            *out = ev;
            *len = evlen;
            return true;
        }
        if (ev)
            mock_buf_add(&all, ev, evlen);
        free(ev);
        at += k ? k : 1;
    }
    if (all.oom)
        return false;
    *out = all.p;
    *len = all.len;
    return true;
}

/* Renders the word at the cursor: with one trailing space unless it is the
 * last, so the concatenated words equal the reply with whitespace runs
 * collapsed. */
static bool mock_stream_render_word(struct mock_stream *s, char **out, size_t *len)
{
    const char *w = s->cursor, *e, *next;
    mock_stream_word(w, &e, &next);
    size_t n = (size_t)(e - w);
    bool ok;
    if (*next) {
        char *tmp = strndup(w, n + 1);
        if (!tmp)
            return false;
        tmp[n] = ' ';
        ok = mock_stream_render_text(s, tmp, n + 1, out, len);
        free(tmp);
    } else {
        ok = mock_stream_render_text(s, w, n, out, len);
    }
    s->cursor = next;
    s->words_sent++;
    return ok;
}

/* Walks the steps until one produces bytes (into s->event): 1, or 0 at the
 * end of the stream, -1 when out of memory. */
static int mock_stream_next(struct mock_stream *s)
{
    const struct mock_chat *c = &s->chat;
    char *out = NULL;
    size_t len = 0;
    bool ok = true;

    while (!out && ok) {
        const char *frag = NULL;
        size_t flen = 0;
        enum mock_ev ev = s->step;
        switch (ev) {
        case MOCK_EV_START:
            s->step = c->dir.sse_garbage ? MOCK_EV_GARBAGE : MOCK_EV_TEXT_START;
            break;
        case MOCK_EV_GARBAGE:
            s->step = MOCK_EV_TEXT_START;
            break;
        case MOCK_EV_TEXT_START:
            s->step = MOCK_EV_WORD;
            break;
        case MOCK_EV_WORD:
            if (*s->cursor) {
                ok = mock_stream_render_word(s, &out, &len);
                if (s->fail_due) {
                    s->fail_due = false;
                    s->step = MOCK_EV_FAIL;
                }
                continue;
            }
            s->step = s->fail_due ? MOCK_EV_FAIL : MOCK_EV_TEXT_STOP;
            s->fail_due = false;
            continue;
        case MOCK_EV_FAIL:
            ok = s->fmt->render(c, ev, NULL, 0, &out, &len);
            /* A format without such a failure just goes on. */
            s->step = out ? MOCK_EV_END : MOCK_EV_WORD;
            continue;
        case MOCK_EV_TEXT_STOP:
            s->step = c->tool_args ? MOCK_EV_TOOL_START : MOCK_EV_FINISH;
            break;
        case MOCK_EV_TOOL_START:
            s->step = MOCK_EV_TOOL_ARGS;
            break;
        case MOCK_EV_TOOL_ARGS:
            mock_chat_tool_fragment(c, s->frags_sent, &frag, &flen);
            if (++s->frags_sent == 2)
                s->step = MOCK_EV_TOOL_STOP;
            break;
        case MOCK_EV_TOOL_STOP:
            s->step = MOCK_EV_FINISH;
            break;
        case MOCK_EV_FINISH:
            s->step = MOCK_EV_USAGE;
            break;
        case MOCK_EV_USAGE:
            s->step = MOCK_EV_DONE;
            break;
        case MOCK_EV_DONE:
            s->step = MOCK_EV_END;
            break;
        case MOCK_EV_END:
            return 0;
        }
        ok = s->fmt->render(c, ev, frag, flen, &out, &len);
    }
    s->event = out;
    s->event_len = len;
    s->event_off = 0;
    return ok ? 1 : -1;
}

static ssize_t mock_stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct mock_stream *s = cls;

    if (!s->event || s->event_off == s->event_len) {
        if (mock_wake_stopping())
            return mock_abort(s->conn);
        /* drop_after: after N words, or after the last one if fewer. */
        long drop = s->chat.dir.drop_after;
        if (drop >= 0 && s->step >= MOCK_EV_WORD && (s->words_sent >= drop || !*s->cursor))
            return mock_abort(s->conn);
        uint64_t now = mock_mono_ms();
        if (s->sent_any && now < s->due_ms) /* not the first event: paced */
            return mock_wake_at(s->conn, s->due_ms) ? 0 : mock_abort(s->conn);
        free(s->event);
        s->event = NULL;
        int got = mock_stream_next(s);
        if (got <= 0)
            return got ? mock_abort(s->conn) : MHD_CONTENT_READER_END_OF_STREAM;
        s->sent_any = true;
        s->due_ms = now + (uint64_t)s->chat.dir.chunk_delay_ms;
    }
    size_t n = s->event_len - s->event_off;
    if (n > max)
        n = max;
    memcpy(buf, s->event + s->event_off, n);
    s->event_off += n;
    return (ssize_t)n;
}

static void mock_stream_free(void *cls)
{
    struct mock_stream *s = cls;
    mock_chat_free(&s->chat);
    free(s->event);
    free(s);
}

struct MHD_Response *mock_stream_response(struct mock_chat *chat,
                                          const struct mock_stream_format *f,
                                          struct MHD_Connection *conn)
{
    struct mock_stream *s = calloc(1, sizeof *s);
    if (!s) {
        mock_chat_free(chat);
        return NULL;
    }
    s->chat = *chat;
    memset(chat, 0, sizeof *chat);
    s->fmt = f;
    s->conn = conn;
    s->fail_due = s->chat.dir.overloaded || s->chat.dir.exception;
    s->cursor = s->chat.reply;
    while (isspace((unsigned char)*s->cursor))
        s->cursor++;
    struct MHD_Response *r = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, 4096, mock_stream_read, s, mock_stream_free);
    if (!r) {
        mock_stream_free(s);
        return NULL;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, f->content_type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    return r;
}

struct mock_truncated {
    struct MHD_Connection *conn;
    char *body;
    size_t send;
};

static ssize_t mock_truncated_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct mock_truncated *t = cls;
    if (pos >= t->send || mock_wake_stopping())
        return mock_abort(t->conn);
    size_t n = t->send - (size_t)pos;
    if (n > max)
        n = max;
    memcpy(buf, t->body + pos, n);
    return (ssize_t)n;
}

static void mock_truncated_free(void *cls)
{
    struct mock_truncated *t = cls;
    free(t->body);
    free(t);
}

struct MHD_Response *mock_truncated_response(char *body, size_t len, size_t send,
                                             struct MHD_Connection *conn)
{
    struct mock_truncated *t = malloc(sizeof *t);
    if (!t) {
        free(body);
        return NULL;
    }
    t->conn = conn;
    t->body = body;
    t->send = send < len ? send : (len ? len - 1 : 0);
    struct MHD_Response *r =
        MHD_create_response_from_callback(len, 4096, mock_truncated_read, t, mock_truncated_free);
    if (!r) {
        mock_truncated_free(t);
        return NULL;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    return r;
}
