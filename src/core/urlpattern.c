/* URL Pattern: compiling components to matchers, and matching.
 *
 * A component without regexp groups is a regular language over its parts (fixed text, `[^d]+`
 * segment wildcards, `.*` full wildcards, `{...}` groups and the ? * + modifiers), so it becomes
 * a Thompson automaton built backwards from the parts and is simulated on every state at once:
 * O(length x states), no backtracking, whatever the input. Whether the standard's JavaScript
 * regexp would match greedily or lazily does not matter: test() only asks whether the anchored
 * expression matches. Components with regexp groups build the standard's regular expression
 * with each group's source translated from JavaScript's `v` syntax to PCRE2 (or refused), and
 * are matched by PCRE2 under match, depth and heap limits. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "core/urlpattern.h"
#include "core/urlpattern_parse.h"

#include "common/utf8.h"

#include <pcre2.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_COST        256    /* cost units of one PCRE2 component (see urlpattern_cost) */
#define PCRE2_MATCH_LIMIT 100000 /* backtracking steps per component match */
#define PCRE2_DEPTH_LIMIT 2000
#define PCRE2_HEAP_KIB    1024
#define MAX_STATES        100000 /* an automaton this large is refused (a 400) */

/* --- automaton ---------------------------------------------------------------------------- */

enum op { OP_CHAR, OP_NOT, OP_SPLIT, OP_MATCH };

struct state {
    uint8_t op;
    char ch;       /* OP_CHAR: the byte; OP_NOT: the excluded byte, 0 for none */
    int out, out1; /* OP_SPLIT: both; -1: none */
};

struct nfa {
    struct state *v;
    size_t n, cap;
    bool oom;
    int start;
};

static int st_new(struct nfa *a, uint8_t op, char ch, int out, int out1)
{
    if (a->oom) return -1;
    if (a->n >= MAX_STATES) {
        a->oom = true;
        return -1;
    }
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 32;
        struct state *v = realloc(a->v, cap * sizeof(*v));
        if (!v) {
            a->oom = true;
            return -1;
        }
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n] = (struct state){op, ch, out, out1};
    return (int)a->n++;
}

/* A tiny expression tree per part, built backwards into the automaton. */
enum ntype { N_LIT, N_CLS, N_SEQ, N_OPT, N_STAR, N_PLUS };
struct node {
    enum ntype t;
    const char *s; /* N_LIT */
    size_t len;
    char delim; /* N_CLS: excluded byte, 0 for any */
    const struct node *a, *b;
};

static int build(struct nfa *a, const struct node *nd, int next)
{
    if (a->oom) return -1;
    switch (nd->t) {
    case N_LIT:
        for (size_t i = nd->len; i-- > 0;)
            next = st_new(a, OP_CHAR, nd->s[i], next, -1);
        return next;
    case N_CLS:
        return st_new(a, OP_NOT, nd->delim, next, -1);
    case N_SEQ:
        return build(a, nd->a, build(a, nd->b, next));
    case N_OPT:
        return st_new(a, OP_SPLIT, 0, build(a, nd->a, next), next);
    case N_STAR: {
        int loop = st_new(a, OP_SPLIT, 0, -1, next);
        int body = build(a, nd->a, loop);
        if (loop >= 0) a->v[loop].out = body;
        return loop;
    }
    case N_PLUS: {
        int loop = st_new(a, OP_SPLIT, 0, -1, next);
        int body = build(a, nd->a, loop);
        if (loop >= 0) a->v[loop].out = body;
        return body;
    }
    }
    return -1;
}

static int build_part(struct nfa *a, const struct up_part *p, const struct up_options *opt,
                      int next)
{
    struct node n[12];
    memset(n, 0, sizeof(n));
    const struct node *expr;
    enum ntype mod_t = p->modifier == UP_OPTIONAL       ? N_OPT
                       : p->modifier == UP_ZERO_OR_MORE ? N_STAR
                                                        : N_PLUS;
    if (p->type == UP_FIXED) {
        n[0] = (struct node){.t = N_LIT, .s = ustr_z(&p->value), .len = p->value.len};
        if (p->modifier == UP_NONE) return build(a, &n[0], next);
        n[1] = (struct node){.t = mod_t, .a = &n[0]};
        return build(a, &n[1], next);
    }
    /* R: the group's own expression */
    n[0] = (struct node){.t = N_CLS, .delim = p->type == UP_SEGMENT_WILDCARD ? opt->delimiter : 0};
    n[1] = (struct node){.t = p->type == UP_SEGMENT_WILDCARD ? N_PLUS : N_STAR, .a = &n[0]};
    const struct node *R = &n[1];
    if (p->prefix.len == 0 && p->suffix.len == 0) {
        if (p->modifier == UP_NONE) return build(a, R, next);
        n[2] = (struct node){.t = mod_t, .a = R};
        return build(a, &n[2], next);
    }
    n[2] = (struct node){.t = N_LIT, .s = ustr_z(&p->prefix), .len = p->prefix.len};
    n[3] = (struct node){.t = N_LIT, .s = ustr_z(&p->suffix), .len = p->suffix.len};
    if (p->modifier == UP_NONE || p->modifier == UP_OPTIONAL) {
        n[4] = (struct node){.t = N_SEQ, .a = R, .b = &n[3]};
        n[5] = (struct node){.t = N_SEQ, .a = &n[2], .b = &n[4]};
        expr = &n[5];
        if (p->modifier == UP_OPTIONAL) {
            n[6] = (struct node){.t = N_OPT, .a = expr};
            expr = &n[6];
        }
        return build(a, expr, next);
    }
    /* P R (S P R)* S, optional as a whole for '*' */
    n[4] = (struct node){.t = N_SEQ, .a = &n[2], .b = R};     /* P R */
    n[5] = (struct node){.t = N_SEQ, .a = &n[3], .b = &n[4]}; /* S P R */
    n[6] = (struct node){.t = N_STAR, .a = &n[5]};
    n[7] = (struct node){.t = N_SEQ, .a = &n[6], .b = &n[3]};
    n[8] = (struct node){.t = N_SEQ, .a = &n[4], .b = &n[7]};
    expr = &n[8];
    if (p->modifier == UP_ZERO_OR_MORE) {
        n[9] = (struct node){.t = N_OPT, .a = expr};
        expr = &n[9];
    }
    return build(a, expr, next);
}

