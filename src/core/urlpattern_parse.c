/* URL Pattern syntax: the tokenizer, the part parser ("parse a pattern string"), the pattern
 * string generator, the constructor string parser, "process a URLPatternInit" for patterns, and
 * the canonicalization callbacks, in the order and with the names the standard uses.
 *
 * Offsets are bytes of the UTF-8 input; the standard counts code points, but every comparison it
 * makes is against a single ASCII code point, so the two agree. */
#include "core/urlpattern_parse.h"

#include <stdint.h>
#include <unicode/uchar.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- code points -------------------------------------------------------------------------- */

/* Decodes one UTF-8 code point at s[i] (the input was validated as UTF-8). */
static uint32_t cp_at(const char *s, size_t n, size_t i, size_t *next)
{
    const unsigned char *u = (const unsigned char *)s;
    uint32_t c = u[i];
    size_t extra = c < 0x80 ? 0 : c < 0xE0 ? 1 : c < 0xF0 ? 2 : 3;
    if (extra) c &= 0x3F >> extra;
    for (size_t j = 1; j <= extra && i + j < n; j++)
        c = (c << 6) | (u[i + j] & 0x3F);
    *next = i + extra + 1;
    return c;
}

/* "Is a valid name code point": ID_Start (first) or ID_Continue, plus '$', '_', ZWNJ, ZWJ. */
static bool valid_name_cp(uint32_t c, bool first)
{
    if (c < 0x80) {
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '$' || c == '_') return true;
        return !first && c >= '0' && c <= '9';
    }
    if (!first && (c == 0x200C || c == 0x200D)) return true;
    return u_hasBinaryProperty((UChar32)c, first ? UCHAR_ID_START : UCHAR_ID_CONTINUE);
}

/* --- tokenizer ---------------------------------------------------------------------------- */

enum tok_type {
    T_OPEN,
    T_CLOSE,
    T_REGEXP,
    T_NAME,
    T_CHAR,
    T_ESCAPED_CHAR,
    T_OTHER_MODIFIER,
    T_ASTERISK,
    T_END,
    T_INVALID_CHAR
};

struct token {
    enum tok_type type;
    size_t index;      /* where the token starts in the input */
    size_t voff, vlen; /* its value */
};

struct tokens {
    struct token *v;
    size_t n, cap;
    bool oom;
};

static void tok_add(struct tokens *t, enum tok_type type, size_t index, size_t voff, size_t vlen)
{
    if (t->oom) return;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        struct token *v = realloc(t->v, cap * sizeof(*v));
        if (!v) {
            t->oom = true;
            return;
        }
        t->v = v;
        t->cap = cap;
    }
    t->v[t->n++] = (struct token){type, index, voff, vlen};
}

/* "Tokenize" with the strict (lenient = false) or lenient policy. -1 on a strict error. */
static int tokenize(const char *in, size_t n, bool lenient, struct tokens *t, const char **reason)
{
    size_t i = 0;
    while (i < n) {
        size_t next;
        uint32_t c = cp_at(in, n, i, &next);
        size_t err_next = 0, err_value = 0;
        bool error = false;
        if (c == '*') {
            tok_add(t, T_ASTERISK, i, i, next - i);
            i = next;
            continue;
        }
        if (c == '+' || c == '?') {
            tok_add(t, T_OTHER_MODIFIER, i, i, next - i);
            i = next;
            continue;
        }
        if (c == '\\') {
            if (next >= n) {
                error = true;
                err_next = next;
                err_value = i;
                *reason = "a pattern cannot end with a backslash";
            } else {
                size_t after;
                cp_at(in, n, next, &after);
                tok_add(t, T_ESCAPED_CHAR, i, next, after - next);
                i = after;
                continue;
            }
        } else if (c == '{') {
            tok_add(t, T_OPEN, i, i, next - i);
            i = next;
            continue;
        } else if (c == '}') {
            tok_add(t, T_CLOSE, i, i, next - i);
            i = next;
            continue;
        } else if (c == ':') {
            size_t pos = next, start = next;
            while (pos < n) {
                size_t after;
                uint32_t nc = cp_at(in, n, pos, &after);
                if (!valid_name_cp(nc, pos == start)) break;
                pos = after;
            }
            if (pos <= start) {
                error = true;
                err_next = start;
                err_value = i;
                *reason = "a ':' must be followed by a group name";
            } else {
                tok_add(t, T_NAME, i, start, pos - start);
                i = pos;
                continue;
            }
        } else if (c == '(') {
            int depth = 1;
            size_t pos = next, start = next;
            while (pos < n) {
                size_t after;
                uint32_t rc = cp_at(in, n, pos, &after);
                if (rc >= 0x80) {
                    error = true;
                    *reason = "a regexp group must be ASCII";
                    break;
                }
                if (pos == start && rc == '?') {
                    error = true;
                    *reason = "a regexp group cannot start with '?'";
                    break;
                }
                if (rc == '\\') {
                    if (after >= n) {
                        error = true;
                        *reason = "a regexp group cannot end with a backslash";
                        break;
                    }
                    size_t after2;
                    uint32_t ec = cp_at(in, n, after, &after2);
                    if (ec >= 0x80) {
                        error = true;
                        *reason = "a regexp group must be ASCII";
                        break;
                    }
                    pos = after2;
                    continue;
                }
                if (rc == ')') {
                    depth--;
                    if (depth == 0) {
                        pos = after;
                        break;
                    }
                } else if (rc == '(') {
                    depth++;
                    if (after >= n) {
                        error = true;
                        *reason = "unbalanced regexp group";
                        break;
                    }
                    size_t after2;
                    uint32_t qc = cp_at(in, n, after, &after2);
                    if (qc != '?') {
                        error = true;
                        *reason = "a capturing group inside a regexp group is not allowed";
                        break;
                    }
                }
                pos = after;
            }
            if (!error && depth != 0) {
                error = true;
                *reason = "unbalanced regexp group";
            }
            if (!error && pos - start - 1 == 0) {
                error = true;
                *reason = "an empty regexp group";
            }
            if (error) {
                err_next = start;
                err_value = i;
            } else {
                tok_add(t, T_REGEXP, i, start, pos - start - 1);
                i = pos;
                continue;
            }
        } else {
            tok_add(t, T_CHAR, i, i, next - i);
            i = next;
            continue;
        }
        /* a tokenizing error */
        (void)error;
        if (!lenient) return -1;
        tok_add(t, T_INVALID_CHAR, i, err_value, err_next - err_value);
        i = err_next;
    }
    tok_add(t, T_END, i, i, 0);
    return 0;
}

