/* libFuzzer target: publish validation as the handler runs it (publish_parse,
 * src/mercure/publish_parse.c), SSE encoding (src/core/sse.c via event_new) and history lookup
 * (src/core/history.c).
 *
 * The input is split on 0x00 into fields: the first is a publish's form body, the middle ones
 * ids to publish after it (each sent through publish_parse as "topic=a&id=<percent-encoded>"),
 * the last one an id to replay from.
 *
 * Checked besides the sanitizers:
 *  - a refused publish is a 400 or 403 with a reason; an accepted one has a topic, and nothing
 *    either draft refuses (control or format characters, "*", "earliest", "mercure", "#...");
 *  - whatever publish_parse accepts, its wire bytes parse back (WHATWG EventSource rules) into
 *    exactly one event whose data, id and event type are what was published: no payload can
 *    break the framing;
 *  - the encoded size stays within the announced bound;
 *  - a replay after an id returns exactly the retained events published after its latest
 *    occurrence, in order; an unknown id returns nothing and says so; a history of bounded size
 *    evicts oldest first. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "auth/auth.h"
#include "common/utf8.h"

#include "core/event.h"
#include "core/history.h"
#include "core/sse.h"
#include "mercure/publish_parse.h"
#include "ssebroker/config.h"

#define MAX_EVENTS 64

struct field {
    const char *p;
    size_t len;
};

/* Appends the value of one parsed line to the event being rebuilt; aborts on a framing error. */
struct parsed {
    char data[8192];
    size_t data_len;
    int data_lines;
    char id[2048];
    size_t id_len;
    int id_lines;
    char type[8192];
    size_t type_len;
};

static void append(char *dst, size_t *len, size_t cap, const char *s, size_t n)
{
    if (*len + n > cap) abort();
    memcpy(dst + *len, s, n);
    *len += n;
}

/* Parses wire bytes as an EventSource would; the event must end exactly at the end. */
static void parse_wire(const char *w, size_t n, struct parsed *out)
{
    memset(out, 0, sizeof(*out));
    size_t i = 0;
    bool dispatched = false;
    while (i < n) {
        if (dispatched) abort(); /* bytes after the blank line: a second event */
        size_t eol = i;
        while (eol < n && w[eol] != '\n' && w[eol] != '\r')
            eol++;
        if (eol == n) abort(); /* an unterminated line */
        const char *line = w + i;
        size_t len = eol - i;
        i = eol + 1;
        if (w[eol] == '\r' && i < n && w[i] == '\n') i++;
        if (len == 0) {
            dispatched = true;
            continue;
        }
        const char *colon = memchr(line, ':', len);
        if (!colon) abort(); /* the encoder always writes "name: value" */
        size_t name_len = (size_t)(colon - line);
        const char *v = colon + 1;
        size_t vlen = len - name_len - 1;
        if (vlen && *v == ' ') v++, vlen--;
        if (name_len == 4 && memcmp(line, "data", 4) == 0) {
            if (out->data_lines++) append(out->data, &out->data_len, sizeof(out->data), "\n", 1);
            append(out->data, &out->data_len, sizeof(out->data), v, vlen);
        } else if (name_len == 2 && memcmp(line, "id", 2) == 0) {
            out->id_lines++;
            out->id_len = 0;
            append(out->id, &out->id_len, sizeof(out->id), v, vlen);
        } else if (name_len == 5 && memcmp(line, "event", 5) == 0) {
            out->type_len = 0;
            append(out->type, &out->type_len, sizeof(out->type), v, vlen);
        } else if (!(name_len == 5 && memcmp(line, "retry", 5) == 0)) {
            abort(); /* a field the encoder never writes: framing was broken */
        }
    }
    if (!dispatched) abort();
}

/* data with CRLF and CR turned into LF: what an EventSource hands the application. */
static size_t normalize_newlines(const char *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\r') {
            out[o++] = '\n';
            if (i + 1 < n && s[i + 1] == '\n') i++;
        } else {
            out[o++] = s[i];
        }
    }
    return o;
}

