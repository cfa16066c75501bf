/* Fixed replies per model (/_mock/replies): a chat request (any format)
 * for a model with a rule is answered with the rule's text instead of the
 * echo, for the rule's next `count` requests (-1: until cleared). Lets a
 * test make one deployment answer a given word (a safety model saying
 * "unsafe") while the others keep echoing. */
#include "mock.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RULES 16

static struct {
    char model[128], reply[512];
    long count; /* uses left; -1: unlimited */
} rules[MAX_RULES];
static int n_rules;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

const char *mock_replies_set(const cJSON *spec)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(spec, "model");
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(spec, "reply");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(spec, "count");
    if (!cJSON_IsString(m) || !*m->valuestring || strlen(m->valuestring) >= 128)
        return "model must be a non-empty string of under 128 bytes";
    if (!cJSON_IsString(r) || strlen(r->valuestring) >= 512)
        return "reply must be a string of under 512 bytes";
    if (c && (!cJSON_IsNumber(c) || (c->valuedouble < 1 && c->valuedouble != -1)))
        return "count must be a positive number or -1";
    pthread_mutex_lock(&mu);
    int i = 0;
    while (i < n_rules && strcmp(rules[i].model, m->valuestring) != 0)
        i++;
    if (i == MAX_RULES) {
        pthread_mutex_unlock(&mu);
        return "too many reply rules (16)";
    }
    if (i == n_rules)
        n_rules++;
    snprintf(rules[i].model, sizeof rules[i].model, "%s", m->valuestring);
    snprintf(rules[i].reply, sizeof rules[i].reply, "%s", r->valuestring);
    rules[i].count = c ? (long)c->valuedouble : -1;
    pthread_mutex_unlock(&mu);
    return NULL;
}

char *mock_replies_dump(void)
{
    cJSON *o = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(o, "replies");
    pthread_mutex_lock(&mu);
    for (int i = 0; i < n_rules; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "model", rules[i].model);
        cJSON_AddStringToObject(e, "reply", rules[i].reply);
        cJSON_AddNumberToObject(e, "count", (double)rules[i].count);
        cJSON_AddItemToArray(a, e);
    }
    pthread_mutex_unlock(&mu);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

void mock_replies_clear(void)
{
    pthread_mutex_lock(&mu);
    n_rules = 0;
    pthread_mutex_unlock(&mu);
}

char *mock_replies_take(const char *model)
{
    char *out = NULL;
    pthread_mutex_lock(&mu);
    for (int i = 0; i < n_rules; i++) {
        if (strcmp(rules[i].model, model) != 0)
            continue;
        out = strdup(rules[i].reply);
        if (rules[i].count > 0 && --rules[i].count == 0)
            rules[i] = rules[--n_rules]; /* used up */
        break;
    }
    pthread_mutex_unlock(&mu);
    return out;
}