/* --- part parser -------------------------------------------------------------------------- */

void up_parts_free(struct up_parts *parts)
{
    for (size_t i = 0; i < parts->n; i++) {
        ustr_free(&parts->v[i].value);
        ustr_free(&parts->v[i].name);
        ustr_free(&parts->v[i].prefix);
        ustr_free(&parts->v[i].suffix);
    }
    free(parts->v);
    memset(parts, 0, sizeof(*parts));
}

static struct up_part *part_new(struct up_parts *parts)
{
    if (parts->n == parts->cap) {
        size_t cap = parts->cap ? parts->cap * 2 : 8;
        struct up_part *v = realloc(parts->v, cap * sizeof(*v));
        if (!v) return NULL;
        parts->v = v;
        parts->cap = cap;
    }
    struct up_part *p = &parts->v[parts->n++];
    memset(p, 0, sizeof(*p));
    return p;
}

struct pparser {
    const char *in;
    struct tokens tokens;
    up_encode_fn enc;
    const struct up_options *opt;
    struct up_parts *parts;
    struct ustr pending;
    size_t index;
    unsigned next_numeric;
    const char **reason;
    bool oom;
};

static struct token *try_consume(struct pparser *pp, enum tok_type type)
{
    struct token *t = &pp->tokens.v[pp->index];
    if (t->type != type) return NULL;
    pp->index++;
    return t;
}

static struct token *try_consume_modifier(struct pparser *pp)
{
    struct token *t = try_consume(pp, T_OTHER_MODIFIER);
    return t ? t : try_consume(pp, T_ASTERISK);
}

static struct token *try_consume_regexp_or_wildcard(struct pparser *pp, struct token *name)
{
    struct token *t = try_consume(pp, T_REGEXP);
    if (!name && !t) t = try_consume(pp, T_ASTERISK);
    return t;
}

static void consume_text(struct pparser *pp, struct ustr *out)
{
    for (;;) {
        struct token *t = try_consume(pp, T_CHAR);
        if (!t) t = try_consume(pp, T_ESCAPED_CHAR);
        if (!t) break;
        ustr_putn(out, pp->in + t->voff, t->vlen);
    }
}

static int encode(struct pparser *pp, const char *s, size_t n, struct ustr *out)
{
    ustr_clear(out);
    if (n == 0) {
        ustr_putn(out, "", 0);
        return 0;
    }
    if (pp->enc(s, n, out, pp->reason) < 0) return -1;
    if (out->oom) {
        *pp->reason = "out of memory";
        return -1;
    }
    return 0;
}

static int maybe_add_pending(struct pparser *pp)
{
    if (pp->pending.len == 0) return 0;
    struct up_part *p = part_new(pp->parts);
    if (!p) {
        *pp->reason = "out of memory";
        return -1;
    }
    p->type = UP_FIXED;
    p->modifier = UP_NONE;
    int rc = encode(pp, pp->pending.p, pp->pending.len, &p->value);
    ustr_clear(&pp->pending);
    return rc;
}

static void segment_wildcard_regexp(const struct up_options *opt, struct ustr *out)
{
    ustr_puts(out, "[^");
    if (opt->delimiter) {
        if (strchr(".+*?^${}()[]|/\\", opt->delimiter)) ustr_putc(out, '\\');
        ustr_putc(out, opt->delimiter);
    }
    ustr_puts(out, "]+?");
}

static bool tok_is(const struct pparser *pp, const struct token *t, const char *z)
{
    return t->vlen == strlen(z) && memcmp(pp->in + t->voff, z, t->vlen) == 0;
}