static int nfa_compile(struct nfa *a, const struct up_parts *parts, const struct up_options *opt)
{
    memset(a, 0, sizeof(*a));
    int next = st_new(a, OP_MATCH, 0, -1, -1);
    for (size_t i = parts->n; i-- > 0;)
        next = build_part(a, &parts->v[i], opt, next);
    a->start = next;
    return a->oom ? -1 : 0;
}

/* Adds s and everything reachable from it through splits to list (marking with gen). */
static void add_state(const struct nfa *a, int s, int *list, size_t *ln, uint32_t *mark,
                      uint32_t gen, int *stack)
{
    size_t sp = 0;
    stack[sp++] = s;
    while (sp) {
        int k = stack[--sp];
        if (k < 0 || mark[k] == gen) continue;
        mark[k] = gen;
        if (a->v[k].op == OP_SPLIT) {
            stack[sp++] = a->v[k].out1;
            stack[sp++] = a->v[k].out;
        } else {
            list[(*ln)++] = k;
        }
    }
}

static bool nfa_match(const struct nfa *a, const char *s, size_t n)
{
    size_t ns = a->n;
    int small[4 * 256];
    uint32_t small_mark[256];
    int *mem = small;
    uint32_t *mark = small_mark;
    if (ns > 256) {
        mem = malloc(4 * ns * sizeof(int));
        mark = malloc(ns * sizeof(uint32_t));
        if (!mem || !mark) {
            free(mem);
            free(mark);
            return false;
        }
    }
    /* the stack holds at most two entries per state */
    int *cur = mem, *nxt = mem + ns, *stack = mem + 2 * ns;
    memset(mark, 0, ns * sizeof(uint32_t));
    uint32_t gen = 1;
    size_t cn = 0, nn;
    add_state(a, a->start, cur, &cn, mark, gen, stack);
    for (size_t i = 0; i < n && cn; i++) {
        char c = s[i];
        gen++;
        nn = 0;
        for (size_t k = 0; k < cn; k++) {
            const struct state *st = &a->v[cur[k]];
            bool ok = (st->op == OP_CHAR && st->ch == c) ||
                      (st->op == OP_NOT && (st->ch == 0 || st->ch != c));
            if (ok) add_state(a, st->out, nxt, &nn, mark, gen, stack);
        }
        int *t = cur;
        cur = nxt;
        nxt = t;
        cn = nn;
    }
    bool matched = false;
    for (size_t k = 0; k < cn; k++)
        if (a->v[cur[k]].op == OP_MATCH) matched = true;
    if (mem != small) {
        free(mem);
        free(mark);
    }
    return matched;
}

/* --- JavaScript regexp (v flag) to PCRE2 -------------------------------------------------- */

struct jsre {
    const char *s;
    size_t n, i;
    struct ustr *out;
    const char *reason;
    int depth;
};

static bool jr_eof(const struct jsre *j)
{
    return j->i >= j->n;
}
static char jr_peek(const struct jsre *j, size_t k)
{
    return j->i + k < j->n ? j->s[j->i + k] : 0;
}
static bool jr_fail(struct jsre *j, const char *why)
{
    if (!j->reason) j->reason = why;
    return false;
}

static void emit_cp(struct ustr *o, uint32_t c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
        ustr_putc(o, (char)c);
        return;
    }
    static const char hex[] = "0123456789abcdef";
    char b[16];
    int k = 0;
    uint32_t v = c;
    do {
        b[k++] = hex[v & 15];
        v >>= 4;
    } while (v);
    ustr_puts(o, "\\x{");
    while (k)
        ustr_putc(o, b[--k]);
    ustr_putc(o, '}');
}