static const struct sseb_config *config(void)
{
    static struct sseb_config cfg;
    static bool ready;
    if (!ready) {
        sseb_config_defaults(&cfg);
        ready = true;
    }
    return &cfg;
}

/* A publisher allowed every topic. */
static const struct auth_claims *publisher(void)
{
    static struct auth_claims claims;
    static struct selector *any;
    if (!any) {
        if (!(any = selector_compile("*", 1))) abort();
        claims = (struct auth_claims){.publish = &any, .npublish = 1};
    }
    return &claims;
}

static bool parse(char *body, size_t len, struct publish_parsed *p)
{
    static const char ct[] = "application/x-www-form-urlencoded";
    struct parse_error err;
    if (publish_parse(body, len, ct, sizeof(ct) - 1, config(), publisher(), p, &err)) {
        const struct sseb_update *u = &p->update;
        if (u->ntopics == 0) abort();
        /* Both drafts' rules: nothing a subscriber of either could misread. */
        for (size_t i = 0; i < u->ntopics; i++)
            if (!utf8_protocol_text(u->topics[i].p, u->topics[i].len) ||
                (u->topics[i].len == 1 && u->topics[i].p[0] == '*'))
                abort();
        if (!utf8_protocol_text(u->id.p, u->id.len) || !utf8_protocol_text(u->type.p, u->type.len))
            abort();
        if ((u->id.len == 8 && !memcmp(u->id.p, "earliest", 8)) ||
            (u->type.len == 7 && !memcmp(u->type.p, "mercure", 7)) ||
            (u->id.len && u->id.p[0] == '#'))
            abort();
        return true;
    }
    if ((err.status != 400 && err.status != 403) || !err.reason || !*err.reason) abort();
    return false;
}

/* The id field f as publish_parse accepts it from "topic=a&id=<f percent-encoded>", copied to
 * out (2048 bytes); false when refused. */
static bool publish_id(struct field f, char *out, size_t *out_len)
{
    static char body[3 * 1100 + 16];
    if (f.len > 1100) return false;
    size_t n = (size_t)snprintf(body, sizeof(body), "topic=a&id=");
    for (size_t i = 0; i < f.len; i++)
        n += (size_t)snprintf(body + n, sizeof(body) - n, "%%%02X", (unsigned char)f.p[i]);
    struct publish_parsed p;
    bool ok = parse(body, n, &p);
    if (ok) {
        memcpy(out, p.update.id.p, p.update.id.len);
        *out_len = p.update.id.len;
    }
    publish_parsed_free(&p);
    return ok;
}

/* Reads history from start to its end in chunks; returns 0 when it yields exactly want[0..n). */
static int replay_matches(struct history *h, uint64_t start, size_t chunk, struct event **want,
                          size_t n)
{
    struct event *got[4];
    size_t seen = 0;
    for (;;) {
        bool gap;
        size_t k = history_read(h, start, UINT64_MAX, got, chunk, &gap, NULL);
        if (gap) return -1;
        if (!k) break;
        int bad = 0;
        for (size_t i = 0; i < k; i++) {
            if (seen >= n || got[i] != want[seen]) bad = 1;
            seen++;
            start = got[i]->seq + 1;
            event_unref(got[i]);
        }
        if (bad) return -1;
    }
    return seen == n ? 0 : -1;
}

/* Encodes u, parses the wire back as an EventSource would and compares. */
static struct event *encode_and_check(const struct sseb_update *u)
{
    static char norm[8192];
    struct event *ev = event_new(u);
    if (!ev) return NULL;
    if (ev->wire_len > sse_encoded_size(u, u->id.len)) abort();
    struct parsed *p = malloc(sizeof(*p));
    if (!p) abort();
    parse_wire(ev->wire, ev->wire_len, p);
    size_t nlen = normalize_newlines(u->data.p, u->data.len, norm);
    if (p->data_len != nlen || (nlen && memcmp(p->data, norm, nlen) != 0)) abort();
    if (p->id_lines != 1 || p->id_len != u->id.len || memcmp(p->id, u->id.p, u->id.len) != 0)
        abort();
    if (p->type_len != u->type.len || (u->type.len && memcmp(p->type, u->type.p, u->type.len)))
        abort();
    free(p);
    return ev;
}

