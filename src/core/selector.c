/* Selectors and RFC 6570 URI template matching.
 *
 * A template compiles into literal parts and expression parts. Matching walks the parts keeping
 * the set of topic positions reachable so far; an expression part is a small automaton run from
 * every reachable position at once, so matching costs O(parts x topic length x states) whatever
 * the input: no backtracking to exploit. */
#include "core/selector.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/urlpattern.h"

#define MAX_ITEMS 16 /* more variables than this in one expression: items may repeat freely */

enum part_type { PART_LITERAL, PART_EXPRESSION };

struct part {
    uint8_t type;
    char op;         /* 0 for simple string expansion, else one of + # . / ; ? & */
    uint8_t items;   /* how many name/value items the expansion may produce */
    uint8_t explode; /* any '*' modifier: items may repeat without bound */
    uint32_t len;    /* literal length */
    const char *lit; /* literal bytes, inside the selector's text */
};

struct selector {
    enum selector_kind kind;
    size_t len;
    char *text;
    struct urlpattern *pattern; /* SELECTOR_URLPATTERN */
    const char *base;           /* ... and what relative topics are resolved against */
    size_t base_len;
    size_t nparts;
    struct part parts[];
};

static bool is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}
static bool is_hex(unsigned char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
static bool is_unreserved(unsigned char c)
{
    return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}
static bool is_reserved(unsigned char c)
{
    return c && strchr(":/?#[]@!$&'()*+,;=", c) != NULL;
}

/* Parses the inside of one {expression}; returns false when malformed. */
static bool parse_expression(const char *s, size_t n, struct part *p)
{
    size_t i = 0;
    p->type = PART_EXPRESSION;
    p->op = 0;
    p->explode = 0;
    if (n && strchr("+#./;?&", s[0])) {
        p->op = s[0];
        i = 1;
    } else if (n && strchr("=,!@|", s[0])) {
        return false; /* reserved for future operators */
    }
    unsigned vars = 0;
    for (;;) {
        size_t start = i;
        /* varname = varchar *( ["."] varchar ), varchar = ALPHA / DIGIT / "_" / pct-encoded */
        while (i < n) {
            unsigned char c = (unsigned char)s[i];
            if (is_alpha(c) || is_digit(c) || c == '_') {
                i++;
            } else if (c == '%' && i + 2 < n && is_hex((unsigned char)s[i + 1]) &&
                       is_hex((unsigned char)s[i + 2])) {
                i += 3;
            } else if (c == '.' && i > start && i + 1 < n && s[i + 1] != '.' && s[i + 1] != ',' &&
                       s[i + 1] != ':' && s[i + 1] != '*') {
                i++;
            } else {
                break;
            }
        }
        if (i == start) return false;
        if (i < n && s[i] == ':') {
            size_t d = ++i;
            while (i < n && is_digit((unsigned char)s[i]))
                i++;
            if (i == d || i - d > 4 || s[d] == '0') return false;
        } else if (i < n && s[i] == '*') {
            p->explode = 1;
            i++;
        }
        vars++;
        if (i == n) break;
        if (s[i] != ',') return false;
        i++;
    }
    p->items = (uint8_t)(vars > MAX_ITEMS ? MAX_ITEMS : vars);
    if (vars > MAX_ITEMS) p->explode = 1;
    return true;
}

struct selector *selector_compile(const char *text, size_t len)
{
    return selector_compile_as(text, len, SELECTOR_SYNTAX_TOPIC);
}

struct selector *selector_compile_as(const char *text, size_t len, enum selector_syntax syntax)
{
    /* Count the parts to size one allocation; a malformed template is an exact selector. */
    size_t nparts = 0;
    bool tmpl = syntax == SELECTOR_SYNTAX_TOPIC, any_expr = false;
    for (size_t i = 0; tmpl && i < len;) {
        if (text[i] == '{') {
            const char *close = memchr(text + i, '}', len - i);
            const char *reopen =
                memchr(text + i + 1, '{', close ? (size_t)(close - text - i - 1) : 0);
            if (!close || reopen) {
                tmpl = false;
                break;
            }
            any_expr = true;
            nparts++;
            i = (size_t)(close - text) + 1;
        } else if (text[i] == '}') {
            tmpl = false;
            break;
        } else {
            nparts++;
            while (i < len && text[i] != '{' && text[i] != '}')
                i++;
        }
    }
    bool any = len == 1 && text[0] == '*';
    if (!any_expr || any) tmpl = false;

    struct selector *sel = calloc(1, sizeof(*sel) + (tmpl ? nparts : 0) * sizeof(struct part));
    if (!sel) return NULL;
    sel->text = malloc(len + 1);
    if (!sel->text) {
        free(sel);
        return NULL;
    }
    memcpy(sel->text, text, len);
    sel->text[len] = 0;
    sel->len = len;
    sel->kind = any ? SELECTOR_ANY : SELECTOR_EXACT;
    if (!tmpl) return sel;

    size_t k = 0;
    for (size_t i = 0; i < len;) {
        struct part *p = &sel->parts[k];
        if (text[i] == '{') {
            const char *close = memchr(text + i, '}', len - i);
            size_t inner = (size_t)(close - text) - i - 1;
            if (!parse_expression(sel->text + i + 1, inner, p)) {
                sel->kind = SELECTOR_EXACT; /* parts are ignored for exact selectors */
                return sel;
            }
            i += inner + 2;
        } else {
            size_t start = i;
            while (i < len && text[i] != '{')
                i++;
            p->type = PART_LITERAL;
            p->lit = sel->text + start;
            p->len = (uint32_t)(i - start);
        }
        k++;
    }
    sel->nparts = k;
    sel->kind = SELECTOR_TEMPLATE;
    return sel;
}

struct selector *selector_compile_urlpattern(const char *text, size_t len, const char *base,
                                             size_t base_len, const char **reason)
{
    /* "*" is reserved whatever the matcher type: it matches every topic. */
    struct selector *sel = selector_compile_as(text, len, SELECTOR_SYNTAX_EXACT);
    if (!sel) {
        *reason = "out of memory";
        return NULL;
    }
    if (sel->kind == SELECTOR_ANY) return sel;
    sel->pattern = urlpattern_compile(text, len, base, base_len, reason);
    if (!sel->pattern) {
        selector_free(sel);
        return NULL;
    }
    sel->kind = SELECTOR_URLPATTERN;
    sel->base = base;
    sel->base_len = base_len;
    return sel;
}

const struct urlpattern *selector_urlpattern(const struct selector *sel, const char **base,
                                             size_t *base_len)
{
    *base = sel->base;
    *base_len = sel->base_len;
    return sel->pattern;
}

void selector_free(struct selector *sel)
{
    if (!sel) return;
    urlpattern_free(sel->pattern);
    free(sel->text);
    free(sel);
}

enum selector_kind selector_kind(const struct selector *sel)
{
    return sel->kind;
}

const char *selector_text(const struct selector *sel)
{
    return sel->text;
}

size_t selector_len(const struct selector *sel)
{
    return sel->len;
}

/* The expansion automaton of one expression. States: bit 0 is the start (the expansion may be
 * empty); then per item i a "name" state (named operators ; ? &, after at least one name
 * character) and a "value" state. */
struct automaton {
    char prefix, sep;
    bool named, reserved;
    unsigned items;
    bool loop;
};

static void automaton_for(const struct part *p, struct automaton *a)
{
    a->prefix = 0;
    a->sep = ',';
    a->named = false;
    a->reserved = false;
    switch (p->op) {
    case '+':
        a->reserved = true;
        break;
    case '#':
        a->reserved = true, a->prefix = '#';
        break;
    case '.':
        a->prefix = '.', a->sep = '.';
        break;
    case '/':
        a->prefix = '/', a->sep = '/';
        break;
    case ';':
        a->prefix = ';', a->sep = ';', a->named = true;
        break;
    case '?':
        a->prefix = '?', a->sep = '&', a->named = true;
        break;
    case '&':
        a->prefix = '&', a->sep = '&', a->named = true;
        break;
    default:
        break;
    }
    a->items = p->items;
    a->loop = p->explode;
}

/* State bits: 0 = start; 1 + 3*i = item i begins (named: expecting a name), 2 + 3*i = in name,
 * 3 + 3*i = in value. At most 1 + 3*MAX_ITEMS = 49 bits. */
#define ST_START    1ULL
#define ST_BEGIN(i) (1ULL << (1 + 3 * (i)))
#define ST_NAME(i)  (1ULL << (2 + 3 * (i)))
#define ST_VALUE(i) (1ULL << (3 + 3 * (i)))

static uint64_t accepting(const struct automaton *a)
{
    uint64_t acc = ST_START;
    for (unsigned i = 0; i < a->items; i++) {
        acc |= ST_VALUE(i);
        if (a->named)
            acc |= ST_NAME(i); /* ";name" and "?name" without "=value" */
        else
            acc |= ST_BEGIN(i); /* an empty value */
    }
    return acc;
}

static uint64_t step(const struct automaton *a, uint64_t cur, unsigned char c)
{
    uint64_t next = 0;
    bool value_char = is_unreserved(c) || c == '%' || (a->reserved && is_reserved(c));
    bool name_char = is_alpha(c) || is_digit(c) || c == '_' || c == '.' || c == '%';
    if (cur & ST_START) {
        if (a->prefix) {
            if (c == a->prefix) next |= ST_BEGIN(0);
        } else {
            /* No prefix: the start is item 0 beginning. */
            cur |= ST_BEGIN(0);
        }
    }
    for (unsigned i = 0; i < a->items; i++) {
        uint64_t in_item = cur & (ST_BEGIN(i) | ST_NAME(i) | ST_VALUE(i));
        if (!in_item) continue;
        unsigned nexti = i + 1 < a->items ? i + 1 : (a->loop ? i : a->items);
        if (a->named) {
            if ((cur & (ST_BEGIN(i) | ST_NAME(i))) && name_char) next |= ST_NAME(i);
            if ((cur & ST_NAME(i)) && c == '=') next |= ST_VALUE(i);
            if ((cur & ST_VALUE(i)) && value_char && c != a->sep) next |= ST_VALUE(i);
            if ((cur & (ST_NAME(i) | ST_VALUE(i))) && c == a->sep && nexti < a->items)
                next |= ST_BEGIN(nexti);
        } else {
            if ((cur & (ST_BEGIN(i) | ST_VALUE(i))) && value_char) next |= ST_VALUE(i);
            if ((cur & (ST_BEGIN(i) | ST_VALUE(i))) && c == a->sep && nexti < a->items)
                next |= ST_BEGIN(nexti);
        }
    }
    return next;
}

static bool template_match(const struct selector *sel, const char *topic, size_t len)
{
    uint8_t small[2][512];
    uint8_t *cur = small[0], *nxt = small[1];
    uint8_t *heap = NULL;
    if (len + 1 > sizeof(small[0])) {
        heap = malloc(2 * (len + 1));
        if (!heap) return false;
        cur = heap;
        nxt = heap + len + 1;
    }
    memset(cur, 0, len + 1);
    cur[0] = 1;
    bool alive = true;
    for (size_t k = 0; k < sel->nparts && alive; k++) {
        const struct part *p = &sel->parts[k];
        memset(nxt, 0, len + 1);
        alive = false;
        if (p->type == PART_LITERAL) {
            for (size_t pos = 0; pos + p->len <= len; pos++) {
                if (cur[pos] && memcmp(topic + pos, p->lit, p->len) == 0) {
                    nxt[pos + p->len] = 1;
                    alive = true;
                }
            }
        } else {
            struct automaton a;
            automaton_for(p, &a);
            uint64_t acc = accepting(&a), state = 0;
            for (size_t pos = 0; pos <= len; pos++) {
                if (cur[pos]) state |= ST_START;
                if (state & acc) {
                    nxt[pos] = 1;
                    alive = true;
                }
                if (pos == len || !state) continue;
                state = step(&a, state, (unsigned char)topic[pos]);
            }
        }
        uint8_t *t = cur;
        cur = nxt;
        nxt = t;
    }
    bool matched = alive && cur[len];
    free(heap);
    return matched;
}

size_t selector_cost(const struct selector *sel)
{
    if (sel->kind == SELECTOR_URLPATTERN) return urlpattern_cost(sel->pattern);
    if (sel->kind != SELECTOR_TEMPLATE) return 0;
    size_t cost = 0;
    for (size_t k = 0; k < sel->nparts; k++)
        cost += sel->parts[k].type == PART_LITERAL ? 1 : sel->parts[k].items;
    return cost;
}

bool selector_match(const struct selector *sel, const char *topic, size_t len)
{
    if (sel->kind == SELECTOR_ANY) return true;
    /* A URL Pattern matches by its components only: its own text is not special. */
    if (sel->kind == SELECTOR_URLPATTERN)
        return urlpattern_match_topic(sel->pattern, topic, len, sel->base, sel->base_len);
    if (sel->len == len && memcmp(sel->text, topic, len) == 0) return true;
    if (sel->kind != SELECTOR_TEMPLATE) return false;
    return template_match(sel, topic, len);
}
