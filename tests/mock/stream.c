/* Callback-driven response bodies: the SSE stream of a chat completion
 * (chunk pacing, sse_garbage, drop_after, usage chunk, [DONE]) and the
 * truncated non-stream body used by drop_after.
 *
 * DESIGN: MHD calls the reader from one of its worker threads. Each call
 * produces at most one SSE event, which MHD sends as its own HTTP chunk
 * before asking for the next one. When an event is not due yet
 * (chunk_delay_ms) the reader suspends the connection through wake.c and
 * returns 0; the timer thread resumes it later and MHD calls the reader
 * again, so a slow stream never holds a worker thread. */
#include "mock.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

enum mock_phase { PH_ROLE, PH_GARBAGE, PH_WORDS, PH_FINISH, PH_USAGE, PH_DONE, PH_END };

struct mock_stream {
    struct mock_chat chat;
    struct MHD_Connection *conn;
    enum mock_phase phase;
    const char *cursor; /* next word of chat.reply */
    long words_sent;
    char *event; /* the event being sent, and how much of it went out */
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

static const char sse_garbage[] = "data: {not json\n\n";
static const char sse_done[] = "data: [DONE]\n\n";

/* Builds the next event into s->event and advances the phase; false at end. */
static bool mock_stream_next(struct mock_stream *s)
{
    const struct mock_chat *c = &s->chat;
    switch (s->phase) {
    case PH_ROLE:
        s->event = mock_openai_chunk(c, MOCK_CHUNK_ROLE, NULL, 0);
        s->phase = c->dir.sse_garbage ? PH_GARBAGE : PH_WORDS;
        break;
    case PH_GARBAGE:
        s->event = strdup(sse_garbage);
        s->phase = PH_WORDS;
        break;
    case PH_WORDS: {
        const char *w = s->cursor, *e = w;
        while (*e && !isspace((unsigned char)*e))
            e++;
        const char *next = e;
        while (isspace((unsigned char)*next))
            next++;
        if (w == e) { /* no words at all */
            s->phase = PH_FINISH;
            return mock_stream_next(s);
        }
        if (*next) { /* not the last word: send it with one space */
            char *tmp = strndup(w, (size_t)(e - w) + 1);
            if (tmp)
                tmp[e - w] = ' ';
            s->event = tmp ? mock_openai_chunk(c, MOCK_CHUNK_WORD, tmp, (size_t)(e - w) + 1) : NULL;
            free(tmp);
        } else {
            s->event = mock_openai_chunk(c, MOCK_CHUNK_WORD, w, (size_t)(e - w));
            s->phase = PH_FINISH;
        }
        s->cursor = next;
        s->words_sent++;
        break;
    }
    case PH_FINISH:
        s->event = mock_openai_chunk(c, MOCK_CHUNK_FINISH, NULL, 0);
        s->phase = c->include_usage && !c->dir.no_usage ? PH_USAGE : PH_DONE;
        break;
    case PH_USAGE:
        s->event = mock_openai_chunk(c, MOCK_CHUNK_USAGE, NULL, 0);
        s->phase = PH_DONE;
        break;
    case PH_DONE:
        s->event = strdup(sse_done);
        s->phase = PH_END;
        break;
    case PH_END:
        return false;
    }
    s->event_len = s->event ? strlen(s->event) : 0;
    s->event_off = 0;
    return true;
}

static ssize_t mock_stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct mock_stream *s = cls;

    if (!s->event || s->event_off == s->event_len) {
        if (mock_wake_stopping())
            return mock_abort(s->conn);
        /* drop_after: after N words, or after the last one if fewer. */
        long drop = s->chat.dir.drop_after;
        if (drop >= 0 && (s->phase == PH_FINISH ||
                          (s->phase == PH_WORDS && (s->words_sent >= drop || !*s->cursor))))
            return mock_abort(s->conn);
        uint64_t now = mock_mono_ms();
        if (s->event && now < s->due_ms) /* not the first event: paced */
            return mock_wake_at(s->conn, s->due_ms) ? 0 : mock_abort(s->conn);
        free(s->event);
        s->event = NULL;
        if (!mock_stream_next(s))
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (!s->event)
            return mock_abort(s->conn);
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

struct MHD_Response *mock_stream_response(struct mock_chat *chat, struct MHD_Connection *conn)
{
    struct mock_stream *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->chat = *chat;
    memset(chat, 0, sizeof *chat);
    s->conn = conn;
    s->cursor = s->chat.reply;
    while (isspace((unsigned char)*s->cursor))
        s->cursor++;
    struct MHD_Response *r = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, 4096, mock_stream_read, s, mock_stream_free);
    if (!r) {
        mock_stream_free(s);
        return NULL;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
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