static int add_part(struct pparser *pp, const char *prefix, size_t prefix_len, struct token *name,
                    struct token *rw, const char *suffix, size_t suffix_len, struct token *mod)
{
    enum up_modifier modifier = UP_NONE;
    if (mod) {
        if (tok_is(pp, mod, "?"))
            modifier = UP_OPTIONAL;
        else if (tok_is(pp, mod, "*"))
            modifier = UP_ZERO_OR_MORE;
        else if (tok_is(pp, mod, "+"))
            modifier = UP_ONE_OR_MORE;
    }
    if (!name && !rw && modifier == UP_NONE) {
        ustr_putn(&pp->pending, prefix, prefix_len);
        return 0;
    }
    if (maybe_add_pending(pp) < 0) return -1;
    if (!name && !rw) {
        if (prefix_len == 0) return 0;
        struct up_part *p = part_new(pp->parts);
        if (!p) goto oom;
        p->type = UP_FIXED;
        p->modifier = modifier;
        return encode(pp, prefix, prefix_len, &p->value);
    }
    struct ustr regexp = {0}, seg = {0};
    segment_wildcard_regexp(pp->opt, &seg);
    if (!rw)
        ustr_putn(&regexp, seg.p, seg.len);
    else if (rw->type == T_ASTERISK)
        ustr_puts(&regexp, ".*");
    else
        ustr_putn(&regexp, pp->in + rw->voff, rw->vlen);
    enum up_part_type type = UP_REGEXP;
    if (regexp.len == seg.len && memcmp(regexp.p, seg.p, seg.len) == 0) {
        type = UP_SEGMENT_WILDCARD;
        ustr_clear(&regexp);
    } else if (regexp.len == 2 && memcmp(regexp.p, ".*", 2) == 0) {
        type = UP_FULL_WILDCARD;
        ustr_clear(&regexp);
    }
    ustr_free(&seg);
    struct ustr pname = {0};
    if (name) {
        ustr_putn(&pname, pp->in + name->voff, name->vlen);
    } else {
        char num[16];
        int k = 0;
        unsigned v = pp->next_numeric++;
        char tmp[16];
        do {
            tmp[k++] = (char)('0' + v % 10);
            v /= 10;
        } while (v);
        for (int j = 0; j < k; j++)
            num[j] = tmp[k - 1 - j];
        ustr_putn(&pname, num, (size_t)k);
    }
    for (size_t i = 0; i < pp->parts->n; i++) {
        const struct ustr *o = &pp->parts->v[i].name;
        if (o->len == pname.len && pname.len && memcmp(o->p, pname.p, pname.len) == 0) {
            ustr_free(&regexp);
            ustr_free(&pname);
            *pp->reason = "a group name is used twice";
            return -1;
        }
    }
    struct up_part *p = part_new(pp->parts);
    if (!p) {
        ustr_free(&regexp);
        ustr_free(&pname);
        goto oom;
    }
    p->type = type;
    p->modifier = modifier;
    p->value = regexp;
    p->name = pname;
    if (regexp.oom || pname.oom) goto oom;
    if (encode(pp, prefix, prefix_len, &p->prefix) < 0) return -1;
    if (encode(pp, suffix, suffix_len, &p->suffix) < 0) return -1;
    return 0;
oom:
    *pp->reason = "out of memory";
    return -1;
}

int up_parse_pattern(const char *in, size_t n, const struct up_options *opt, up_encode_fn enc,
                     struct up_parts *out, const char **reason)
{
    struct pparser pp = {.in = in, .enc = enc, .opt = opt, .parts = out, .reason = reason};
    memset(out, 0, sizeof(*out));
    int rc = -1;
    if (tokenize(in, n, false, &pp.tokens, reason) < 0) goto done;
    if (pp.tokens.oom) {
        *reason = "out of memory";
        goto done;
    }
    while (pp.index < pp.tokens.n) {
        struct token *ch = try_consume(&pp, T_CHAR);
        struct token *name = try_consume(&pp, T_NAME);
        struct token *rw = try_consume_regexp_or_wildcard(&pp, name);
        if (name || rw) {
            const char *prefix = "";
            size_t plen = 0;
            if (ch) {
                prefix = in + ch->voff;
                plen = ch->vlen;
            }
            if (plen && !(plen == 1 && opt->prefix && prefix[0] == opt->prefix)) {
                ustr_putn(&pp.pending, prefix, plen);
                plen = 0;
            }
            if (maybe_add_pending(&pp) < 0) goto done;
            struct token *mod = try_consume_modifier(&pp);
            if (add_part(&pp, prefix, plen, name, rw, "", 0, mod) < 0) goto done;
            continue;
        }
        struct token *fixed = ch;
        if (!fixed) fixed = try_consume(&pp, T_ESCAPED_CHAR);
        if (fixed) {
            ustr_putn(&pp.pending, in + fixed->voff, fixed->vlen);
            continue;
        }
        if (try_consume(&pp, T_OPEN)) {
            struct ustr prefix = {0}, suffix = {0};
            consume_text(&pp, &prefix);
            struct token *gname = try_consume(&pp, T_NAME);
            struct token *grw = try_consume_regexp_or_wildcard(&pp, gname);
            consume_text(&pp, &suffix);
            if (!try_consume(&pp, T_CLOSE)) {
                ustr_free(&prefix);
                ustr_free(&suffix);
                *reason = "a '{' group is not closed where it should be";
                goto done;
            }
            struct token *mod = try_consume_modifier(&pp);
            int arc = add_part(&pp, ustr_z(&prefix), prefix.len, gname, grw, ustr_z(&suffix),
                               suffix.len, mod);
            ustr_free(&prefix);
            ustr_free(&suffix);
            if (arc < 0) goto done;
            continue;
        }
        if (maybe_add_pending(&pp) < 0) goto done;
        if (!try_consume(&pp, T_END)) {
            *reason = "unexpected character in pattern (an unbalanced '}', or a modifier with "
                      "nothing to modify)";
            goto done;
        }
    }
    rc = 0;
    if (pp.pending.oom) {
        *reason = "out of memory";
        rc = -1;
    }
done:
    free(pp.tokens.v);
    ustr_free(&pp.pending);
    if (rc < 0) up_parts_free(out);
    return rc;
}