static bool is_hexc(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
static uint32_t hexv(char c)
{
    return c <= '9' ? (uint32_t)(c - '0') : (uint32_t)((c | 0x20) - 'a' + 10);
}

/* \u escapes: 4 hex digits (a surrogate pair combines) or {hex}. -1 on error. */
static int64_t jr_unicode(struct jsre *j)
{
    if (jr_peek(j, 0) == '{') {
        j->i++;
        uint64_t v = 0;
        size_t digits = 0;
        while (is_hexc(jr_peek(j, 0))) {
            v = v * 16 + hexv(jr_peek(j, 0));
            if (v > 0x10FFFF) return -1;
            j->i++;
            digits++;
        }
        if (!digits || jr_peek(j, 0) != '}') return -1;
        j->i++;
        return (int64_t)v;
    }
    for (int k = 0; k < 4; k++)
        if (!is_hexc(jr_peek(j, (size_t)k))) return -1;
    uint32_t v = 0;
    for (int k = 0; k < 4; k++)
        v = v * 16 + hexv(jr_peek(j, (size_t)k));
    j->i += 4;
    if (v >= 0xD800 && v <= 0xDBFF && jr_peek(j, 0) == '\\' && jr_peek(j, 1) == 'u') {
        bool ok = true;
        for (int k = 0; k < 4; k++)
            if (!is_hexc(jr_peek(j, 2 + (size_t)k))) ok = false;
        if (ok) {
            uint32_t lo = 0;
            for (int k = 0; k < 4; k++)
                lo = lo * 16 + hexv(jr_peek(j, 2 + (size_t)k));
            if (lo >= 0xDC00 && lo <= 0xDFFF) {
                j->i += 6;
                return 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
            }
        }
    }
    return v;
}

/* \p{...} / \P{...}: emits the PCRE2 spelling (PCRE2 judges the name). */
static bool jr_property(struct jsre *j, char kind)
{
    if (jr_peek(j, 0) != '{') return jr_fail(j, "invalid property escape in a regexp group");
    j->i++;
    size_t start = j->i;
    while (!jr_eof(j) && jr_peek(j, 0) != '}') {
        char c = jr_peek(j, 0);
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '='))
            return jr_fail(j, "invalid property escape in a regexp group");
        j->i++;
    }
    if (jr_eof(j) || j->i == start) return jr_fail(j, "invalid property escape in a regexp group");
    const char *name = j->s + start;
    size_t len = j->i - start;
    j->i++;
    const char *eq = memchr(name, '=', len);
    ustr_putc(j->out, '\\');
    ustr_putc(j->out, kind);
    ustr_putc(j->out, '{');
    if (eq) {
        size_t kl = (size_t)(eq - name);
        const char *v = eq + 1;
        size_t vl = len - kl - 1;
        if ((kl == 16 && !memcmp(name, "General_Category", 16)) ||
            (kl == 2 && !memcmp(name, "gc", 2))) {
            ustr_putn(j->out, v, vl);
        } else if ((kl == 6 && !memcmp(name, "Script", 6)) || (kl == 2 && !memcmp(name, "sc", 2))) {
            ustr_puts(j->out, "sc:");
            ustr_putn(j->out, v, vl);
        } else if ((kl == 17 && !memcmp(name, "Script_Extensions", 17)) ||
                   (kl == 3 && !memcmp(name, "scx", 3))) {
            ustr_puts(j->out, "scx:");
            ustr_putn(j->out, v, vl);
        } else {
            return jr_fail(j, "unsupported property escape in a regexp group");
        }
    } else {
        static const char *const long_names[][2] = {
            {"Letter", "L"},
            {"Cased_Letter", "LC"},
            {"Uppercase_Letter", "Lu"},
            {"Lowercase_Letter", "Ll"},
            {"Titlecase_Letter", "Lt"},
            {"Modifier_Letter", "Lm"},
            {"Other_Letter", "Lo"},
            {"Mark", "M"},
            {"Number", "N"},
            {"Decimal_Number", "Nd"},
            {"Letter_Number", "Nl"},
            {"Other_Number", "No"},
            {"Punctuation", "P"},
            {"Symbol", "S"},
            {"Separator", "Z"},
            {"Space_Separator", "Zs"},
            {"Other", "C"},
            {"Control", "Cc"},
        };
        const char *mapped = NULL;
        for (size_t k = 0; k < sizeof(long_names) / sizeof(long_names[0]); k++)
            if (strlen(long_names[k][0]) == len && !memcmp(long_names[k][0], name, len))
                mapped = long_names[k][1];
        if (mapped)
            ustr_puts(j->out, mapped);
        else
            ustr_putn(j->out, name, len);
    }
    ustr_putc(j->out, '}');
    return true;
}

/* A character escape (after '\'), in or out of a class. Returns the code point, or -1 after
 * emitting a class escape (\d \p{..} ...) when allowed, or -2 on error. */
static int64_t jr_char_escape(struct jsre *j, bool in_class)
{
    char c = jr_peek(j, 0);
    if (!c) return jr_fail(j, "a regexp group cannot end with a backslash"), -2;
    j->i++;
    switch (c) {
    case 'd':
    case 'D':
    case 'w':
    case 'W':
    case 's':
    case 'S':
        ustr_putc(j->out, '\\');
        ustr_putc(j->out, c);
        return -1;
    case 'p':
    case 'P':
        return jr_property(j, c) ? -1 : -2;
    case 'f':
        return '\f';
    case 'n':
        return '\n';
    case 'r':
        return '\r';
    case 't':
        return '\t';
    case 'v':
        return '\v';
    case 'c': {
        char l = jr_peek(j, 0);
        if (!((l >= 'a' && l <= 'z') || (l >= 'A' && l <= 'Z')))
            return jr_fail(j, "invalid \\c escape in a regexp group"), -2;
        j->i++;
        return l % 32;
    }
    case '0':
        if (jr_peek(j, 0) >= '0' && jr_peek(j, 0) <= '9')
            return jr_fail(j, "invalid octal escape in a regexp group"), -2;
        return 0;
    case 'x':
        if (!is_hexc(jr_peek(j, 0)) || !is_hexc(jr_peek(j, 1)))
            return jr_fail(j, "invalid \\x escape in a regexp group"), -2;
        j->i += 2;
        return hexv(j->s[j->i - 2]) * 16 + hexv(j->s[j->i - 1]);
    case 'u': {
        int64_t v = jr_unicode(j);
        if (v < 0) return jr_fail(j, "invalid \\u escape in a regexp group"), -2;
        if (v >= 0xD800 && v <= 0xDFFF)
            return jr_fail(j, "lone surrogates in a regexp group are not supported"), -2;
        return v;
    }
    default:
        break;
    }
    if (strchr("^$\\.*+?()[]{}|/", c)) return (unsigned char)c;
    if (in_class) {
        if (c == 'b') return '\b';
        if (strchr("&-!#%,:;<=>@`~", c)) return (unsigned char)c;
        if (c == 'q') return jr_fail(j, "class string disjunctions are not supported"), -2;
    }
    return jr_fail(j, "invalid escape in a regexp group"), -2;
}

