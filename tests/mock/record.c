/* The mock's request log (GET/DELETE /_mock/requests) and its counters
 * (GET /_mock/stats).
 *
 * DESIGN: each /v1 request is serialised to its JSON record once, on arrival,
 * and kept in a ring of the last MOCK_RECORD_KEEP records under a mutex, so
 * adding is O(1) and a dump only concatenates strings. Counters are atomics. */
#include "mock.h"

#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t record_mu = PTHREAD_MUTEX_INITIALIZER;
static char *ring[MOCK_RECORD_KEEP];
static size_t ring_next, ring_used;

static atomic_ulong stats_total;
static atomic_long stats_active;

static enum MHD_Result mock_record_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                          const char *value)
{
    char name[256];
    size_t i;
    for (i = 0; key[i] && i < sizeof name - 1; i++)
        name[i] = (char)tolower((unsigned char)key[i]);
    name[i] = '\0';
    cJSON *headers = cls;
    cJSON_DeleteItemFromObjectCaseSensitive(headers, name); /* last one wins */
    cJSON_AddStringToObject(headers, name, value ? value : "");
    return MHD_YES;
}

void mock_record_add(struct MHD_Connection *conn, const char *method, const char *path,
                     const char *body, size_t len)
{
    cJSON *rec = cJSON_CreateObject();
    cJSON *headers = cJSON_CreateObject();
    char *raw = malloc(len + 1);
    if (!rec || !headers || !raw) {
        cJSON_Delete(rec);
        cJSON_Delete(headers);
        free(raw);
        return;
    }
    if (len)
        memcpy(raw, body, len);
    raw[len] = '\0';
    MHD_get_connection_values(conn, MHD_HEADER_KIND, mock_record_header, headers);
    cJSON_AddStringToObject(rec, "method", method);
    cJSON_AddStringToObject(rec, "path", path);
    cJSON_AddItemToObject(rec, "headers", headers);
    cJSON_AddStringToObject(rec, "body", raw);
    char ms[24]; /* raw: cJSON prints numbers past INT_MAX slowly */
    snprintf(ms, sizeof ms, "%llu", (unsigned long long)mock_wall_ms());
    cJSON_AddRawToObject(rec, "time_ms", ms);
    char *text = cJSON_PrintUnformatted(rec);
    cJSON_Delete(rec);
    free(raw);
    if (!text)
        return;

    pthread_mutex_lock(&record_mu);
    free(ring[ring_next]);
    ring[ring_next] = text;
    ring_next = (ring_next + 1) % MOCK_RECORD_KEEP;
    if (ring_used < MOCK_RECORD_KEEP)
        ring_used++;
    pthread_mutex_unlock(&record_mu);
}

char *mock_record_dump(void)
{
    static const char head[] = "{\"requests\":[", tail[] = "]}";
    pthread_mutex_lock(&record_mu);
    size_t first = (ring_next + MOCK_RECORD_KEEP - ring_used) % MOCK_RECORD_KEEP;
    size_t total = sizeof head + sizeof tail + ring_used;
    for (size_t i = 0; i < ring_used; i++)
        total += strlen(ring[(first + i) % MOCK_RECORD_KEEP]);
    char *out = malloc(total);
    if (out) {
        char *p = out;
        memcpy(p, head, sizeof head - 1);
        p += sizeof head - 1;
        for (size_t i = 0; i < ring_used; i++) {
            const char *r = ring[(first + i) % MOCK_RECORD_KEEP];
            size_t n = strlen(r);
            if (i)
                *p++ = ',';
            memcpy(p, r, n);
            p += n;
        }
        memcpy(p, tail, sizeof tail); /* includes the NUL */
    }
    pthread_mutex_unlock(&record_mu);
    return out;
}

void mock_record_clear(void)
{
    pthread_mutex_lock(&record_mu);
    for (size_t i = 0; i < MOCK_RECORD_KEEP; i++) {
        free(ring[i]);
        ring[i] = NULL;
    }
    ring_next = ring_used = 0;
    pthread_mutex_unlock(&record_mu);
}

void mock_stats_begin(void)
{
    atomic_fetch_add(&stats_total, 1);
    atomic_fetch_add(&stats_active, 1);
}

void mock_stats_end(void)
{
    atomic_fetch_sub(&stats_active, 1);
}

char *mock_stats_dump(void)
{
    char buf[96];
    snprintf(buf, sizeof buf, "{\"requests\":%lu,\"active\":%ld}", atomic_load(&stats_total),
             atomic_load(&stats_active));
    return strdup(buf);
}