/* --- pattern strings ---------------------------------------------------------------------- */

static void escape_pattern(struct ustr *out, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strchr("+*?:{}()\\", s[i]) && s[i]) ustr_putc(out, '\\');
        ustr_putc(out, s[i]);
    }
}

static const char *modifier_str(enum up_modifier m)
{
    return m == UP_ZERO_OR_MORE ? "*" : m == UP_OPTIONAL ? "?" : m == UP_ONE_OR_MORE ? "+" : "";
}

static bool first_is_name_cp(const struct ustr *s)
{
    if (s->len == 0) return false;
    size_t next;
    return valid_name_cp(cp_at(s->p, s->len, 0, &next), false);
}

void up_pattern_string(const struct up_parts *parts, const struct up_options *opt, struct ustr *out)
{
    ustr_putn(out, "", 0);
    for (size_t i = 0; i < parts->n; i++) {
        const struct up_part *part = &parts->v[i];
        const struct up_part *prev = i > 0 ? &parts->v[i - 1] : NULL;
        const struct up_part *next = i + 1 < parts->n ? &parts->v[i + 1] : NULL;
        if (part->type == UP_FIXED) {
            if (part->modifier == UP_NONE) {
                escape_pattern(out, ustr_z(&part->value), part->value.len);
            } else {
                ustr_putc(out, '{');
                escape_pattern(out, ustr_z(&part->value), part->value.len);
                ustr_putc(out, '}');
                ustr_puts(out, modifier_str(part->modifier));
            }
            continue;
        }
        bool custom = !(part->name.len && part->name.p[0] >= '0' && part->name.p[0] <= '9');
        bool grouping =
            part->suffix.len ||
            (part->prefix.len && !(part->prefix.len == 1 && part->prefix.p[0] == opt->prefix));
        if (!grouping && custom && part->type == UP_SEGMENT_WILDCARD && part->modifier == UP_NONE &&
            next && next->prefix.len == 0 && next->suffix.len == 0) {
            if (next->type == UP_FIXED) {
                if (first_is_name_cp(&next->value)) grouping = true;
            } else if (next->name.len && next->name.p[0] >= '0' && next->name.p[0] <= '9') {
                grouping = true;
            }
        }
        if (!grouping && part->prefix.len == 0 && prev && prev->type == UP_FIXED &&
            prev->value.len && opt->prefix && prev->value.p[prev->value.len - 1] == opt->prefix)
            grouping = true;
        if (grouping) ustr_putc(out, '{');
        escape_pattern(out, ustr_z(&part->prefix), part->prefix.len);
        if (custom) {
            ustr_putc(out, ':');
            ustr_putn(out, part->name.p, part->name.len);
        }
        if (part->type == UP_REGEXP) {
            ustr_putc(out, '(');
            ustr_putn(out, ustr_z(&part->value), part->value.len);
            ustr_putc(out, ')');
        } else if (part->type == UP_SEGMENT_WILDCARD && !custom) {
            ustr_putc(out, '(');
            segment_wildcard_regexp(opt, out);
            ustr_putc(out, ')');
        } else if (part->type == UP_FULL_WILDCARD) {
            if (!custom && (!prev || prev->type == UP_FIXED || prev->modifier != UP_NONE ||
                            grouping || part->prefix.len))
                ustr_putc(out, '*');
            else
                ustr_puts(out, "(.*)");
        }
        if (part->type == UP_SEGMENT_WILDCARD && custom && part->suffix.len &&
            first_is_name_cp(&part->suffix))
            ustr_putc(out, '\\');
        escape_pattern(out, ustr_z(&part->suffix), part->suffix.len);
        if (grouping) ustr_putc(out, '}');
        ustr_puts(out, modifier_str(part->modifier));
    }
}

