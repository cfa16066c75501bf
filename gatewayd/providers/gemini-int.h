/* Private to the Gemini request translation: what gemini_request.c (the
 * messages) and gemini_params.c (the request's other fields) share. */
#ifndef GW_GEMINI_INT_H
#define GW_GEMINI_INT_H

#include <cjson/cJSON.h>
#include <stddef.h>

struct gw_request;

/* One translation of r->json into a generateContent body. */
struct gw_gemini_tx {
    struct gw_request *r;
    const cJSON *msgs;
    cJSON *contents; /* the body's contents */
    cJSON *system;   /* systemInstruction.parts, or NULL while there is none */
    char param[128]; /* scratch for a parameter's path */
};

/* Answers 400 for param ("'<param>' <what>"); returns -1. */
int gw_gemini_refuse(struct gw_gemini_tx *t, const char *code, const char *param, const char *fmt,
                     ...) __attribute__((format(printf, 4, 5)));
/* The 400 of a parameter the Gemini API has no place for; returns -1. */
int gw_gemini_cannot(struct gw_gemini_tx *t, const char *param);
/* Writes a parameter's path into buf (cut short if it must be). */
void gw_gemini_at(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Refuses (400) the first top-level field that is neither translated nor
 * accepted without an equivalent; returns 0 or -1. */
int gw_gemini_check_fields(struct gw_gemini_tx *t);
/* Adds generationConfig, tools and toolConfig to body; returns 0 or -1
 * (answered). Needs the contents translated first (tool_choice checks the
 * tools). */
int gw_gemini_params(struct gw_gemini_tx *t, cJSON *body);

/* A member, with JSON null read as absent. */
static inline const cJSON *gw_gemini_get(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
    return cJSON_IsNull(v) ? NULL : v;
}

#endif