static bool jr_class(struct jsre *j)
{
    j->i++; /* '[' */
    bool negated = false;
    if (jr_peek(j, 0) == '^') {
        negated = true;
        j->i++;
    }
    struct ustr body = {0};
    struct ustr *saved = j->out;
    j->out = &body;
    bool ok = true;
    bool empty = true;
    while (ok) {
        if (jr_eof(j)) {
            ok = jr_fail(j, "unterminated character class in a regexp group");
            break;
        }
        char c = jr_peek(j, 0);
        if (c == ']') {
            j->i++;
            break;
        }
        if (c == '[') {
            ok = jr_fail(j, "nested character classes are not supported");
            break;
        }
        char d = jr_peek(j, 1);
        if (c == d && strchr("&!#$%*+,.:;<=>?@^`~", c)) {
            ok = jr_fail(j, "set operations and reserved double punctuators are not supported");
            break;
        }
        if (c == '-' && d == '-') {
            ok = jr_fail(j, "class subtraction is not supported");
            break;
        }
        if (strchr("(){}/-|", c)) {
            ok = jr_fail(j, "a class syntax character must be escaped in a regexp group");
            break;
        }
        int64_t lo;
        if (c == '\\') {
            j->i++;
            lo = jr_char_escape(j, true);
            if (lo == -2) {
                ok = false;
                break;
            }
            empty = false;
            if (lo == -1) {
                if (jr_peek(j, 0) == '-' && jr_peek(j, 1) != '-') {
                    ok = jr_fail(j, "a class escape cannot bound a range");
                    break;
                }
                continue;
            }
        } else {
            size_t next = j->i;
            /* one UTF-8 code point (regexp tokens are ASCII, so one byte) */
            lo = (unsigned char)c;
            j->i = next + 1;
            empty = false;
        }
        if (jr_peek(j, 0) == '-' && jr_peek(j, 1) != '-' && jr_peek(j, 1) != ']') {
            j->i++;
            char e = jr_peek(j, 0);
            int64_t hi;
            if (e == '\\') {
                j->i++;
                hi = jr_char_escape(j, true);
                if (hi == -2) {
                    ok = false;
                    break;
                }
                if (hi == -1) {
                    ok = jr_fail(j, "a class escape cannot bound a range");
                    break;
                }
            } else if (!e || strchr("()[]{}/-|", e)) {
                ok = jr_fail(j, "invalid range in a character class");
                break;
            } else {
                hi = (unsigned char)e;
                j->i++;
            }
            if (hi < lo) {
                ok = jr_fail(j, "range out of order in a character class");
                break;
            }
            emit_cp(&body, (uint32_t)lo);
            ustr_putc(&body, '-');
            emit_cp(&body, (uint32_t)hi);
        } else {
            emit_cp(&body, (uint32_t)lo);
        }
    }
    j->out = saved;
    if (ok) {
        if (empty)
            ustr_puts(j->out, negated ? "[\\s\\S]" : "(?!)");
        else {
            ustr_putc(j->out, '[');
            if (negated) ustr_putc(j->out, '^');
            ustr_putn(j->out, ustr_z(&body), body.len);
            ustr_putc(j->out, ']');
        }
    }
    ustr_free(&body);
    return ok;
}

static bool jr_disjunction(struct jsre *j);

/* {n}, {n,}, {n,m}: true and emitted when the text at j is a quantifier. */
static bool jr_brace_quantifier(struct jsre *j, bool *is)
{
    size_t k = j->i + 1;
    *is = false;
    size_t a = k;
    while (k < j->n && j->s[k] >= '0' && j->s[k] <= '9')
        k++;
    if (k == a) return true;
    size_t a_end = k, b = 0, b_end = 0;
    bool comma = false;
    if (k < j->n && j->s[k] == ',') {
        comma = true;
        k++;
        b = k;
        while (k < j->n && j->s[k] >= '0' && j->s[k] <= '9')
            k++;
        b_end = k;
    }
    if (k >= j->n || j->s[k] != '}') return true;
    *is = true;
    if (a_end - a > 9 || (b_end - b) > 9) return jr_fail(j, "a regexp quantifier is too large");
    long lo = strtol(j->s + a, NULL, 10);
    if (comma && b_end > b && strtol(j->s + b, NULL, 10) < lo)
        return jr_fail(j, "numbers out of order in a regexp quantifier");
    ustr_putn(j->out, j->s + j->i, k + 1 - j->i);
    j->i = k + 1;
    (void)lo;
    return true;
}