/* --- canonicalization callbacks ----------------------------------------------------------- */

/* "Create a dummy URL": the record "https://dummy.invalid/" parses to, built directly. */
static int dummy_url(struct url *u)
{
    url_init(u);
    ustr_puts(&u->scheme, "https");
    u->has_host = true;
    ustr_puts(&u->host, "dummy.invalid");
    ustr_puts(&u->path, "/");
    u->segments = 1;
    ustr_putn(&u->username, "", 0);
    ustr_putn(&u->password, "", 0);
    return u->scheme.oom || u->host.oom || u->path.oom ? -1 : 0;
}

/* A canonicalizer's answer from the URL parser's: out of memory is flagged on out, a failure is
 * -1 with why as the reason. */
static int canon_outcome(enum url_result r, struct ustr *out, const char **reason, const char *why)
{
    if (r == URL_OOM) out->oom = true;
    if (r != URL_FAILURE) return 0;
    *reason = why;
    return -1;
}

int up_canon_protocol(const char *in, size_t n, struct ustr *out, const char **reason)
{
    struct ustr s = {0};
    ustr_putn(&s, in, n);
    ustr_puts(&s, "://dummy.invalid/");
    struct url u;
    url_init(&u);
    enum url_result r = s.oom ? URL_OOM : url_parse(&u, s.p, s.len, NULL, URL_STATE_NONE);
    ustr_free(&s);
    if (r == URL_OK) ustr_putn(out, ustr_z(&u.scheme), u.scheme.len);
    url_release(&u);
    return canon_outcome(r, out, reason, "invalid protocol");
}

int up_canon_username(const char *in, size_t n, struct ustr *out, const char **reason)
{
    url_set_userinfo(out, in, n);
    return 0;
}

int up_canon_password(const char *in, size_t n, struct ustr *out, const char **reason)
{
    url_set_userinfo(out, in, n);
    return 0;
}

int up_canon_hostname(const char *in, size_t n, struct ustr *out, const char **reason)
{
    struct url u;
    if (dummy_url(&u) < 0) {
        out->oom = true;
        url_release(&u);
        return 0;
    }
    enum url_result r = url_parse(&u, in, n, NULL, URL_STATE_HOSTNAME);
    if (r == URL_OK && u.has_host) ustr_putn(out, ustr_z(&u.host), u.host.len);
    url_release(&u);
    return canon_outcome(r, out, reason, "invalid hostname");
}

int up_canon_ipv6_hostname(const char *in, size_t n, struct ustr *out, const char **reason)
{
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        if (!hex && c != '[' && c != ']' && c != ':') {
            *reason = "invalid IPv6 hostname";
            return -1;
        }
        ustr_putc(out, (c >= 'A' && c <= 'F') ? (char)(c + 32) : c);
    }
    return 0;
}

int up_canon_port(const char *in, size_t n, struct ustr *out, const char **reason)
{
    /* The dummy URL's scheme is left empty so that no port counts as a default one: both
     * oracles keep "443" in "http://h:443" (the standard's text would drop it). */
    struct url u;
    url_init(&u);
    enum url_result r = url_parse(&u, in, n, NULL, URL_STATE_PORT);
    if (r == URL_OK && u.port >= 0) {
        char tmp[8];
        int k = 0, v = u.port;
        do {
            tmp[k++] = (char)('0' + v % 10);
            v /= 10;
        } while (v);
        while (k)
            ustr_putc(out, tmp[--k]);
    }
    url_release(&u);
    return canon_outcome(r, out, reason, "invalid port");
}

int up_canon_pathname(const char *in, size_t n, struct ustr *out, const char **reason)
{
    bool leading_slash = in[0] == '/';
    struct ustr mod = {0};
    if (!leading_slash) ustr_puts(&mod, "/-");
    ustr_putn(&mod, in, n);
    struct url u;
    if (mod.oom || dummy_url(&u) < 0) {
        ustr_free(&mod);
        out->oom = true;
        return 0;
    }
    ustr_clear(&u.path);
    u.segments = 0;
    enum url_result r = url_parse(&u, mod.p, mod.len, NULL, URL_STATE_PATH_START);
    ustr_free(&mod);
    if (r == URL_OK) {
        const char *p = ustr_z(&u.path);
        size_t len = u.path.len;
        if (!leading_slash) {
            /* A ".." in the text removed the "/-" put in front of it: the standard's substring
             * is then out of range; Chromium throws, and so do we. */
            if (len < 2 || p[0] != '/' || p[1] != '-') r = URL_FAILURE;
            p += len < 2 ? len : 2;
            len -= len < 2 ? len : 2;
        }
        if (r == URL_OK) ustr_putn(out, p, len);
    }
    url_release(&u);
    return canon_outcome(r, out, reason, "invalid pathname");
}

int up_canon_opaque_pathname(const char *in, size_t n, struct ustr *out, const char **reason)
{
    struct url u;
    if (dummy_url(&u) < 0) {
        out->oom = true;
        url_release(&u);
        return 0;
    }
    ustr_clear(&u.path);
    u.opaque_path = true;
    enum url_result r = url_parse(&u, in, n, NULL, URL_STATE_OPAQUE_PATH);
    if (r == URL_OK) ustr_putn(out, ustr_z(&u.path), u.path.len);
    url_release(&u);
    return canon_outcome(r, out, reason, "invalid pathname");
}

