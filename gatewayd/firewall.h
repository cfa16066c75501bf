/* The semantic firewall's counters (stages/firewall.c, docs/safety.md#firewall):
 * matches per pattern set and action, and the LLM verdicts, kept across
 * reloads, rendered into GET /metrics; the verdict parser. */
#ifndef GW_FIREWALL_H
#define GW_FIREWALL_H

struct gw_buf;

/* Appends the firewall's metric families to out (gw_firewall_matches_total,
 * gw_firewall_verdicts_total). */
void gw_firewall_render_metrics(struct gw_buf *out);

/* The safety model's answer read as a verdict (firewall.llm_verdict): its
 * first word, case-insensitive, punctuation around it ignored: 1 "unsafe",
 * 0 "safe", -1 anything else (on_error decides). */
int gw_firewall_parse_verdict(const char *text);

#endif