static bool jr_term(struct jsre *j)
{
    char c = jr_peek(j, 0);
    bool quantifiable = true;
    if (c == '^') {
        ustr_putc(j->out, '^');
        j->i++;
        quantifiable = false;
    } else if (c == '$') {
        ustr_puts(j->out, "\\z");
        j->i++;
        quantifiable = false;
    } else if (c == '\\' && (jr_peek(j, 1) == 'b' || jr_peek(j, 1) == 'B')) {
        ustr_putc(j->out, '\\');
        ustr_putc(j->out, jr_peek(j, 1));
        j->i += 2;
        quantifiable = false;
    } else if (c == '(') {
        /* the tokenizer guarantees "(?" */
        if (++j->depth > 64) return jr_fail(j, "regexp groups nested too deeply");
        char k = jr_peek(j, 2);
        if (k == '=' || k == '!') {
            ustr_putn(j->out, j->s + j->i, 3);
            j->i += 3;
            quantifiable = false;
        } else if (k == '<' && (jr_peek(j, 3) == '=' || jr_peek(j, 3) == '!')) {
            ustr_putn(j->out, j->s + j->i, 4);
            j->i += 4;
            quantifiable = false;
        } else if (k == ':') {
            ustr_puts(j->out, "(?:");
            j->i += 3;
        } else if (k == '<') {
            size_t s = j->i + 3, e = s;
            while (e < j->n && ((j->s[e] >= 'a' && j->s[e] <= 'z') ||
                                (j->s[e] >= 'A' && j->s[e] <= 'Z') || j->s[e] == '_' ||
                                j->s[e] == '$' || (e > s && j->s[e] >= '0' && j->s[e] <= '9')))
                e++;
            if (e == s || e >= j->n || j->s[e] != '>' || memchr(j->s + s, '$', e - s))
                return jr_fail(j, "unsupported group name in a regexp group");
            ustr_puts(j->out, "(?<");
            ustr_putn(j->out, j->s + s, e - s);
            ustr_putc(j->out, '>');
            j->i = e + 1;
        } else {
            /* modifiers: (?ims-ims:...) */
            size_t e = j->i + 2;
            int seen = 0;
            bool dash = false;
            while (e < j->n && (strchr("ims", j->s[e]) || (j->s[e] == '-' && !dash))) {
                if (j->s[e] == '-')
                    dash = true;
                else {
                    int bit = j->s[e] == 'i' ? 1 : j->s[e] == 'm' ? 2 : 4;
                    if (seen & bit) return jr_fail(j, "repeated regexp modifier");
                    seen |= bit;
                }
                e++;
            }
            if (e >= j->n || j->s[e] != ':' || e == j->i + 2 || (dash && e == j->i + 3 && !seen))
                return jr_fail(j, "invalid group in a regexp group");
            ustr_putn(j->out, j->s + j->i, e + 1 - j->i);
            j->i = e + 1;
        }
        if (!jr_disjunction(j)) return false;
        if (jr_peek(j, 0) != ')') return jr_fail(j, "unbalanced parenthesis in a regexp group");
        ustr_putc(j->out, ')');
        j->i++;
        j->depth--;
    } else if (c == '.') {
        ustr_puts(j->out, "[^\\n\\r\\x{2028}\\x{2029}]");
        j->i++;
    } else if (c == '[') {
        if (!jr_class(j)) return false;
    } else if (c == '\\') {
        j->i++;
        char d = jr_peek(j, 0);
        if ((d >= '1' && d <= '9') || d == 'k') {
            /* JavaScript and PCRE2 disagree on references to groups not yet closed, and
             * backreferences make matching non-regular: refused */
            return jr_fail(j, "backreferences in a regexp group are not supported");
        } else {
            int64_t v = jr_char_escape(j, false);
            if (v == -2) return false;
            if (v >= 0) emit_cp(j->out, (uint32_t)v);
        }
    } else if (c == '*' || c == '+' || c == '?') {
        return jr_fail(j, "nothing to repeat in a regexp group");
    } else if (c == '{') {
        bool is;
        if (!jr_brace_quantifier(j, &is)) return false;
        return jr_fail(j,
                       is ? "nothing to repeat in a regexp group" : "a lone '{' in a regexp group");
    } else if (c == '}' || c == ']') {
        return jr_fail(j, "a lone bracket in a regexp group");
    } else {
        emit_cp(j->out, (unsigned char)c);
        j->i++;
    }
    /* quantifier */
    c = jr_peek(j, 0);
    bool quantified = false;
    if (c == '*' || c == '+' || c == '?') {
        ustr_putc(j->out, c);
        j->i++;
        quantified = true;
    } else if (c == '{') {
        bool is;
        size_t before = j->i;
        if (!jr_brace_quantifier(j, &is)) return false;
        if (!is) return jr_fail(j, "a lone '{' in a regexp group");
        quantified = j->i != before;
    }
    if (quantified) {
        if (!quantifiable) return jr_fail(j, "an assertion cannot be quantified");
        if (jr_peek(j, 0) == '?') {
            ustr_putc(j->out, '?');
            j->i++;
        }
    }
    return true;
}

static bool jr_disjunction(struct jsre *j)
{
    for (;;) {
        while (!jr_eof(j) && jr_peek(j, 0) != '|' && jr_peek(j, 0) != ')')
            if (!jr_term(j)) return false;
        if (jr_peek(j, 0) == '|') {
            ustr_putc(j->out, '|');
            j->i++;
            continue;
        }
        return true;
    }
}

static bool js_regexp_to_pcre2(const char *s, size_t n, struct ustr *out, const char **reason)
{
    struct jsre j = {.s = s, .n = n, .out = out};
    if (!jr_disjunction(&j)) {
        *reason = j.reason;
        return false;
    }
    if (!jr_eof(&j)) {
        *reason = "unbalanced parenthesis in a regexp group";
        return false;
    }
    return true;
}

/* --- the component regular expression (PCRE2) --------------------------------------------- */

static void escape_regexp(struct ustr *o, const struct ustr *s)
{
    for (size_t i = 0; i < s->len; i++) {
        char c = s->p[i];
        if (strchr(".+*?^${}()[]|/\\", c)) ustr_putc(o, '\\');
        ustr_putc(o, c);
    }
}