static int canon_query_or_fragment(const char *in, size_t n, struct ustr *out, bool query)
{
    struct url u;
    if (dummy_url(&u) < 0) {
        out->oom = true;
        url_release(&u);
        return 0;
    }
    enum url_result r = url_parse(&u, in, n, NULL, query ? URL_STATE_QUERY : URL_STATE_FRAGMENT);
    const struct ustr *s = query ? &u.query : &u.fragment;
    if (r == URL_OK) ustr_putn(out, ustr_z(s), s->len);
    url_release(&u);
    if (r == URL_OOM) out->oom = true;
    return 0;
}

int up_canon_search(const char *in, size_t n, struct ustr *out, const char **reason)
{
    return canon_query_or_fragment(in, n, out, true);
}

int up_canon_hash(const char *in, size_t n, struct ustr *out, const char **reason)
{
    return canon_query_or_fragment(in, n, out, false);
}

/* --- the constructor string parser -------------------------------------------------------- */

enum cstate {
    C_INIT,
    C_PROTOCOL,
    C_AUTHORITY,
    C_USERNAME,
    C_PASSWORD,
    C_HOSTNAME,
    C_PORT,
    C_PATHNAME,
    C_SEARCH,
    C_HASH,
    C_DONE
};

struct cparser {
    const char *in;
    struct tokens tokens;
    struct up_init *result;
    size_t component_start, index, increment;
    int group_depth, ipv6_depth;
    bool special;
    enum cstate state;
};

static const struct token *safe_token(const struct cparser *cp, size_t i)
{
    if (i < cp->tokens.n) return &cp->tokens.v[i];
    return &cp->tokens.v[cp->tokens.n - 1];
}

static bool nonspecial_char(const struct cparser *cp, size_t i, char value)
{
    const struct token *t = safe_token(cp, i);
    if (t->vlen != 1 || cp->in[t->voff] != value) return false;
    return t->type == T_CHAR || t->type == T_ESCAPED_CHAR || t->type == T_INVALID_CHAR;
}

static bool is_search_prefix(const struct cparser *cp)
{
    if (nonspecial_char(cp, cp->index, '?')) return true;
    const struct token *t = &cp->tokens.v[cp->index];
    if (t->vlen != 1 || cp->in[t->voff] != '?') return false;
    if (cp->index == 0) return true;
    const struct token *prev = safe_token(cp, cp->index - 1);
    return !(prev->type == T_NAME || prev->type == T_REGEXP || prev->type == T_CLOSE ||
             prev->type == T_ASTERISK);
}

static void make_component(const struct cparser *cp, struct ustr *out)
{
    const struct token *t = &cp->tokens.v[cp->index];
    size_t start = safe_token(cp, cp->component_start)->index;
    ustr_clear(out);
    ustr_putn(out, cp->in + start, t->index - start);
}

static const enum up_component state_component[] = {
    [C_PROTOCOL] = UP_PROTOCOL, [C_USERNAME] = UP_USERNAME, [C_PASSWORD] = UP_PASSWORD,
    [C_HOSTNAME] = UP_HOSTNAME, [C_PORT] = UP_PORT,         [C_PATHNAME] = UP_PATHNAME,
    [C_SEARCH] = UP_SEARCH,     [C_HASH] = UP_HASH,
};

static void set_result(struct cparser *cp, enum up_component c, const char *z)
{
    cp->result->has[c] = true;
    ustr_clear(&cp->result->v[c]);
    ustr_puts(&cp->result->v[c], z);
}

static void change_state(struct cparser *cp, enum cstate next, size_t skip)
{
    enum cstate s = cp->state;
    if (s != C_INIT && s != C_AUTHORITY && s != C_DONE) {
        enum up_component c = state_component[s];
        cp->result->has[c] = true;
        make_component(cp, &cp->result->v[c]);
    }
    if (s != C_INIT && next != C_DONE) {
        bool early = s == C_PROTOCOL || s == C_AUTHORITY || s == C_USERNAME || s == C_PASSWORD;
        if (early && (next == C_PORT || next == C_PATHNAME || next == C_SEARCH || next == C_HASH) &&
            !cp->result->has[UP_HOSTNAME])
            set_result(cp, UP_HOSTNAME, "");
        if ((early || s == C_HOSTNAME || s == C_PORT) && (next == C_SEARCH || next == C_HASH) &&
            !cp->result->has[UP_PATHNAME])
            set_result(cp, UP_PATHNAME, cp->special ? "/" : "");
        if ((early || s == C_HOSTNAME || s == C_PORT || s == C_PATHNAME) && next == C_HASH &&
            !cp->result->has[UP_SEARCH])
            set_result(cp, UP_SEARCH, "");
    }
    cp->state = next;
    cp->index += skip;
    cp->component_start = cp->index;
    cp->increment = 0;
}

