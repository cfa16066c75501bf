/*
 * gwctl/rag_output.c — the human views of the RAG commands (rag add, list,
 * remove, search; docs/rag.md): tables and fields through output.c's
 * printers; a chunk's text printed as text, control characters other than
 * newline and tab neutralised. `--json` output is the daemon's result and
 * does not pass here.
 */
#include <stdlib.h>
#include <string.h>

#include "output.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const cJSON *member(const cJSON *o, const char *name)
{
    return cJSON_GetObjectItemCaseSensitive(o, name);
}

/* rag add: a line per file, then the total. */
void gwctl_view_rag_added(FILE *out, const cJSON *result, const cJSON *args)
{
    static const struct gwctl_col columns[] = {
        {"FILE", "file", GWCTL_FMT_TEXT, NULL},
        {"CHUNKS", "chunks", GWCTL_FMT_INT, NULL},
        {"REPLACED", "replaced", GWCTL_FMT_INT, NULL},
    };
    gwctl_print_table(out, columns, NELEM(columns), member(result, "files"), "(no files)", NULL,
                      NULL);
    char *coll = gwctl_format(member(result, "collection"), GWCTL_FMT_TEXT, NULL);
    char *n = gwctl_format(member(result, "chunks"), GWCTL_FMT_INT, NULL);
    char *emb = gwctl_format(member(result, "embedder"), GWCTL_FMT_TEXT, NULL);
    fprintf(out, "\nadded %s chunk%s to collection %s (embedder %s)\n", n,
            strcmp(n, "1") == 0 ? "" : "s", coll, emb);
    free(coll);
    free(n);
    free(emb);
}

/* rag list: the collections, or one collection's files. */
void gwctl_view_rag_list(FILE *out, const cJSON *result, const cJSON *args)
{
    static const struct gwctl_col colls[] = {
        {"COLLECTION", "name", GWCTL_FMT_TEXT, NULL},    {"FILES", "files", GWCTL_FMT_INT, NULL},
        {"CHUNKS", "chunks", GWCTL_FMT_INT, NULL},       {"BYTES", "bytes", GWCTL_FMT_INT, NULL},
        {"UPDATED", "updated_at", GWCTL_FMT_TIME, NULL},
    };
    static const struct gwctl_col files[] = {
        {"FILE", "file", GWCTL_FMT_TEXT, NULL},
        {"CHUNKS", "chunks", GWCTL_FMT_INT, NULL},
        {"BYTES", "bytes", GWCTL_FMT_INT, NULL},
        {"ADDED", "updated_at", GWCTL_FMT_TIME, NULL},
    };
    if (member(result, "files"))
        gwctl_print_table(out, files, NELEM(files), member(result, "files"), "(no files)", NULL,
                          NULL);
    else
        gwctl_print_table(out, colls, NELEM(colls), member(result, "collections"),
                          "(no collections)", NULL, NULL);
}

void gwctl_view_rag_removed(FILE *out, const cJSON *result, const cJSON *args)
{
    char *coll = gwctl_format(member(result, "collection"), GWCTL_FMT_TEXT, NULL);
    char *n = gwctl_format(member(result, "removed_chunks"), GWCTL_FMT_INT, NULL);
    const cJSON *file = member(result, "file");
    if (cJSON_IsString(file)) {
        char *f = gwctl_format(file, GWCTL_FMT_TEXT, NULL);
        fprintf(out, "removed %s from collection %s (%s chunk%s)\n", f, coll, n,
                strcmp(n, "1") == 0 ? "" : "s");
        free(f);
    } else {
        fprintf(out, "removed collection %s (%s chunk%s)\n", coll, n,
                strcmp(n, "1") == 0 ? "" : "s");
    }
    free(coll);
    free(n);
}

/* A chunk's text, indented, safe for a terminal. */
static void print_indented(FILE *out, const char *s)
{
    fputs("    ", out);
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '\n') {
            fputs("\n    ", out);
            continue;
        }
        fputc((c < 0x20 && c != '\t') || c == 0x7f ? '?' : c, out);
    }
    fputc('\n', out);
}

/* rag search: each hit with its score, whether a request would get it, and
 * its text. */
void gwctl_view_rag_search(FILE *out, const cJSON *result, const cJSON *args)
{
    const cJSON *hits = member(result, "hits");
    char *th = gwctl_format(member(result, "threshold"), GWCTL_FMT_TEXT, NULL);
    if (cJSON_GetArraySize(hits) == 0)
        fputs("(no chunks)\n", out);
    const cJSON *h;
    cJSON_ArrayForEach(h, hits)
    {
        char *chunk = gwctl_format(member(h, "chunk"), GWCTL_FMT_TEXT, NULL);
        char *file = gwctl_format(member(h, "file"), GWCTL_FMT_TEXT, NULL);
        char *heading = gwctl_format(member(h, "heading"), GWCTL_FMT_TEXT, NULL);
        const cJSON *score = member(h, "score");
        fprintf(out, "%s  score %.4f%s  %s%s%s\n", chunk,
                cJSON_IsNumber(score) ? score->valuedouble : 0.0,
                cJSON_IsTrue(member(h, "above_threshold")) ? "" : " (below threshold)", file,
                *heading ? " > " : "", heading);
        const cJSON *text = member(h, "text");
        if (cJSON_IsString(text))
            print_indented(out, text->valuestring);
        free(chunk);
        free(file);
        free(heading);
    }
    fprintf(out, "(threshold %s: chunks below it are not injected)\n", th);
    free(th);
}