static bool component_regexp(const struct up_parts *parts, const struct up_options *opt,
                             struct ustr *o, const char **reason)
{
    ustr_putc(o, '^');
    for (size_t i = 0; i < parts->n; i++) {
        const struct up_part *p = &parts->v[i];
        const char *mod = p->modifier == UP_OPTIONAL       ? "?"
                          : p->modifier == UP_ZERO_OR_MORE ? "*"
                          : p->modifier == UP_ONE_OR_MORE  ? "+"
                                                           : "";
        if (p->type == UP_FIXED) {
            if (p->modifier == UP_NONE) {
                escape_regexp(o, &p->value);
            } else {
                ustr_puts(o, "(?:");
                escape_regexp(o, &p->value);
                ustr_putc(o, ')');
                ustr_puts(o, mod);
            }
            continue;
        }
        struct ustr r = {0};
        if (p->type == UP_SEGMENT_WILDCARD && opt->delimiter) {
            ustr_puts(&r, "[^\\");
            ustr_putc(&r, opt->delimiter);
            ustr_puts(&r, "]+?");
        } else if (p->type == UP_SEGMENT_WILDCARD) {
            ustr_puts(&r, "(?s:.)+?");
        } else if (p->type == UP_FULL_WILDCARD) {
            ustr_puts(&r, "(?s:.)*");
        } else if (!js_regexp_to_pcre2(ustr_z(&p->value), p->value.len, &r, reason)) {
            ustr_free(&r);
            return false;
        }
        const char *R = ustr_z(&r);
        if (p->prefix.len == 0 && p->suffix.len == 0) {
            if (p->modifier == UP_NONE || p->modifier == UP_OPTIONAL) {
                ustr_putc(o, '(');
                ustr_puts(o, R);
                ustr_putc(o, ')');
                ustr_puts(o, mod);
            } else {
                ustr_puts(o, "((?:");
                ustr_puts(o, R);
                ustr_putc(o, ')');
                ustr_puts(o, mod);
                ustr_putc(o, ')');
            }
        } else if (p->modifier == UP_NONE || p->modifier == UP_OPTIONAL) {
            ustr_puts(o, "(?:");
            escape_regexp(o, &p->prefix);
            ustr_putc(o, '(');
            ustr_puts(o, R);
            ustr_putc(o, ')');
            escape_regexp(o, &p->suffix);
            ustr_putc(o, ')');
            ustr_puts(o, mod);
        } else {
            ustr_puts(o, "(?:");
            escape_regexp(o, &p->prefix);
            ustr_puts(o, "((?:");
            ustr_puts(o, R);
            ustr_puts(o, ")(?:");
            escape_regexp(o, &p->suffix);
            escape_regexp(o, &p->prefix);
            ustr_puts(o, "(?:");
            ustr_puts(o, R);
            ustr_puts(o, "))*)");
            escape_regexp(o, &p->suffix);
            ustr_putc(o, ')');
            if (p->modifier == UP_ZERO_OR_MORE) ustr_putc(o, '?');
        }
        bool oom = r.oom;
        ustr_free(&r);
        if (oom) o->oom = true;
    }
    ustr_putc(o, '$');
    return true;
}

static pcre2_match_context *match_ctx;
static atomic_ullong limit_hits;
static pthread_once_t match_ctx_once = PTHREAD_ONCE_INIT;
static pthread_key_t match_data_key;

static void match_data_free(void *md)
{
    pcre2_match_data_free(md);
}

static void match_ctx_init(void)
{
    match_ctx = pcre2_match_context_create(NULL);
    if (match_ctx) {
        pcre2_set_match_limit(match_ctx, PCRE2_MATCH_LIMIT);
        pcre2_set_depth_limit(match_ctx, PCRE2_DEPTH_LIMIT);
        pcre2_set_heap_limit(match_ctx, PCRE2_HEAP_KIB);
    }
    pthread_key_create(&match_data_key, match_data_free);
}

/* --- components --------------------------------------------------------------------------- */

enum kind { K_ANY, K_EXACT, K_NFA, K_PCRE };

struct component {
    enum kind kind;
    struct ustr pattern; /* the canonical pattern string */
    struct ustr exact;
    struct nfa nfa;
    pcre2_code *re;
    size_t cost;
};

_Static_assert((int)URLPATTERN_HASH == (int)UP_HASH && (int)URLPATTERN_COMPONENTS == UP_COMPONENTS,
               "the public and the parser's component orders agree");

struct urlpattern {
    struct component c[URLPATTERN_COMPONENTS];
    size_t cost;
    bool has_regexp;
};

static void component_free(struct component *c)
{
    ustr_free(&c->pattern);
    ustr_free(&c->exact);
    free(c->nfa.v);
    pcre2_code_free(c->re);
    memset(c, 0, sizeof(*c));
}