static void rewind_to(struct cparser *cp, enum cstate s)
{
    cp->index = cp->component_start;
    cp->increment = 0;
    cp->state = s;
}

static int parse_constructor(const char *in, size_t n, up_special_fn is_special,
                             struct up_init *result, const char **reason)
{
    struct cparser cp = {.in = in, .result = result, .increment = 1, .state = C_INIT};
    if (tokenize(in, n, true, &cp.tokens, reason) < 0 || cp.tokens.oom) {
        free(cp.tokens.v);
        *reason = "out of memory";
        return -1;
    }
    int rc = 0;
    while (cp.index < cp.tokens.n) {
        cp.increment = 1;
        const struct token *t = &cp.tokens.v[cp.index];
        if (t->type == T_END) {
            if (cp.state == C_INIT) {
                rewind_to(&cp, C_INIT);
                if (nonspecial_char(&cp, cp.index, '#'))
                    change_state(&cp, C_HASH, 1);
                else if (is_search_prefix(&cp))
                    change_state(&cp, C_SEARCH, 1);
                else
                    change_state(&cp, C_PATHNAME, 0);
                cp.index += cp.increment;
                continue;
            }
            if (cp.state == C_AUTHORITY) {
                rewind_to(&cp, C_HOSTNAME);
                cp.index += cp.increment;
                continue;
            }
            change_state(&cp, C_DONE, 0);
            break;
        }
        if (t->type == T_OPEN) {
            cp.group_depth++;
            cp.index += cp.increment;
            continue;
        }
        if (cp.group_depth > 0) {
            if (t->type == T_CLOSE) {
                cp.group_depth--;
            } else {
                cp.index += cp.increment;
                continue;
            }
        }
        size_t i = cp.index;
        switch (cp.state) {
        case C_INIT:
            if (nonspecial_char(&cp, i, ':')) rewind_to(&cp, C_PROTOCOL);
            break;
        case C_PROTOCOL:
            if (nonspecial_char(&cp, i, ':')) {
                struct ustr proto = {0};
                make_component(&cp, &proto);
                bool special = false;
                if (proto.oom) {
                    *reason = "out of memory";
                    rc = -1;
                } else if (is_special(ustr_z(&proto), proto.len, &special, reason) < 0) {
                    rc = -1;
                }
                ustr_free(&proto);
                if (rc < 0) goto done;
                cp.special = special;
                enum cstate next = C_PATHNAME;
                size_t skip = 1;
                if (nonspecial_char(&cp, i + 1, '/') && nonspecial_char(&cp, i + 2, '/')) {
                    next = C_AUTHORITY;
                    skip = 3;
                } else if (cp.special) {
                    next = C_AUTHORITY;
                }
                change_state(&cp, next, skip);
            }
            break;
        case C_AUTHORITY:
            if (nonspecial_char(&cp, i, '@'))
                rewind_to(&cp, C_USERNAME);
            else if (nonspecial_char(&cp, i, '/') || is_search_prefix(&cp) ||
                     nonspecial_char(&cp, i, '#'))
                rewind_to(&cp, C_HOSTNAME);
            break;
        case C_USERNAME:
            if (nonspecial_char(&cp, i, ':'))
                change_state(&cp, C_PASSWORD, 1);
            else if (nonspecial_char(&cp, i, '@'))
                change_state(&cp, C_HOSTNAME, 1);
            break;
        case C_PASSWORD:
            if (nonspecial_char(&cp, i, '@')) change_state(&cp, C_HOSTNAME, 1);
            break;
        case C_HOSTNAME:
            if (nonspecial_char(&cp, i, '['))
                cp.ipv6_depth++;
            else if (nonspecial_char(&cp, i, ']'))
                cp.ipv6_depth--;
            else if (nonspecial_char(&cp, i, ':') && cp.ipv6_depth == 0)
                change_state(&cp, C_PORT, 1);
            else if (nonspecial_char(&cp, i, '/'))
                change_state(&cp, C_PATHNAME, 0);
            else if (is_search_prefix(&cp))
                change_state(&cp, C_SEARCH, 1);
            else if (nonspecial_char(&cp, i, '#'))
                change_state(&cp, C_HASH, 1);
            break;
        case C_PORT:
            if (nonspecial_char(&cp, i, '/'))
                change_state(&cp, C_PATHNAME, 0);
            else if (is_search_prefix(&cp))
                change_state(&cp, C_SEARCH, 1);
            else if (nonspecial_char(&cp, i, '#'))
                change_state(&cp, C_HASH, 1);
            break;
        case C_PATHNAME:
            if (is_search_prefix(&cp))
                change_state(&cp, C_SEARCH, 1);
            else if (nonspecial_char(&cp, i, '#'))
                change_state(&cp, C_HASH, 1);
            break;
        case C_SEARCH:
            if (nonspecial_char(&cp, i, '#')) change_state(&cp, C_HASH, 1);
            break;
        case C_HASH:
        case C_DONE:
            break;
        }
        cp.index += cp.increment;
    }
    if (result->has[UP_HOSTNAME] && !result->has[UP_PORT]) set_result(&cp, UP_PORT, "");
done:
    free(cp.tokens.v);
    return rc;
}

