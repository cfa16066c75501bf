/* The words of a question (textnorm.h): one pass splits UTF-8 text into
 * words, punctuation and currency/percent signs, noting case and sentence
 * starts; then, over that list, English contractions are expanded, filler
 * phrases removed ("can you tell me", "I was wondering", "thanks in
 * advance"), numbers joined (digits with thousands commas, number words,
 * ordinals) with their unit ("5 km", "$100", "15 %"), and every other word
 * looked up once in a sorted lexicon that says whether it is a function word
 * (dropped; auxiliaries leave their tense or modality behind), a negation, a
 * preposition opening a phrase, a question word, a quantifier, a comparative
 * and which language's function words it belongs to. Content words get a
 * light plural stemming (lists -> list, cities -> city) and a short synonym
 * list (movie -> film). Quoted spans are collected apart.
 *
 * The word lists are in textnorm_lex.c. All memory of a result comes from
 * its own arena. */
#include "textnorm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "textnorm-int.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------------------- UTF-8 */

/* The code point at p (n > 0 bytes left); *adv gets its length. Invalid or
 * overlong sequences and surrogates decode as U+FFFD, one byte long. */
static uint32_t utf8_next(const unsigned char *p, size_t n, size_t *adv)
{
    uint32_t c = p[0];
    size_t k;
    uint32_t min;
    *adv = 1;
    if (c < 0x80)
        return c;
    if ((c & 0xE0) == 0xC0) {
        k = 2;
        c &= 0x1F;
        min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        k = 3;
        c &= 0x0F;
        min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        k = 4;
        c &= 0x07;
        min = 0x10000;
    } else {
        return 0xFFFD;
    }
    if (k > n)
        return 0xFFFD;
    for (size_t i = 1; i < k; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0xFFFD;
        c = c << 6 | (p[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0xFFFD;
    *adv = k;
    return c;
}

static size_t utf8_put(char *out, uint32_t c)
{
    if (c < 0x80) {
        out[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = (char)(0xC0 | c >> 6);
        out[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        out[0] = (char)(0xE0 | c >> 12);
        out[1] = (char)(0x80 | (c >> 6 & 0x3F));
        out[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | c >> 18);
    out[1] = (char)(0x80 | (c >> 12 & 0x3F));
    out[2] = (char)(0x80 | (c >> 6 & 0x3F));
    out[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

/* Case of a letter: 1 upper, -1 lower, 0 uncased; *lower gets its lower
 * case. Covers ASCII, Latin-1, Latin Extended-A, Greek, Cyrillic and
 * Armenian: enough to fold the languages the language check knows. */
static int case_fold(uint32_t c, uint32_t *lower)
{
    *lower = c;
    if (c < 0x80) {
        if (c >= 'A' && c <= 'Z') {
            *lower = c + 32;
            return 1;
        }
        return (c >= 'a' && c <= 'z') ? -1 : 0;
    }
    if (c >= 0xC0 && c <= 0xDE && c != 0xD7) {
        *lower = c + 0x20;
        return 1;
    }
    if (c >= 0xDF && c <= 0xFF && c != 0xF7)
        return -1;
    if ((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177)) {
        if ((c & 1) == 0) {
            *lower = c + 1;
            return 1;
        }
        return -1;
    }
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) {
        if (c & 1) {
            *lower = c + 1;
            return 1;
        }
        return -1;
    }
    if (c == 0x178) {
        *lower = 0xFF;
        return 1;
    }
    if (c >= 0x391 && c <= 0x3A9 && c != 0x3A2) {
        *lower = c + 0x20;
        return 1;
    }
    if (c >= 0x3AC && c <= 0x3CE)
        return -1;
    if (c >= 0x410 && c <= 0x42F) {
        *lower = c + 0x20;
        return 1;
    }
    if (c >= 0x400 && c <= 0x40F) {
        *lower = c + 0x50;
        return 1;
    }
    if (c >= 0x430 && c <= 0x45F)
        return -1;
    if (c >= 0x531 && c <= 0x556) {
        *lower = c + 0x30;
        return 1;
    }
    if (c >= 0x561 && c <= 0x586)
        return -1;
    return 0;
}

static enum gw_tw_script script_of(uint32_t c)
{
    if (c < 0x80)
        return ((c | 32) >= 'a' && (c | 32) <= 'z') ? GW_SCRIPT_LATIN : GW_SCRIPT_NONE;
    if ((c >= 0xC0 && c <= 0x24F && c != 0xD7 && c != 0xF7) || (c >= 0x1E00 && c <= 0x1EFF))
        return GW_SCRIPT_LATIN;
    if ((c >= 0x370 && c <= 0x3FF) || (c >= 0x1F00 && c <= 0x1FFF))
        return GW_SCRIPT_GREEK;
    if (c >= 0x400 && c <= 0x52F)
        return GW_SCRIPT_CYRILLIC;
    if (c >= 0x530 && c <= 0x58F)
        return GW_SCRIPT_ARMENIAN;
    if (c >= 0x590 && c <= 0x5FF)
        return GW_SCRIPT_HEBREW;
    if ((c >= 0x600 && c <= 0x6FF) || (c >= 0x750 && c <= 0x77F) || (c >= 0xFB50 && c <= 0xFDFF) ||
        (c >= 0xFE70 && c <= 0xFEFC))
        return GW_SCRIPT_ARABIC;
    if (c >= 0x900 && c <= 0xDFF)
        return GW_SCRIPT_INDIC;
    if (c >= 0xE00 && c <= 0xE7F)
        return GW_SCRIPT_THAI;
    if ((c >= 0xAC00 && c <= 0xD7AF) || (c >= 0x1100 && c <= 0x11FF) ||
        (c >= 0x3130 && c <= 0x318F))
        return GW_SCRIPT_HANGUL;
    if ((c >= 0x3040 && c <= 0x30FF) || (c >= 0x31F0 && c <= 0x31FF) ||
        (c >= 0xFF66 && c <= 0xFF9F))
        return GW_SCRIPT_KANA;
    if ((c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
        (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x20000 && c <= 0x2FFFF))
        return GW_SCRIPT_HAN;
    return GW_SCRIPT_NONE;
}

enum cclass {
    C_OTHER,  /* a separator that is not punctuation (symbols, emoji) */
    C_SPACE,  /* white space */
    C_HARD,   /* ends a sentence: . ? ! : ; newline */
    C_SOFT,   /* ends a phrase: , ( ) [ ] { } dashes */
    C_QUOTE,  /* quotation marks */
    C_SYM,    /* $ € £ ¥ ₹ % °: tokens of their own */
    C_LETTER, /* a letter of any script, _ and combining marks */
    C_DIGIT,  /* 0-9 */
    C_IDEO,   /* Han and Kana: each a word of its own */
};

static enum cclass class_of(uint32_t c)
{
    if (c < 0x80) {
        if (c >= '0' && c <= '9')
            return C_DIGIT;
        if (((c | 32) >= 'a' && (c | 32) <= 'z') || c == '_')
            return C_LETTER;
        switch (c) {
        case ' ':
        case '\t':
        case '\r':
        case '\v':
        case '\f':
            return C_SPACE;
        case '.':
        case '?':
        case '!':
        case ':':
        case ';':
        case '\n':
            return C_HARD;
        case ',':
        case '(':
        case ')':
        case '[':
        case ']':
        case '{':
        case '}':
            return C_SOFT;
        case '"':
        case '\'':
        case '`':
            return C_QUOTE;
        case '$':
        case '%':
            return C_SYM;
        default:
            return C_OTHER;
        }
    }
    switch (c) {
    case 0xA0:
    case 0x1680:
    case 0x202F:
    case 0x205F:
    case 0x3000:
    case 0xFEFF:
        return C_SPACE;
    case 0xBF:
    case 0xA1:
    case 0x2026:
    case 0x3002:
    case 0xFF01:
    case 0xFF1F:
    case 0xFF1A:
    case 0xFF0E:
    case 0x61F:
    case 0x964:
    case 0xFF1B:
        return C_HARD;
    case 0x2013:
    case 0x2014:
    case 0x3001:
    case 0xFF0C:
    case 0xFF08:
    case 0xFF09:
    case 0x60C:
        return C_SOFT;
    case 0x2018:
    case 0x2019:
    case 0x201C:
    case 0x201D:
    case 0xAB:
    case 0xBB:
    case 0x300C:
    case 0x300D:
        return C_QUOTE;
    case 0x20AC:
    case 0xA3:
    case 0xA5:
    case 0x20B9:
    case 0xB0:
        return C_SYM;
    default:
        break;
    }
    if (c >= 0x2000 && c <= 0x200D)
        return C_SPACE;
    if ((c >= 0x300 && c <= 0x36F) || (c >= 0x1AB0 && c <= 0x1AFF) ||
        (c >= 0x1DC0 && c <= 0x1DFF) || (c >= 0x20D0 && c <= 0x20FF) ||
        (c >= 0xFE20 && c <= 0xFE2F))
        return C_LETTER; /* combining marks stay in their word */
    if (c >= 0xFF10 && c <= 0xFF19)
        return C_DIGIT;
    enum gw_tw_script s = script_of(c);
    if (s == GW_SCRIPT_HAN || s == GW_SCRIPT_KANA)
        return C_IDEO;
    if (s != GW_SCRIPT_NONE)
        return C_LETTER;
    if (c == 0xAA || c == 0xB5 || c == 0xBA || (c >= 0x250 && c <= 0x2FF))
        return C_LETTER; /* ª µ º, IPA and modifier letters */
    return C_OTHER;
}

/* ---------------------------------------------------------------- tokens */

enum ttype { T_WORD, T_SYM, T_BREAK, T_NUMBER };

enum tflag {
    TF_INITCAP = 1 << 0, /* first letter upper case */
    TF_ALLCAP = 1 << 1,  /* two or more letters, all upper case */
    TF_CODE = 1 << 2,    /* identifier-like (connectors, camelCase, digits and letters) */
    TF_SENT = 1 << 3,    /* first word of a sentence */
    TF_ENTITY = 1 << 4,  /* named entity (decided after the whole text is read) */
    TF_DEAD = 1 << 5,    /* removed */
    TF_DIGITS = 1 << 6,  /* starts with a digit */
    TF_HARD = 1 << 7,    /* (break) ends a sentence */
    TF_CAMEL = 1 << 8,   /* lower then upper case inside the word */
    TF_IDEO = 1 << 9,    /* a Han or Kana character */
    TF_CASED = 1 << 10,  /* has a cased letter */
    TF_APOS = 1 << 11,   /* has an apostrophe (a contraction) */
};

struct tok {
    char *s; /* lower case, NUL-terminated, in the arena */
    unsigned flags;
    uint8_t type;
    uint8_t script;
    const char *unit; /* T_NUMBER: canonical unit or NULL */
};

struct toks {
    struct tok *t;
    size_t n, cap;
    int oom;
};

struct ctx {
    struct gw_arena *a;
    struct toks tk;
    struct gw_text *out;
};

static struct tok *tok_push(struct ctx *c, uint8_t type, const char *s, size_t len)
{
    if (c->tk.n >= GW_TEXT_MAX_WORDS * 2)
        return NULL;
    if (c->tk.n == c->tk.cap) {
        size_t cap = c->tk.cap ? c->tk.cap * 2 : 64;
        struct tok *nt = realloc(c->tk.t, cap * sizeof *nt);
        if (!nt) {
            c->tk.oom = 1;
            return NULL;
        }
        c->tk.t = nt;
        c->tk.cap = cap;
    }
    char *copy = gw_arena_strndup(c->a, s, len);
    if (!copy) {
        c->tk.oom = 1;
        return NULL;
    }
    struct tok *t = &c->tk.t[c->tk.n++];
    memset(t, 0, sizeof *t);
    t->s = copy;
    t->type = type;
    return t;
}

static int is_digit(unsigned char b)
{
    return b >= '0' && b <= '9';
}

/* Start of text or white space before byte i (ASCII white space only). */
static int space_before(const unsigned char *p, size_t i)
{
    return i == 0 || p[i - 1] == ' ' || p[i - 1] == '\t' || p[i - 1] == '\n' || p[i - 1] == '\r' ||
           p[i - 1] == '(';
}

static int is_alnum_class(enum cclass k)
{
    return k == C_LETTER || k == C_DIGIT;
}

/* The class of the code point at text[i], C_SPACE past the end. */
static enum cclass class_at(const unsigned char *p, size_t len, size_t i, uint32_t *cp)
{
    size_t adv;
    if (i >= len) {
        *cp = 0;
        return C_SPACE;
    }
    *cp = utf8_next(p + i, len - i, &adv);
    return class_of(*cp);
}

/* Reads one word starting at *pos (a letter, digit, or a leading '-'/'.'
 * before a letter) into buf; returns its flags. */
static unsigned scan_word(const unsigned char *p, size_t len, size_t *pos, char *buf, size_t *blen,
                          int *scripts)
{
    size_t i = *pos, n = 0;
    unsigned flags = 0;
    int letters = 0, upper = 0, lower_seen = 0, digits = 0;
    enum cclass prev = C_SPACE;
    uint32_t cp;
    /* a minus sign; leading dashes of a command-line flag; a dotfile's dot */
    if (p[i] == '-' && i + 1 < len && is_digit(p[i + 1])) {
        buf[n++] = '-';
        i++;
        flags |= TF_DIGITS;
    }
    while (i < len && (p[i] == '-' || p[i] == '.') && n < 2) {
        buf[n++] = (char)p[i++];
        flags |= TF_CODE;
    }
    while (i < len && n < 200) {
        size_t adv;
        cp = utf8_next(p + i, len - i, &adv);
        enum cclass k = class_of(cp);
        if (k == C_LETTER || k == C_DIGIT) {
            uint32_t lo;
            int cs = case_fold(cp, &lo);
            if (k == C_DIGIT) {
                if (cp >= 0xFF10)
                    lo = '0' + (cp - 0xFF10);
                if (n == 0)
                    flags |= TF_DIGITS;
                digits++;
            } else if (cp != '_') {
                letters++;
                enum gw_tw_script s = script_of(cp);
                if (s != GW_SCRIPT_NONE)
                    scripts[s]++;
                if (cs > 0) {
                    if (letters == 1)
                        flags |= TF_INITCAP;
                    if (lower_seen && prev == C_LETTER)
                        flags |= TF_CAMEL;
                    upper++;
                    flags |= TF_CASED;
                } else if (cs < 0) {
                    lower_seen = 1;
                    flags |= TF_CASED;
                }
            } else {
                flags |= TF_CODE;
            }
            n += utf8_put(buf + n, lo);
            i += adv;
            prev = k;
            continue;
        }
        uint32_t nx;
        enum cclass kn = class_at(p, len, i + adv, &nx);
        if (!is_alnum_class(prev))
            break;
        if (cp == '.' && is_alnum_class(kn)) {
            if (!(prev == C_DIGIT && kn == C_DIGIT && !letters))
                flags |= TF_CODE;
            buf[n++] = '.';
            i++;
            prev = C_OTHER;
            continue;
        }
        if (cp == '-' && is_alnum_class(kn)) {
            if (prev == C_DIGIT || kn == C_DIGIT) {
                buf[n++] = '-';
                i++;
                prev = C_OTHER;
                continue;
            }
            break; /* letters-letters: two words */
        }
        if (cp == '/' && is_alnum_class(kn)) {
            flags |= TF_CODE;
            buf[n++] = '/';
            i++;
            prev = C_OTHER;
            continue;
        }
        if (cp == ':') {
            uint32_t c3;
            if (i + 1 < len && p[i + 1] == ':' && is_alnum_class(class_at(p, len, i + 2, &c3))) {
                flags |= TF_CODE;
                buf[n++] = ':';
                buf[n++] = ':';
                i += 2;
                prev = C_OTHER;
                continue;
            }
            if (prev == C_DIGIT && kn == C_DIGIT) {
                buf[n++] = ':';
                i++;
                prev = C_OTHER;
                continue;
            }
            break;
        }
        if ((cp == '\'' || cp == 0x2019) && prev == C_LETTER && kn == C_LETTER) {
            flags |= TF_APOS;
            buf[n++] = '\'';
            i += adv;
            prev = C_OTHER;
            continue;
        }
        if (cp == ',' && prev == C_DIGIT && !letters) {
            /* a thousands separator: exactly three digits follow */
            if (i + 3 < len && is_digit(p[i + 1]) && is_digit(p[i + 2]) && is_digit(p[i + 3]) &&
                (i + 4 >= len || !is_digit(p[i + 4]))) {
                i++;
                continue; /* prev stays a digit */
            }
            break;
        }
        if ((cp == '+' || cp == '#') && letters) {
            size_t j = i;
            while (j < len && (p[j] == '+' || p[j] == '#') && n < 200)
                buf[n++] = (char)p[j++];
            uint32_t c3;
            if (is_alnum_class(class_at(p, len, j, &c3))) {
                n -= j - i; /* "a+b": not a suffix */
                break;
            }
            flags |= TF_CODE;
            i = j;
            break;
        }
        if (cp == '(' && i + 1 < len && p[i + 1] == ')') {
            flags |= TF_CODE;
            buf[n++] = '(';
            buf[n++] = ')';
            i += 2;
            break;
        }
        break;
    }
    if (letters >= 2 && upper == letters)
        flags |= TF_ALLCAP;
    if (flags & TF_CAMEL)
        flags |= TF_CODE;
    if (letters && digits)
        flags |= TF_CODE; /* may be undone: 10th, 5km */
    buf[n] = 0;
    *blen = n;
    *pos = i;
    return flags;
}

/* Quoted spans: "..." `...` “...” «...» 「...」, and '...' when the quote
 * opens after a space and closes before one (so don't / cats' are no
 * quotes). Whitespace is collapsed; all but `code` is lowercased. */
static void scan_quotes(struct ctx *c, const unsigned char *p, size_t len, const char ***out,
                        size_t *nout)
{
    size_t cap = 0;
    const char **q = NULL;
    for (size_t i = 0; i < len && *nout < 64;) {
        size_t adv;
        uint32_t cp = utf8_next(p + i, len - i, &adv);
        uint32_t close = 0;
        switch (cp) {
        case '"':
            close = '"';
            break;
        case '`':
            close = '`';
            break;
        case 0x201C:
            close = 0x201D;
            break;
        case 0xAB:
            close = 0xBB;
            break;
        case 0x300C:
            close = 0x300D;
            break;
        case '\'':
        case 0x2018:
            if (i == 0 || p[i - 1] == ' ' || p[i - 1] == '\t' || p[i - 1] == '\n' ||
                p[i - 1] == '(')
                close = cp == '\'' ? '\'' : 0x2019;
            break;
        default:
            break;
        }
        i += adv;
        if (!close)
            continue;
        size_t start = i, j = i, end = 0;
        int found = 0;
        while (j < len && j - start < 400) {
            size_t a2;
            uint32_t c2 = utf8_next(p + j, len - j, &a2);
            if (c2 == close || (close == '\'' && c2 == 0x2019)) {
                uint32_t after;
                enum cclass ka = class_at(p, len, j + a2, &after);
                if (close != '\'' && close != 0x2019) {
                    found = 1;
                } else if (!is_alnum_class(ka) && j > start && p[j - 1] != ' ') {
                    found = 1;
                }
                if (found) {
                    end = j;
                    j += a2;
                    break;
                }
            }
            j += a2;
        }
        if (!found || end == start)
            continue;
        /* an invalid byte becomes U+FFFD: three bytes for one */
        char *s = gw_arena_alloc(c->a, (end - start) * 3 + 2);
        if (!s) {
            c->tk.oom = 1;
            return;
        }
        size_t n = 0;
        int code = cp == '`';
        if (code)
            s[n++] = '`';
        int space = 0;
        for (size_t k = start; k < end;) {
            size_t a3;
            uint32_t c3 = utf8_next(p + k, end - k, &a3);
            k += a3;
            if (class_of(c3) == C_SPACE || c3 == '\n') {
                space = 1;
                continue;
            }
            if (space && n > (size_t)code)
                s[n++] = ' ';
            space = 0;
            uint32_t lo = c3;
            if (!code)
                case_fold(c3, &lo);
            n += utf8_put(s + n, lo);
        }
        s[n] = 0;
        if (n <= (size_t)code)
            continue;
        if (*nout == cap) {
            cap = cap ? cap * 2 : 4;
            const char **nq = gw_arena_alloc(c->a, cap * sizeof *nq);
            if (!nq) {
                c->tk.oom = 1;
                return;
            }
            if (*nout)
                memcpy(nq, q, *nout * sizeof *nq);
            q = nq;
        }
        q[(*nout)++] = s;
        i = j;
    }
    *out = q;
}

/* An operator between two operands ("2+2", "x = y", "5 > 3", "R & D"): a
 * word or number before it, a letter or digit after it (i is past it). */
static int math_sym(const struct ctx *c, const unsigned char *p, size_t len, size_t i, uint32_t cp)
{
    int numeric; /* only between numbers: also a dash, markdown, a path */
    switch (cp) {
    case '-':
    case '*':
    case '/':
        numeric = 1;
        break;
    case '+':
    case '=':
    case '^':
    case '<':
    case '>':
    case '&':
    case 0xD7:
    case 0xF7:
        numeric = 0;
        break;
    default:
        return 0;
    }
    if (c->tk.n == 0 || c->tk.t[c->tk.n - 1].type != T_WORD)
        return 0;
    if (numeric && !(c->tk.t[c->tk.n - 1].flags & TF_DIGITS))
        return 0;
    while (i < len && (p[i] == ' ' || p[i] == '\t'))
        i++;
    uint32_t nx;
    enum cclass k = class_at(p, len, i, &nx);
    return numeric ? k == C_DIGIT : is_alnum_class(k);
}

/* Pass 1: words, signs and breaks. */
static void tokenize(struct ctx *c, const unsigned char *p, size_t len)
{
    char buf[216];
    int sent = 1;
    size_t words = 0;
    for (size_t i = 0; i < len && words < GW_TEXT_MAX_WORDS && !c->tk.oom;) {
        size_t adv;
        uint32_t cp = utf8_next(p + i, len - i, &adv);
        enum cclass k = class_of(cp);
        uint32_t nx;
        if (k == C_LETTER || k == C_DIGIT ||
            ((cp == '-' || cp == '.') && space_before(p, i) &&
             (class_at(p, len, i + 1, &nx) == C_LETTER ||
              (cp == '-' && class_at(p, len, i + 1, &nx) == C_DIGIT) ||
              (cp == '-' && i + 1 < len && p[i + 1] == '-' &&
               class_at(p, len, i + 2, &nx) == C_LETTER)))) {
            int scripts[GW_SCRIPT_N] = {0};
            size_t blen;
            unsigned fl = scan_word(p, len, &i, buf, &blen, scripts);
            if (blen == 0) {
                i += adv;
                continue;
            }
            struct tok *t = tok_push(c, T_WORD, buf, blen);
            if (!t)
                return;
            t->flags = fl | (sent ? TF_SENT : 0);
            int best = 0;
            for (int s = 1; s < GW_SCRIPT_N; s++) {
                c->out->script_letters[s] += scripts[s];
                if (scripts[s] > scripts[best])
                    best = s;
            }
            t->script = (uint8_t)best;
            sent = 0;
            words++;
            continue;
        }
        i += adv;
        if (k == C_IDEO) {
            char one[5];
            size_t n = utf8_put(one, cp);
            struct tok *t = tok_push(c, T_WORD, one, n);
            if (!t)
                return;
            t->flags = TF_IDEO | (sent ? TF_SENT : 0);
            t->script = (uint8_t)script_of(cp);
            c->out->script_letters[t->script]++;
            sent = 0;
            words++;
        } else if (k == C_HARD || k == C_SOFT) {
            if (c->tk.n && c->tk.t[c->tk.n - 1].type == T_BREAK) {
                if (k == C_HARD)
                    c->tk.t[c->tk.n - 1].flags |= TF_HARD;
            } else if (!tok_push(c, T_BREAK, k == C_HARD ? "." : ",", 1)) {
                return;
            } else if (k == C_HARD) {
                c->tk.t[c->tk.n - 1].flags |= TF_HARD;
            }
            if (k == C_HARD)
                sent = 1;
        } else if (k == C_SYM || (k == C_OTHER && math_sym(c, p, len, i, cp))) {
            char one[5];
            size_t n = utf8_put(one, cp);
            if (!tok_push(c, T_SYM, one, n))
                return;
        }
    }
}

/* ---------------------------------------------------------------- passes */

static int word_is(const struct tok *t, const char *w)
{
    return t->type == T_WORD && !(t->flags & TF_DEAD) && strcmp(t->s, w) == 0;
}

/* Named entities: capitalised words inside a sentence and acronyms; not when
 * the whole text is upper case, and capitals are ignored in Title Case. */
static void mark_entities(struct ctx *c)
{
    int cased = 0, allcap = 0, mid = 0, midcap = 0;
    for (size_t i = 0; i < c->tk.n; i++) {
        struct tok *t = &c->tk.t[i];
        if (t->type != T_WORD || !(t->flags & TF_CASED))
            continue;
        if (strlen(t->s) >= 2) {
            cased++;
            if (t->flags & TF_ALLCAP)
                allcap++;
        }
        if (!(t->flags & TF_SENT)) {
            mid++;
            if (t->flags & TF_INITCAP)
                midcap++;
        }
    }
    int shouting = cased >= 2 && allcap * 10 >= cased * 6;
    int title = mid >= 3 && midcap * 4 >= mid * 3;
    if (shouting)
        return;
    for (size_t i = 0; i < c->tk.n; i++) {
        struct tok *t = &c->tk.t[i];
        if (t->type != T_WORD || strcmp(t->s, "i") == 0)
            continue;
        if (t->flags & TF_ALLCAP) {
            t->flags |= TF_ENTITY; /* an acronym: US, IT, WHO, HTTP */
            continue;
        }
        if (title || !(t->flags & TF_INITCAP) || (t->flags & TF_SENT))
            continue;
        /* a capitalised function word inside a sentence ("(quick) What is")
         * is a missed sentence start, not a name; a capital letter alone
         * is a name (vitamin A, plan B) */
        char base[216];
        size_t k = 0;
        while (t->s[k] && t->s[k] != '\'' && k < sizeof base - 1) {
            base[k] = t->s[k];
            k++;
        }
        base[k] = 0;
        if (k > 1 && strcmp(base, "may") != 0 && /* May, the month, is a name */
            (gw_tlex_cls(base) &
             (GW_TL_STOP | GW_TL_AUX | GW_TL_NEG | GW_TL_MARKER | GW_TL_WH | GW_TL_P1 | GW_TL_P2)))
            continue;
        t->flags |= TF_ENTITY;
    }
}

/* Replaces token i by the words of s (space-separated), keeping flags on
 * the first. */
static int splice(struct ctx *c, size_t i, const char *a, const char *b)
{
    if (!tok_push(c, T_WORD, "", 0))
        return -1;
    struct tok *t = c->tk.t;
    memmove(&t[i + 2], &t[i + 1], (c->tk.n - i - 2) * sizeof *t);
    t[i + 1] = t[i];
    t[i + 1].flags &= ~(unsigned)(TF_ENTITY | TF_INITCAP | TF_ALLCAP | TF_SENT | TF_APOS);
    t[i].s = gw_arena_strdup(c->a, a);
    t[i + 1].s = gw_arena_strdup(c->a, b);
    t[i].flags &= ~(unsigned)TF_APOS;
    if (!t[i].s || !t[i + 1].s) {
        c->tk.oom = 1;
        return -1;
    }
    return 0;
}

/* don't -> do not, can't -> can not, what's -> what is, France's -> france,
 * cannot -> can not, gonna -> going to. */
static void expand_contractions(struct ctx *c)
{
    for (size_t i = 0; i < c->tk.n && !c->tk.oom; i++) {
        struct tok *t = &c->tk.t[i];
        if (t->type != T_WORD)
            continue;
        const char *s = t->s;
        size_t n = strlen(s);
        char base[216];
        if (strcmp(s, "cannot") == 0) {
            splice(c, i, "can", "not");
            continue;
        }
        if (strcmp(s, "gonna") == 0) {
            splice(c, i, "going", "to");
            continue;
        }
        if (strcmp(s, "wanna") == 0) {
            splice(c, i, "want", "to");
            continue;
        }
        if (!(t->flags & TF_APOS) || n >= sizeof base)
            continue;
        const char *second = NULL;
        size_t cut = 0;
        if (n > 3 && strcmp(s + n - 3, "n't") == 0) {
            cut = n - 3;
            second = "not";
        } else if (n > 3 && (strcmp(s + n - 3, "'re") == 0)) {
            cut = n - 3;
            second = "are";
        } else if (n > 3 && strcmp(s + n - 3, "'ve") == 0) {
            cut = n - 3;
            second = "have";
        } else if (n > 3 && strcmp(s + n - 3, "'ll") == 0) {
            cut = n - 3;
            second = "will";
        } else if (n > 2 && strcmp(s + n - 2, "'d") == 0) {
            cut = n - 2;
            second = "would";
        } else if (n > 2 && strcmp(s + n - 2, "'m") == 0) {
            cut = n - 2;
            second = "am";
        } else if (n > 2 && strcmp(s + n - 2, "'s") == 0) {
            cut = n - 2;
            memcpy(base, s, cut);
            base[cut] = 0;
            if (strcmp(base, "let") == 0)
                second = "us";
            else if (gw_tlex_cls(base) & GW_TL_ISBASE)
                second = "is";
            else
                second = ""; /* possessive: dropped */
        } else {
            continue;
        }
        memcpy(base, s, cut);
        base[cut] = 0;
        if (strcmp(second, "not") == 0) {
            if (strcmp(base, "ca") == 0)
                strcpy(base, "can");
            else if (strcmp(base, "wo") == 0)
                strcpy(base, "will");
            else if (strcmp(base, "sha") == 0)
                strcpy(base, "shall");
            else if (strcmp(base, "ai") == 0)
                strcpy(base, "is");
        }
        if (!*second) {
            char *nb = gw_arena_strdup(c->a, base);
            if (!nb) {
                c->tk.oom = 1;
                return;
            }
            t->s = nb;
            t->flags &= ~(unsigned)TF_APOS;
            continue;
        }
        splice(c, i, base, second);
        i++;
    }
}

/* Does the phrase (space-separated words) start at token i? Returns the
 * number of tokens it covers, or 0. */
static size_t phrase_at(const struct ctx *c, size_t i, const char *phrase)
{
    size_t j = i;
    const char *p = phrase;
    while (*p) {
        const char *e = strchr(p, ' ');
        size_t wl = e ? (size_t)(e - p) : strlen(p);
        while (j < c->tk.n && (c->tk.t[j].flags & TF_DEAD))
            j++;
        if (j >= c->tk.n || c->tk.t[j].type != T_WORD)
            return 0;
        const char *s = c->tk.t[j].s;
        if (strlen(s) != wl || memcmp(s, p, wl) != 0)
            return 0;
        j++;
        p += wl;
        if (*p == ' ')
            p++;
    }
    return j - i;
}

static void kill_range(struct ctx *c, size_t i, size_t n)
{
    for (size_t k = i; k < i + n && k < c->tk.n; k++)
        c->tk.t[k].flags |= TF_DEAD;
}

static void remove_fillers(struct ctx *c)
{
    for (size_t i = 0; i < c->tk.n; i++) {
        if (c->tk.t[i].type != T_WORD || (c->tk.t[i].flags & TF_DEAD))
            continue;
        for (size_t f = 0; f < gw_tlex_n_fillers; f++) {
            size_t n = phrase_at(c, i, gw_tlex_fillers[f]);
            if (n) {
                kill_range(c, i, n);
                break;
            }
        }
        /* politeness: "can you (please) tell ..." */
        struct tok *t = &c->tk.t[i];
        if (!(t->flags & TF_DEAD) &&
            (word_is(t, "can") || word_is(t, "could") || word_is(t, "would") ||
             word_is(t, "will")) &&
            i + 2 < c->tk.n && word_is(&c->tk.t[i + 1], "you") && c->tk.t[i + 2].type == T_WORD &&
            gw_tlex_request_verb(c->tk.t[i + 2].s))
            kill_range(c, i, 2);
    }
}

static int all_digits(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

/* The next live token after i, or NULL. */
static struct tok *next_live(struct ctx *c, size_t i, size_t *at)
{
    for (size_t j = i + 1; j < c->tk.n; j++) {
        if (!(c->tk.t[j].flags & TF_DEAD)) {
            *at = j;
            return &c->tk.t[j];
        }
    }
    return NULL;
}

/* A unit after the number at i: "%", "° C", "degrees celsius", "km". */
static const char *take_unit(struct ctx *c, size_t i)
{
    size_t j, k;
    struct tok *n1 = next_live(c, i, &j);
    if (!n1 || n1->type == T_BREAK)
        return NULL;
    if (n1->type == T_SYM) {
        if (strcmp(n1->s, "%") == 0) {
            n1->flags |= TF_DEAD;
            return "%";
        }
        if (strcmp(n1->s, "\xc2\xb0") == 0) {
            n1->flags |= TF_DEAD;
            struct tok *n2 = next_live(c, j, &k);
            if (n2 && n2->type == T_WORD) {
                const char *u = gw_tlex_unit(n2->s);
                if (u && (strcmp(u, "c") == 0 || strcmp(u, "f") == 0 || strcmp(u, "k") == 0)) {
                    n2->flags |= TF_DEAD;
                    return u;
                }
            }
            return "deg";
        }
        return NULL;
    }
    if (n1->type != T_WORD)
        return NULL;
    if (strcmp(n1->s, "per") == 0) {
        struct tok *n2 = next_live(c, j, &k);
        if (n2 && word_is(n2, "cent")) {
            n1->flags |= TF_DEAD;
            n2->flags |= TF_DEAD;
            return "%";
        }
        return NULL;
    }
    const char *u = gw_tlex_unit(n1->s);
    if (!u)
        return NULL;
    n1->flags |= TF_DEAD;
    if (strcmp(u, "deg") == 0) {
        struct tok *n2 = next_live(c, j, &k);
        if (n2 && n2->type == T_WORD) {
            const char *u2 = gw_tlex_unit(n2->s);
            if (u2 && (strcmp(u2, "c") == 0 || strcmp(u2, "f") == 0 || strcmp(u2, "k") == 0)) {
                n2->flags |= TF_DEAD;
                return u2;
            }
        }
    }
    return u;
}

static int set_number(struct ctx *c, struct tok *t, const char *value, const char *unit)
{
    char *v = gw_arena_strdup(c->a, value);
    if (!v) {
        c->tk.oom = 1;
        return -1;
    }
    t->s = v;
    t->type = T_NUMBER;
    t->unit = unit;
    t->flags &= ~(unsigned)(TF_CODE | TF_ENTITY);
    return 0;
}

/* Numbers: digits (1,000 -> 1000; 3.14; 10th; 5km), number words (twenty
 * five -> 25, a hundred -> 100, first -> 1 th), then their unit. */
static void join_numbers(struct ctx *c)
{
    for (size_t i = 0; i < c->tk.n && !c->tk.oom; i++) {
        struct tok *t = &c->tk.t[i];
        if (t->type != T_WORD || (t->flags & TF_DEAD))
            continue;
        const char *glued = NULL;
        const char *s = t->s;
        size_t n = strlen(s);
        if (t->flags & TF_DIGITS) {
            size_t d = 0;
            while (d < n && ((s[d] >= '0' && s[d] <= '9') || s[d] == '.' || s[d] == ':' ||
                             s[d] == '/' || s[d] == '-'))
                d++;
            while (d > 0 && (s[d - 1] < '0' || s[d - 1] > '9'))
                d--;
            char val[216];
            memcpy(val, s, d);
            val[d] = 0;
            if (d == n) {
                glued = NULL;
            } else if (all_digits(s, d) && (strcmp(s + d, "st") == 0 || strcmp(s + d, "nd") == 0 ||
                                            strcmp(s + d, "rd") == 0 || strcmp(s + d, "th") == 0)) {
                set_number(c, t, val, "th");
                continue;
            } else if ((glued = gw_tlex_unit(s + d)) != NULL) {
                /* 5km, 100ms */
            } else {
                continue; /* h264-like: stays a code word */
            }
            const char *unit = glued ? glued : NULL;
            /* a currency sign just before */
            if (i > 0 && c->tk.t[i - 1].type == T_SYM && !(c->tk.t[i - 1].flags & TF_DEAD)) {
                const char *u = gw_tlex_unit(c->tk.t[i - 1].s);
                if (u && strcmp(c->tk.t[i - 1].s, "%") != 0 &&
                    strcmp(c->tk.t[i - 1].s, "\xc2\xb0") != 0) {
                    c->tk.t[i - 1].flags |= TF_DEAD;
                    unit = u;
                }
            }
            if (set_number(c, t, val, unit) < 0)
                return;
            if (!unit)
                t->unit = take_unit(c, i);
            continue;
        }
        const struct gw_tlex *l = gw_tlex_find(s);
        if (!l || !(l->cls & (GW_TL_NUM | GW_TL_ORD | GW_TL_MULT)))
            continue;
        if (l->cls & GW_TL_ORD) {
            char val[32];
            snprintf(val, sizeof val, "%lld", l->val);
            set_number(c, t, val, "th");
            continue;
        }
        /* a run of number words: twenty five, two hundred (and) five */
        long long total = 0, cur = 0;
        size_t j = i, last = i;
        int any = 0;
        while (j < c->tk.n) {
            struct tok *u = &c->tk.t[j];
            if (u->flags & TF_DEAD) {
                j++;
                continue;
            }
            if (u->type != T_WORD)
                break;
            const struct gw_tlex *m = gw_tlex_find(u->s);
            if (m && (m->cls & GW_TL_NUM)) {
                if (m->val < 10 && cur % 10 == 0 && cur % 100 >= 20)
                    cur += m->val; /* twenty five */
                else if (cur % 100 == 0)
                    cur += m->val; /* the first, or after hundred */
                else
                    break; /* "two three": two numbers */
            } else if (m && (m->cls & GW_TL_MULT)) {
                if (m->val == 100)
                    cur = (cur ? cur : 1) * 100;
                else {
                    total += (cur ? cur : 1) * m->val;
                    cur = 0;
                }
            } else if (any && strcmp(u->s, "and") == 0) {
                size_t k2;
                struct tok *nx = next_live(c, j, &k2);
                const struct gw_tlex *m2 = nx && nx->type == T_WORD ? gw_tlex_find(nx->s) : NULL;
                if (!m2 || !(m2->cls & GW_TL_NUM) || cur % 100 != 0 || (cur == 0 && total == 0))
                    break;
            } else {
                break;
            }
            any = 1;
            last = j;
            j++;
        }
        if (!any)
            continue;
        for (size_t k = i + 1; k <= last; k++)
            c->tk.t[k].flags |= TF_DEAD;
        char val[32];
        snprintf(val, sizeof val, "%lld", total + cur);
        const char *unit = NULL;
        if (i > 0 && c->tk.t[i - 1].type == T_SYM && !(c->tk.t[i - 1].flags & TF_DEAD)) {
            const char *u = gw_tlex_unit(c->tk.t[i - 1].s);
            if (u && strcmp(u, "%") != 0 && strcmp(u, "deg") != 0) {
                c->tk.t[i - 1].flags |= TF_DEAD;
                unit = u;
            }
        }
        if (set_number(c, t, val, unit) < 0)
            return;
        if (!unit)
            t->unit = take_unit(c, last);
        i = last;
    }
}

/* Light plural stemming of an ASCII word, in place (buf has room). */
static void stem(char *w)
{
    size_t n = strlen(w);
    if (n < 4)
        return;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)w[i] >= 0x80 || w[i] == '\'')
            return;
    if (gw_tlex_not_plural(w))
        return;
#define ENDS(suf) (n > strlen(suf) && strcmp(w + n - strlen(suf), suf) == 0)
    if (ENDS("ies") && n >= 5) {
        strcpy(w + n - 3, "y");
    } else if (ENDS("sses") || ENDS("shes") || ENDS("ches") || ENDS("xes") || ENDS("zzes")) {
        w[n - 2] = 0;
    } else if (ENDS("oes") && n >= 6) {
        w[n - 2] = 0;
    } else if (ENDS("ss") || ENDS("us") || ENDS("is") || ENDS("ics") || ENDS("ous")) {
        /* not plurals */
    } else if (ENDS("s")) {
        w[n - 1] = 0;
    }
#undef ENDS
}

static int add_word(struct ctx *c, struct gw_tword **w, size_t *n, size_t *cap, const char *text,
                    const char *raw, uint8_t kind, uint8_t flags)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 32;
        struct gw_tword *nw = gw_arena_alloc(c->a, nc * sizeof *nw);
        if (!nw) {
            c->tk.oom = 1;
            return -1;
        }
        if (*n)
            memcpy(nw, *w, *n * sizeof *nw);
        *w = nw;
        *cap = nc;
    }
    (*w)[(*n)++] = (struct gw_tword){.text = text, .raw = raw, .kind = kind, .flags = flags};
    return 0;
}

#define SOFT_BREAK 0x80 /* gw_tword flag of a comma-like break, while classifying */

static void classify(struct ctx *c)
{
    struct gw_text *o = c->out;
    struct gw_tword *w = NULL;
    size_t n = 0, cap = 0;
    const char **raw = gw_arena_alloc(c->a, (c->tk.n + 1) * sizeof *raw);
    const char **ent = gw_arena_alloc(c->a, (c->tk.n + 1) * sizeof *ent);
    if (!raw || !ent) {
        c->tk.oom = 1;
        return;
    }
    /* every word, and the language votes, before anything is dropped */
    for (size_t i = 0; i < c->tk.n; i++) {
        struct tok *t = &c->tk.t[i];
        if (t->type != T_WORD && t->type != T_NUMBER)
            continue;
        raw[o->n_raw++] = t->s;
        if (t->flags & TF_ENTITY)
            ent[o->n_entities++] = t->s;
        unsigned cls = gw_tlex_cls(t->s);
        for (int l = GW_LANG_EN; l < GW_LANG_N; l++)
            if (cls & (GW_TL_EN << (l - GW_LANG_EN)))
                o->lang_votes[l]++;
    }
    o->raw = raw;
    o->entities = ent;
    int literal = 0; /* "the plural of mouse": words are the subject */
    for (size_t i = 0; i < o->n_raw && !literal; i++)
        literal = (gw_tlex_cls(raw[i]) & GW_TL_META) != 0;
    const char *prev_raw = NULL; /* the previous word, dropped or not */
    for (size_t i = 0; i < c->tk.n && !c->tk.oom; i++) {
        struct tok *t = &c->tk.t[i];
        if (t->flags & TF_DEAD) {
            if (t->type == T_WORD)
                prev_raw = NULL;
            continue;
        }
        if (t->type == T_BREAK) {
            if (n && w[n - 1].kind != GW_TW_BREAK)
                add_word(c, &w, &n, &cap, ",", ",", GW_TW_BREAK,
                         (t->flags & TF_HARD) ? 0 : SOFT_BREAK);
            prev_raw = NULL;
            continue;
        }
        if (n && w[n - 1].kind == GW_TW_BREAK && (w[n - 1].flags & SOFT_BREAK) &&
            (word_is(t, "and") || word_is(t, "or")))
            n--; /* "a virus, and a bacterium": one list */
        if (t->type == T_SYM) {
            /* an operator left over (currency and percent signs went to
             * their number) is a content word */
            static const struct gw_tpair ops[] = {
                {"&", "and"},      {"*", "times"},
                {"+", "plus"},     {"-", "minus"},
                {"/", "/"},        {"<", "<"},
                {"=", "="},        {">", ">"},
                {"^", "^"},        {"\xc3\x97", "times"},
                {"\xc3\xb7", "/"},
            };
            for (size_t k = 0; k < N_OF(ops); k++) {
                if (strcmp(t->s, ops[k].w) == 0) {
                    add_word(c, &w, &n, &cap, ops[k].to, t->s, GW_TW_CONTENT, 0);
                    break;
                }
            }
            prev_raw = NULL;
            continue;
        }
        if (t->type == T_NUMBER) {
            const char *text = t->s;
            if (t->unit) {
                size_t a = strlen(t->s), b = strlen(t->unit);
                char *s = gw_arena_alloc(c->a, a + b + 2);
                if (!s) {
                    c->tk.oom = 1;
                    return;
                }
                memcpy(s, t->s, a);
                s[a] = ' ';
                memcpy(s + a + 1, t->unit, b + 1);
                text = s;
            }
            add_word(c, &w, &n, &cap, text, t->s, GW_TW_NUMBER, 0);
            prev_raw = t->s;
            continue;
        }
        const char *s = t->s;
        const struct gw_tlex *l = gw_tlex_find(s);
        unsigned cls = l ? l->cls : 0;
        uint8_t flags = 0;
        if (t->flags & TF_ENTITY)
            flags |= GW_TWF_ENTITY;
        if (t->flags & TF_CODE)
            flags |= GW_TWF_CODE;
        if ((t->flags & TF_ENTITY) &&
            (cls & (GW_TL_STOP | GW_TL_AUX | GW_TL_NEG | GW_TL_MARKER | GW_TL_WH))) {
            /* US, IT, WHO: a name that is also a function word */
            size_t k = strlen(s);
            char *e = gw_arena_alloc(c->a, k + 2);
            if (!e) {
                c->tk.oom = 1;
                return;
            }
            e[0] = '=';
            memcpy(e + 1, s, k + 1);
            add_word(c, &w, &n, &cap, e, s, GW_TW_CONTENT, flags);
            prev_raw = s;
            continue;
        }
        if (cls & GW_TL_AUX) {
            unsigned bits = (unsigned)l->val;
            if ((bits & GW_AUX_CAN) && prev_raw && strcmp(prev_raw, "how") == 0)
                bits = 0; /* "how can I" asks how, not whether */
            o->aux |= bits;
        }
        if (cls & GW_TL_NEG) {
            o->negations++;
            add_word(c, &w, &n, &cap, s, s, GW_TW_NEGATION,
                     flags | ((cls & GW_TL_QUANT) ? GW_TWF_QUANTIFIER : 0));
            prev_raw = s;
            continue;
        }
        if (cls & GW_TL_MARKER) {
            if (strcmp(s, "to") == 0 && prev_raw && (gw_tlex_cls(prev_raw) & GW_TL_INFTO)) {
                prev_raw = s;
                continue; /* "how to", "want to": an infinitive */
            }
            const char *m = gw_tlex_canon(s);
            if (strcmp(s, "without") == 0) {
                o->negations++;
                flags |= GW_TWF_NEGATING;
            }
            add_word(c, &w, &n, &cap, m ? m : s, s, GW_TW_MARKER, flags);
            prev_raw = s;
            continue;
        }
        if (cls & (GW_TL_STOP | GW_TL_AUX)) {
            if (cls & GW_TL_P1)
                o->person |= GW_PERSON_FIRST;
            if (cls & GW_TL_P2)
                o->person |= GW_PERSON_SECOND;
            prev_raw = s;
            continue;
        }
        if (cls & GW_TL_WH)
            flags |= GW_TWF_WH;
        if (cls & GW_TL_QUANT)
            flags |= GW_TWF_QUANTIFIER;
        if (cls & GW_TL_COMP)
            flags |= GW_TWF_COMPARATIVE;
        const char *text = s;
        if (!literal && !(t->flags & (TF_CODE | TF_IDEO))) {
            size_t k = strlen(s);
            char *st = gw_arena_alloc(c->a, k + 1);
            if (!st) {
                c->tk.oom = 1;
                return;
            }
            memcpy(st, s, k + 1);
            const char *irr = gw_tlex_canon(st);
            if (!irr) {
                stem(st);
                irr = gw_tlex_canon(st);
            }
            text = irr ? irr : st;
        }
        add_word(c, &w, &n, &cap, text, s, GW_TW_CONTENT, flags);
        prev_raw = s;
    }
    while (n && w[n - 1].kind == GW_TW_BREAK)
        n--;
    for (size_t i = 0; i < n; i++)
        if (w[i].kind == GW_TW_BREAK)
            w[i].flags = 0;
    o->w = w;
    o->n = n;
    for (size_t i = 0; i < n; i++)
        if (w[i].kind == GW_TW_CONTENT || w[i].kind == GW_TW_NUMBER || w[i].kind == GW_TW_NEGATION)
            o->n_content++;
}

int gw_text_analyse(const char *text, size_t len, struct gw_text *out)
{
    memset(out, 0, sizeof *out);
    out->arena = gw_arena_new(len * 3 + 2048 < 65536 ? len * 3 + 2048 : 65536);
    if (!out->arena)
        return -1;
    struct ctx c = {.a = out->arena, .out = out};
    const unsigned char *p = (const unsigned char *)(text ? text : "");
    if (!text)
        len = 0;
    tokenize(&c, p, len);
    if (!c.tk.oom)
        scan_quotes(&c, p, len, &out->quotes, &out->n_quotes);
    if (!c.tk.oom)
        mark_entities(&c);
    if (!c.tk.oom)
        expand_contractions(&c);
    if (!c.tk.oom)
        remove_fillers(&c);
    if (!c.tk.oom)
        join_numbers(&c);
    if (!c.tk.oom)
        classify(&c);
    free(c.tk.t);
    return c.tk.oom ? -1 : 0;
}

void gw_text_free(struct gw_text *t)
{
    if (t && t->arena)
        gw_arena_destroy(t->arena);
    if (t)
        memset(t, 0, sizeof *t);
}

enum gw_tw_script gw_text_script(const struct gw_text *t)
{
    int best = GW_SCRIPT_NONE;
    for (int s = 1; s < GW_SCRIPT_N; s++)
        if (t->script_letters[s] > t->script_letters[best])
            best = s;
    /* Japanese mixes Kana and Han; Han alone is Chinese */
    if ((best == GW_SCRIPT_HAN || best == GW_SCRIPT_KANA) && t->script_letters[GW_SCRIPT_KANA])
        return GW_SCRIPT_KANA;
    return (enum gw_tw_script)best;
}

enum gw_tw_lang gw_text_lang(const struct gw_text *t)
{
    int best = GW_LANG_UNKNOWN, top = 0, ties = 0;
    for (int l = GW_LANG_EN; l < GW_LANG_N; l++) {
        if (t->lang_votes[l] > top) {
            top = t->lang_votes[l];
            best = l;
            ties = 0;
        } else if (t->lang_votes[l] == top && top > 0) {
            ties++;
        }
    }
    return ties ? GW_LANG_UNKNOWN : (enum gw_tw_lang)best;
}

const char *gw_text_script_name(enum gw_tw_script s)
{
    static const char *const names[GW_SCRIPT_N] = {
        "none",  "latin", "greek",  "cyrillic", "armenian", "hebrew", "arabic",
        "indic", "thai",  "hangul", "japanese", "han",      "other",
    };
    return (unsigned)s < GW_SCRIPT_N ? names[s] : "?";
}

const char *gw_text_lang_name(enum gw_tw_lang l)
{
    static const char *const names[GW_LANG_N] = {"unknown", "en", "fr", "de",
                                                 "es",      "it", "pt", "nl"};
    return (unsigned)l < GW_LANG_N ? names[l] : "?";
}
