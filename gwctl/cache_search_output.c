/*
 * gwctl/cache_search_output.c — the human view of `gwctl cache search`
 * (docs/caching.md): each cached question nearest the text with its
 * similarity, whether it clears the configured threshold, the verification
 * step's verdict and reason, and where it lives (model, key, partition).
 * `--json` output is the daemon's result and does not pass here.
 */
#include <stdlib.h>
#include <string.h>

#include "output.h"

static const cJSON *member(const cJSON *o, const char *name)
{
    return cJSON_GetObjectItemCaseSensitive(o, name);
}

void gwctl_view_cache_search(FILE *out, const cJSON *result, const cJSON *args)
{
    const cJSON *entries = member(result, "entries");
    const cJSON *th = member(result, "threshold");
    double threshold = cJSON_IsNumber(th) ? th->valuedouble : 0;
    if (cJSON_GetArraySize(entries) == 0)
        fputs("(no cached questions)\n", out);
    const cJSON *e;
    cJSON_ArrayForEach(e, entries)
    {
        const cJSON *sim = member(e, "similarity");
        char *id = gwctl_format(member(e, "id"), GWCTL_FMT_INT, NULL);
        char *verdict = gwctl_format(member(e, "verdict"), GWCTL_FMT_TEXT, NULL);
        char *reason = gwctl_format(member(e, "reason"), GWCTL_FMT_TEXT, NULL);
        char *question = gwctl_format(member(e, "question"), GWCTL_FMT_TEXT, NULL);
        char *model = gwctl_format(member(e, "model"), GWCTL_FMT_TEXT, NULL);
        char *key = gwctl_format(member(e, "key_id"), GWCTL_FMT_TEXT, "-");
        char *part = gwctl_format(member(e, "partition"), GWCTL_FMT_TEXT, NULL);
        fprintf(out, "#%s  similarity %.4f%s  %s: %s\n", id,
                cJSON_IsNumber(sim) ? sim->valuedouble : 0.0,
                cJSON_IsTrue(member(e, "above_threshold")) ? "" : " (below threshold)", verdict,
                reason);
        fprintf(out, "    %s\n    model %s, key %s, partition %s\n", question, model, key, part);
        free(id);
        free(verdict);
        free(reason);
        free(question);
        free(model);
        free(key);
        free(part);
    }
    fprintf(out,
            "(threshold %.2f; a request is answered by an entry above it that passes, "
            "in its own partition)\n",
            threshold);
    if (cJSON_IsFalse(member(result, "semantic_enabled")))
        fputs("(the semantic tier is switched off in the config)\n", out);
}
