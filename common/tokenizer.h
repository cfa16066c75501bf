/* Exact token counts for OpenAI's byte-pair encodings (cl100k_base,
 * o200k_base), as tiktoken's encode_ordinary computes them, and a documented
 * estimate for every other model. See docs/tokenizer.md.
 *
 * State: the rank tables are read-only data compiled into the binary; the
 * module also owns one compiled pre-tokenisation regex per encoding
 * (process-wide, made once by gw_tok_init) and per-thread scratch (match
 * data and BPE work arrays, allocated on a thread's first count and freed
 * when the thread exits). No lock is taken after initialisation: any
 * number of threads may count at once. */
#ifndef GW_TOKENIZER_H
#define GW_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

struct cJSON;

enum gw_tok_encoding {
    GW_TOK_ESTIMATE = 0, /* no known encoding: ceil(bytes / 4) */
    GW_TOK_CL100K_BASE,
    GW_TOK_O200K_BASE,
};

/* Compiles the regexes (JIT where available) and checks the tables. Safe to
 * call more than once and from several threads; the work is done once. The
 * counting functions call it themselves, so calling it at start-up only
 * serves to report a failure early. Returns 0, or -1 with a message in
 * err. */
int gw_tok_init(char *err, size_t errlen);

/* The encoding an OpenAI model name uses: gpt-4o*, gpt-4.1*, gpt-5*, o1*,
 * o3*, o4*, chatgpt-4o* -> O200K; gpt-4*, gpt-3.5*, gpt-35*,
 * text-embedding-3*, text-embedding-ada-002 -> CL100K; anything else
 * (including NULL) -> ESTIMATE. A "ft:" prefix (fine-tuned models) and an
 * "openai/" prefix are ignored; the comparison ignores case. */
enum gw_tok_encoding gw_tok_encoding_for_model(const char *model);

/* "cl100k_base", "o200k_base" or "estimate". */
const char *gw_tok_encoding_name(enum gw_tok_encoding e);

/* Number of tokens in text[0..len) (not NUL-terminated; may contain NULs),
 * with special-token strings such as "<|endoftext|>" counted as ordinary
 * text. Bytes that are not valid UTF-8 are counted as if each maximal
 * invalid sequence were U+FFFD, as a UTF-8 decoder with replacement would
 * hand them to tiktoken. Reentrant. Returns -1 only when memory runs out
 * or initialisation failed. */
long gw_tok_count(enum gw_tok_encoding e, const char *text, size_t len);

/* The token ids of text, as gw_tok_count counts them. On success *ids is a
 * malloc'd array the caller frees (NULL when the count is 0) and the count
 * is returned; -1 on failure or for GW_TOK_ESTIMATE. */
long gw_tok_encode(enum gw_tok_encoding e, const char *text, size_t len, uint32_t **ids);

/* The bytes of the tokens ids[0..n), concatenated into a malloc'd,
 * NUL-terminated buffer the caller frees; its length goes to *len. Returns
 * NULL for an unknown id, GW_TOK_ESTIMATE, or when memory runs out. */
char *gw_tok_decode(enum gw_tok_encoding e, const uint32_t *ids, size_t n, size_t *len);

/* The prompt tokens of a chat completion request, counted as OpenAI does
 * (the rule of OpenAI's cookbook "How to count tokens with tiktoken"): 3 per
 * message, plus the tokens of every string field of the message (role,
 * content, name, tool_call_id, ...), plus 1 when it has a name, plus 3 for
 * the reply's priming. Content given as an array of parts counts its text
 * parts exactly; images, audio, files and tool calls are estimated, as are
 * the tool definitions when tools is not NULL (docs/tokenizer.md says
 * how). Models without a known encoding use the ESTIMATE count for every
 * string, with the same overheads. Returns -1 when messages is not an array
 * or counting fails. */
long gw_tok_count_chat(const char *model, const struct cJSON *messages, const struct cJSON *tools);

#endif