/* --- process a URLPatternInit (type "pattern") -------------------------------------------- */

void up_init_free(struct up_init *init)
{
    for (int i = 0; i < UP_COMPONENTS; i++)
        ustr_free(&init->v[i]);
    memset(init, 0, sizeof(*init));
}

static void set_escaped(struct up_init *r, enum up_component c, const char *s, size_t n)
{
    r->has[c] = true;
    ustr_clear(&r->v[c]);
    ustr_putn(&r->v[c], "", 0);
    escape_pattern(&r->v[c], s, n);
}

static bool is_absolute_pathname(const struct ustr *s)
{
    if (s->len == 0) return false;
    if (s->p[0] == '/') return true;
    if (s->len < 2) return false;
    return (s->p[0] == '\\' || s->p[0] == '{') && s->p[1] == '/';
}

int up_process_constructor(const char *in, size_t n, const struct url *base,
                           up_special_fn is_special, struct up_init *out, const char **reason)
{
    struct up_init init = {0};
    memset(out, 0, sizeof(*out));
    if (parse_constructor(in, n, is_special, &init, reason) < 0) goto fail;
    if (!base && !init.has[UP_PROTOCOL]) {
        *reason = "a relative pattern needs a base URL";
        goto fail;
    }
    if (base) {
        bool *h = init.has;
        if (!h[UP_PROTOCOL]) set_escaped(out, UP_PROTOCOL, ustr_z(&base->scheme), base->scheme.len);
        if (!h[UP_PROTOCOL] && !h[UP_HOSTNAME])
            set_escaped(out, UP_HOSTNAME, ustr_z(&base->host), base->has_host ? base->host.len : 0);
        if (!h[UP_PROTOCOL] && !h[UP_HOSTNAME] && !h[UP_PORT]) {
            out->has[UP_PORT] = true;
            ustr_putn(&out->v[UP_PORT], "", 0);
            if (base->port >= 0) {
                char tmp[8];
                int k = 0, v = base->port;
                do {
                    tmp[k++] = (char)('0' + v % 10);
                    v /= 10;
                } while (v);
                while (k)
                    ustr_putc(&out->v[UP_PORT], tmp[--k]);
            }
        }
        bool upto_port = !h[UP_PROTOCOL] && !h[UP_HOSTNAME] && !h[UP_PORT];
        if (upto_port && !h[UP_PATHNAME])
            set_escaped(out, UP_PATHNAME, ustr_z(&base->path), base->path.len);
        if (upto_port && !h[UP_PATHNAME] && !h[UP_SEARCH])
            set_escaped(out, UP_SEARCH, ustr_z(&base->query),
                        base->has_query ? base->query.len : 0);
        if (upto_port && !h[UP_PATHNAME] && !h[UP_SEARCH] && !h[UP_HASH])
            set_escaped(out, UP_HASH, ustr_z(&base->fragment),
                        base->has_fragment ? base->fragment.len : 0);
    }
    for (int c = 0; c < UP_COMPONENTS; c++) {
        if (!init.has[c]) continue;
        struct ustr *v = &init.v[c];
        const char *s = ustr_z(v);
        size_t len = v->len;
        if (c == UP_PROTOCOL && len && s[len - 1] == ':') len--;
        if ((c == UP_SEARCH && len && s[0] == '?') || (c == UP_HASH && len && s[0] == '#')) {
            s++;
            len--;
        }
        out->has[c] = true;
        ustr_clear(&out->v[c]);
        if (c == UP_PATHNAME && base && !base->opaque_path && !is_absolute_pathname(v)) {
            const char *bp = ustr_z(&base->path);
            const char *slash = NULL;
            for (size_t k = 0; k < base->path.len; k++)
                if (bp[k] == '/') slash = bp + k;
            if (slash) escape_pattern(&out->v[c], bp, (size_t)(slash - bp) + 1);
        }
        ustr_putn(&out->v[c], s, len);
    }
    for (int c = 0; c < UP_COMPONENTS; c++) {
        if (!out->has[c]) {
            out->has[c] = true;
            ustr_puts(&out->v[c], "*");
        }
        if (out->v[c].oom || init.v[c].oom) {
            *reason = "out of memory";
            goto fail;
        }
    }
    const struct ustr *proto = &out->v[UP_PROTOCOL];
    int def = url_default_port(ustr_z(proto), proto->len);
    if (url_is_special_scheme(ustr_z(proto), proto->len) && def >= 0) {
        char tmp[8];
        int k = snprintf(tmp, sizeof(tmp), "%d", def);
        const struct ustr *port = &out->v[UP_PORT];
        if (port->len == (size_t)k && memcmp(port->p, tmp, (size_t)k) == 0)
            ustr_clear(&out->v[UP_PORT]);
    }
    up_init_free(&init);
    return 0;
fail:
    up_init_free(&init);
    up_init_free(out);
    return -1;
}
