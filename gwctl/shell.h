/* The gwctl shell: an interactive readline session (history, completion,
 * help) or, when stdin is not a terminal, a script read line by line. */
#ifndef GWCTL_SHELL_H
#define GWCTL_SHELL_H

#include <stdbool.h>

#include "gwctl.h"

/*
 * Reads commands from stdin until EOF, quit or exit and runs each. With
 * `interactive`, uses readline with the "gwctl> " prompt, ~/.gwctl_history
 * and tab completion, and returns GWCTL_EXIT_OK. Otherwise reads plain lines
 * without prompts and returns the exit code of the last command that failed
 * (GWCTL_EXIT_OK if none did). ctx->in_shell and ctx->cancel are set here.
 */
enum gwctl_exit gwctl_shell_run(struct gwctl_ctx *ctx, bool interactive);

/*
 * Splits a line into words: blanks separate words, '...' and "..." quote,
 * a backslash escapes the next character (not inside '...'). On success
 * returns the number of words and sets *argv to a NULL-terminated array the
 * caller frees with gwctl_shell_free_words. Returns -1 for an unterminated
 * quote unless `lenient`, which closes it at the end of the line.
 */
int gwctl_shell_split(const char *line, char ***argv, bool lenient);
void gwctl_shell_free_words(char **argv);

#endif
