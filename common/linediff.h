/* Line diffs in the unified format (what `gwctl prompt diff` prints): the
 * longest common subsequence of the two texts' lines, shown as hunks with
 * context lines. Pure; allocates only while it works. */
#ifndef GW_LINEDIFF_H
#define GW_LINEDIFF_H

#include <stddef.h>

struct gw_buf;

/* Appends the unified diff of a and b to out: "--- a_label", "+++ b_label",
 * then "@@ -l,s +l,s @@" hunks with `context` unchanged lines around each
 * change (hunks closer than 2 * context lines are merged); a last line
 * without a line break is followed by "\ No newline at end of file".
 * Nothing is appended when the texts are equal. The common subsequence is
 * exact while the differing middle parts (after the common head and tail)
 * are at most 2,000 x 2,000 lines; beyond that the middle is shown as
 * removed and added whole. Returns 0, or -1 when memory runs out. */
int gw_linediff(const char *a, size_t alen, const char *b, size_t blen, int context,
                const char *a_label, const char *b_label, struct gw_buf *out);

#endif