static int component_compile(struct component *c, const char *in, size_t n, up_encode_fn enc,
                             const struct up_options *opt, const char **reason)
{
    memset(c, 0, sizeof(*c));
    struct up_parts parts;
    if (up_parse_pattern(in, n, opt, enc, &parts, reason) < 0) return -1;
    int rc = -1;
    up_pattern_string(&parts, opt, &c->pattern);
    bool regexp = false;
    for (size_t i = 0; i < parts.n; i++)
        if (parts.v[i].type == UP_REGEXP) regexp = true;
    if (parts.n == 1 && parts.v[0].type == UP_FULL_WILDCARD && parts.v[0].modifier == UP_NONE &&
        parts.v[0].prefix.len == 0 && parts.v[0].suffix.len == 0) {
        c->kind = K_ANY;
        c->cost = 0;
    } else if (parts.n == 0 ||
               (parts.n == 1 && parts.v[0].type == UP_FIXED && parts.v[0].modifier == UP_NONE)) {
        c->kind = K_EXACT;
        ustr_putn(&c->exact, "", 0);
        if (parts.n) ustr_putn(&c->exact, ustr_z(&parts.v[0].value), parts.v[0].value.len);
        c->cost = 1;
    } else if (!regexp) {
        c->kind = K_NFA;
        if (nfa_compile(&c->nfa, &parts, opt) < 0) {
            *reason = c->nfa.n >= MAX_STATES ? "pattern too large" : "out of memory";
            goto done;
        }
        c->cost = c->nfa.n;
    } else {
        c->kind = K_PCRE;
        struct ustr re = {0};
        if (!component_regexp(&parts, opt, &re, reason)) {
            ustr_free(&re);
            goto done;
        }
        if (re.oom) {
            ustr_free(&re);
            *reason = "out of memory";
            goto done;
        }
        int err;
        PCRE2_SIZE off;
        c->re = pcre2_compile((PCRE2_SPTR)re.p, re.len,
                              PCRE2_UTF | PCRE2_DOLLAR_ENDONLY | PCRE2_NEVER_BACKSLASH_C |
                                  PCRE2_NO_UTF_CHECK,
                              &err, &off, NULL);
        ustr_free(&re);
        if (!c->re) {
            *reason = "a regexp group cannot be compiled (unsupported or invalid)";
            goto done;
        }
        c->cost = PCRE2_COST;
    }
    rc = 0;
    if (c->pattern.oom || c->exact.oom) {
        *reason = "out of memory";
        rc = -1;
    }
done:
    up_parts_free(&parts);
    if (rc < 0) component_free(c);
    return rc;
}

static bool component_test(const struct component *c, const char *s, size_t n)
{
    switch (c->kind) {
    case K_ANY:
        return true;
    case K_EXACT:
        return c->exact.len == n && (n == 0 || memcmp(c->exact.p, s, n) == 0);
    case K_NFA:
        return nfa_match(&c->nfa, s, n);
    case K_PCRE: {
        pthread_once(&match_ctx_once, match_ctx_init);
        if (!match_ctx) return false;
        pcre2_match_data *md = pthread_getspecific(match_data_key);
        if (!md) {
            md = pcre2_match_data_create(1, NULL);
            if (!md) return false;
            pthread_setspecific(match_data_key, md);
        }
        int rc = pcre2_match(c->re, (PCRE2_SPTR)s, n, 0, 0, md, match_ctx);
        if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
            rc == PCRE2_ERROR_HEAPLIMIT || rc == PCRE2_ERROR_NOMEMORY)
            atomic_fetch_add_explicit(&limit_hits, 1, memory_order_relaxed);
        return rc >= 0; /* a limit hit is no match */
    }
    }
    return false;
}

static const struct up_options default_options = {0, 0};
static const struct up_options hostname_options = {'.', 0};
static const struct up_options pathname_options = {'/', '/'};

static bool matches_special(const struct component *proto)
{
    static const char *const schemes[] = {"ftp", "file", "http", "https", "ws", "wss"};
    for (size_t i = 0; i < 6; i++)
        if (component_test(proto, schemes[i], strlen(schemes[i]))) return true;
    return false;
}

static int protocol_is_special(const char *pattern, size_t n, bool *special, const char **reason)
{
    struct component c;
    if (component_compile(&c, pattern, n, up_canon_protocol, &default_options, reason) < 0)
        return -1;
    *special = matches_special(&c);
    component_free(&c);
    return 0;
}

/* --- the API ------------------------------------------------------------------------------ */

void urlpattern_free(struct urlpattern *p)
{
    if (!p) return;
    for (int i = 0; i < URLPATTERN_COMPONENTS; i++)
        component_free(&p->c[i]);
    free(p);
}

static bool hostname_is_ipv6(const struct ustr *s)
{
    if (s->len < 2) return false;
    return s->p[0] == '[' || ((s->p[0] == '{' || s->p[0] == '\\') && s->p[1] == '[');
}