int LLVMFuzzerTestOneInput(const uint8_t *input, size_t size)
{
    if (size > 6000) return 0;
    struct field f[MAX_EVENTS + 2];
    size_t nf = 0;
    const char *s = (const char *)input, *end = s + size;
    while (nf < sizeof(f) / sizeof(f[0])) {
        const char *z = memchr(s, 0, (size_t)(end - s));
        f[nf++] = (struct field){s, z ? (size_t)(z - s) : (size_t)(end - s)};
        if (!z) break;
        s = z + 1;
    }
    if (nf < 2) f[nf++] = (struct field){"", 0};

    /* One publish from the first field: validate, encode, parse back, compare. */
    static char body[6001], idb[2048];
    memcpy(body, f[0].p, f[0].len);
    struct publish_parsed req;
    static const struct sseb_str base_topic = {"a", 1};
    struct sseb_update u = {.topics = &base_topic, .ntopics = 1};
    bool accepted = parse(body, f[0].len, &req);
    if (accepted) u = req.update;
    if (u.id.len == 0) u.id = (struct sseb_str){"urn:fuzz:0", 10};
    struct event *ev = encode_and_check(&u);
    publish_parsed_free(&req);
    if (!ev) return 0;

    /* History: the event above, then one per middle field its publish accepts (its id), then a
     * replay from the last field. A small bound makes eviction part of the run. */
    uint32_t max_events = 1 + (size ? input[0] % 16 : 0);
    struct history *h = history_new(max_events, 1 << 20);
    if (!h) abort();
    struct event *published[MAX_EVENTS + 1];
    size_t npub = 0;
    struct event *evicted = NULL;
    history_lock(h);
    history_append(h, ev, &evicted);
    published[npub++] = ev;
    for (size_t k = 1; k + 1 < nf && npub < MAX_EVENTS + 1; k++) {
        struct sseb_update e = {.topics = &base_topic, .ntopics = 1};
        if (!publish_id(f[k], idb, &e.id.len) || e.id.len == 0) continue;
        e.id.p = idb;
        struct event *x = encode_and_check(&e);
        if (!x) break;
        history_append(h, x, &evicted);
        published[npub++] = x;
    }
    history_unlock(h);
    history_release_evicted(evicted);

    struct sseb_str want = {f[nf - 1].p, f[nf - 1].len};
    size_t retained_from = npub > max_events ? npub - max_events : 0;
    /* The newest retained event with that id, if any. */
    ssize_t at = -1;
    for (size_t k = npub; k-- > retained_from;) {
        if (published[k]->id_len == want.len && memcmp(published[k]->id, want.p, want.len) == 0) {
            at = (ssize_t)k;
            break;
        }
    }
    /* Replays read in chunks of 1 to 4 events, as a stream's cursor does. */
    size_t chunk = 1 + (size > 1 ? input[1] % 4 : 0);
    uint64_t start;
    /* No archive here: an id memory does not hold is unknown. */
    bool found = history_replay_lookup(h, want.p, want.len, &start) == HISTORY_START_FOUND;
    if (found != (at >= 0)) abort();
    if (found && replay_matches(h, start, chunk, published + at + 1, npub - 1 - (size_t)at))
        abort();
    if (history_replay_lookup(h, NULL, 0, &start) != HISTORY_START_FOUND) abort();
    if (replay_matches(h, start, chunk, published + retained_from, npub - retained_from)) abort();
    history_free(h);
    for (size_t k = 0; k < npub; k++)
        event_unref(published[k]);
    return 0;
}
