/* The request's text and its local embedding (embed.h), computed once per
 * request and shared by the stages that need them: the firewall, RAG
 * context and the semantic cache. Two texts, from r->json in the
 * chat-completions form (both front doors):
 *
 *   GW_REQ_TEXT_USER      every user message's text (string contents and
 *                         text parts, in order, one per line): what the
 *                         firewall compares with its patterns;
 *   GW_REQ_TEXT_QUESTION  the last user message's text (text parts joined
 *                         by a space; the same text as gw_cache_question):
 *                         the RAG query and the semantic cache's question.
 *
 * Lazy: nothing is computed for a request whose stages never ask. The text
 * is read from r->json at the first call for it; stages that rewrite user
 * messages (PII scrubbing, prompt templates) run before every caller, and
 * RAG changes only the system message, so a later caller gets what the
 * first saw. Only on the thread running the pipeline (no lock). Memory: in
 * r->arena, valid until the request ends.
 *
 * A provider embedding (an embeddings model of the config, asked through a
 * sub-request by the stage that needs it: the semantic cache with embedder
 * provider) of the question text is kept here too, under its embedder id
 * ("provider:MODEL"), so that no stage asks for it twice. */
#ifndef GW_REQ_EMBED_H
#define GW_REQ_EMBED_H

struct gw_request;

enum gw_req_text {
    GW_REQ_TEXT_USER,
    GW_REQ_TEXT_QUESTION,
    GW_REQ_TEXT_N,
};

/* The text (NUL-terminated, in r->arena; "" when there is none). */
const char *gw_request_text(struct gw_request *r, enum gw_req_text which);

/* The local embedding of that text: GW_EMBED_LOCAL_DIM floats, unit length,
 * in r->arena. NULL when the text has no words (nothing to compare) or
 * memory ran out. */
const float *gw_request_embedding(struct gw_request *r, enum gw_req_text which);

/* How many embeddings this request computed (0, 1 or 2): for tests and the
 * debug log, which check that no stage computed one twice. */
int gw_request_embeddings_computed(const struct gw_request *r);

/* The provider embedding of the GW_REQ_TEXT_QUESTION text made by embedder
 * (e.g. "provider:text-embedding-3-small"), with its dimension in *dim;
 * NULL when none was kept for that embedder. In r->arena. */
const float *gw_request_provider_embedding(struct gw_request *r, const char *embedder, int *dim);

/* Keeps a copy of v[0..dim) (in r->arena) as the question's provider
 * embedding by embedder, replacing one kept before. 0, or -1 when out of
 * memory. */
int gw_request_set_provider_embedding(struct gw_request *r, const char *embedder, const float *v,
                                      int dim);

#endif