struct urlpattern *urlpattern_compile(const char *pattern, size_t len, const char *base,
                                      size_t base_len, const char **reason)
{
    const char *dummy;
    if (!reason) reason = &dummy;
    *reason = NULL;
    struct url base_url;
    url_init(&base_url);
    bool have_base = base && base_len;
    if (have_base) {
        enum url_result r = url_parse(&base_url, base, base_len, NULL, URL_STATE_NONE);
        if (r != URL_OK) {
            url_release(&base_url);
            *reason = r == URL_OOM ? "out of memory" : "the base URL is not a valid URL";
            return NULL;
        }
    }
    struct urlpattern *p = calloc(1, sizeof(*p));
    struct up_init init = {0};
    if (!p) {
        *reason = "out of memory";
        goto fail;
    }
    if (!utf8_valid(pattern, len)) {
        *reason = "a pattern must be UTF-8";
        goto fail;
    }
    if (up_process_constructor(pattern, len, have_base ? &base_url : NULL, protocol_is_special,
                               &init, reason) < 0)
        goto fail;
    static const up_encode_fn simple[] = {
        [URLPATTERN_PROTOCOL] = up_canon_protocol,
        [URLPATTERN_USERNAME] = up_canon_username,
        [URLPATTERN_PASSWORD] = up_canon_password,
        [URLPATTERN_PORT] = up_canon_port,
    };
    for (int c = URLPATTERN_PROTOCOL; c <= URLPATTERN_PORT; c++) {
        const struct ustr *v = &init.v[c];
        up_encode_fn enc = simple[c];
        const struct up_options *opt = &default_options;
        if (c == URLPATTERN_HOSTNAME) {
            enc = hostname_is_ipv6(v) ? up_canon_ipv6_hostname : up_canon_hostname;
            opt = &hostname_options;
        }
        if (component_compile(&p->c[c], ustr_z(v), v->len, enc, opt, reason) < 0) goto fail;
    }
    /* Chromium canonicalizes the port with the pattern's protocol string: "http://h:0080" gets
     * port "", like "http://h:80" (the standard only drops the literal default port string) */
    const struct ustr *proto = &init.v[URLPATTERN_PROTOCOL];
    struct component *port = &p->c[URLPATTERN_PORT];
    if (port->kind == K_EXACT && port->exact.len &&
        url_default_port(ustr_z(proto), proto->len) == atoi(port->exact.p)) {
        ustr_clear(&port->exact);
        ustr_clear(&port->pattern);
    }
    bool special = matches_special(&p->c[URLPATTERN_PROTOCOL]);
    const struct ustr *path = &init.v[URLPATTERN_PATHNAME];
    if (component_compile(&p->c[URLPATTERN_PATHNAME], ustr_z(path), path->len,
                          special ? up_canon_pathname : up_canon_opaque_pathname,
                          special ? &pathname_options : &default_options, reason) < 0)
        goto fail;
    const struct ustr *search = &init.v[URLPATTERN_SEARCH], *hash = &init.v[URLPATTERN_HASH];
    if (component_compile(&p->c[URLPATTERN_SEARCH], ustr_z(search), search->len, up_canon_search,
                          &default_options, reason) < 0 ||
        component_compile(&p->c[URLPATTERN_HASH], ustr_z(hash), hash->len, up_canon_hash,
                          &default_options, reason) < 0)
        goto fail;
    for (int c = 0; c < URLPATTERN_COMPONENTS; c++) {
        p->cost += p->c[c].cost;
        if (p->c[c].kind == K_PCRE) p->has_regexp = true;
    }
    up_init_free(&init);
    url_release(&base_url);
    return p;
fail:
    if (!*reason) *reason = "invalid pattern";
    up_init_free(&init);
    url_release(&base_url);
    urlpattern_free(p);
    return NULL;
}

unsigned long long urlpattern_limit_hits(void)
{
    return atomic_load_explicit(&limit_hits, memory_order_relaxed);
}

size_t urlpattern_cost(const struct urlpattern *p)
{
    return p->cost;
}

bool urlpattern_has_regexp_groups(const struct urlpattern *p)
{
    return p->has_regexp;
}

const char *urlpattern_component_pattern(const struct urlpattern *p, enum urlpattern_component c)
{
    return ustr_z(&p->c[c].pattern);
}

void urlpattern_url_release(struct urlpattern_url *u)
{
    free(u->mem);
    memset(u, 0, sizeof(*u));
}

bool urlpattern_url_parse(struct urlpattern_url *u, const char *topic, size_t len, const char *base,
                          size_t base_len)
{
    memset(u, 0, sizeof(*u));
    struct url b, t;
    url_init(&b);
    url_init(&t);
    bool ok = false;
    if (base && base_len && url_parse(&b, base, base_len, NULL, URL_STATE_NONE) != URL_OK)
        goto done;
    if (url_parse(&t, topic, len, base && base_len ? &b : NULL, URL_STATE_NONE) != URL_OK)
        goto done;
    char port[16] = "";
    if (t.port >= 0) snprintf(port, sizeof(port), "%d", t.port);
    const char *parts[URLPATTERN_COMPONENTS] = {
        ustr_z(&t.scheme), ustr_z(&t.username), ustr_z(&t.password), ustr_z(&t.host), port,
        ustr_z(&t.path),   ustr_z(&t.query),    ustr_z(&t.fragment),
    };
    size_t lens[URLPATTERN_COMPONENTS] = {
        t.scheme.len, t.username.len, t.password.len, t.has_host ? t.host.len : 0,
        strlen(port), t.path.len,     t.query.len,    t.fragment.len,
    };
    size_t total = 0;
    for (int i = 0; i < URLPATTERN_COMPONENTS; i++)
        total += lens[i] + 1;
    u->mem = malloc(total);
    if (!u->mem) goto done;
    size_t off = 0;
    for (int i = 0; i < URLPATTERN_COMPONENTS; i++) {
        u->off[i] = off;
        u->len[i] = lens[i];
        memcpy(u->mem + off, parts[i], lens[i]);
        u->mem[off + lens[i]] = '\0';
        off += lens[i] + 1;
    }
    ok = true;
done:
    url_release(&b);
    url_release(&t);
    return ok;
}

bool urlpattern_test(const struct urlpattern *p, const struct urlpattern_url *u)
{
    if (!u->mem) return false;
    for (int i = 0; i < URLPATTERN_COMPONENTS; i++)
        if (!component_test(&p->c[i], u->mem + u->off[i], u->len[i])) return false;
    return true;
}

bool urlpattern_match_topic(const struct urlpattern *p, const char *topic, size_t len,
                            const char *base, size_t base_len)
{
    struct urlpattern_url u;
    if (!urlpattern_url_parse(&u, topic, len, base, base_len)) return false;
    bool m = urlpattern_test(p, &u);
    urlpattern_url_release(&u);
    return m;
}
