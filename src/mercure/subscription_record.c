#include "mercure/subscription_record.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/rand.h"
#include "core/event.h"
#include "ssebroker/event.h"

const char *const sub_kind_name[] = {
    [SUB_TOPIC] = "", [SUB_EXACT] = "exact", [SUB_URLPATTERN] = "urlpattern"};

enum sub_kind sub_kind_of(enum selector_syntax syntax)
{
    switch (syntax) {
    case SELECTOR_SYNTAX_EXACT:
        return SUB_EXACT;
    case SELECTOR_SYNTAX_URLPATTERN:
        return SUB_URLPATTERN;
    default:
        return SUB_TOPIC;
    }
}

int sub_kind_named(const char *s, long len)
{
    if (len == 5 && !memcmp(s, "exact", 5)) return SUB_EXACT;
    if (len == 10 && !memcmp(s, "urlpattern", 10)) return SUB_URLPATTERN;
    return SUB_ANY;
}

void sub_record_unref(struct sub_record *r)
{
    if (!r || atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) != 1) return;
    free(r->id);
    free(r->match);
    free(r->subscriber);
    free(r->payload);
    free(r->doc);
    free(r);
}

/* Appends s percent-encoded once: everything but RFC 3986 unreserved characters (RFC 6570
 * simple expansion; a '%' the text already has is encoded too). Returns 0, or -1 when out of
 * memory. */
static int append_encoded(struct buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        bool unreserved = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                          (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' ||
                          ch == '~';
        char esc[3] = {'%', hex[ch >> 4], hex[ch & 15]};
        if (unreserved ? buf_append(b, (const char *)&ch, 1) : buf_append(b, esc, 3)) return -1;
    }
    return 0;
}

/* The record's id, NUL-terminated, or NULL: SUBS_PATH "/" enc(topic) "/" enc(subscriber) for a
 * draft-07 subscription, SUBS_PATH "/" match_type "/" enc(match) "/" enc(subscriber) for 1.0. */
static char *sub_record_id(enum sub_kind kind, const char *sel, size_t sel_len,
                           const char *subscriber)
{
    struct buf id = {0};
    if (buf_append(&id, SUBS_PATH "/", sizeof(SUBS_PATH)) ||
        (kind != SUB_TOPIC && buf_printf(&id, "%s/", sub_kind_name[kind])) ||
        append_encoded(&id, sel, sel_len) || buf_append(&id, "/", 1) ||
        append_encoded(&id, subscriber, strlen(subscriber))) {
        buf_free(&id);
        return NULL;
    }
    return id.p;
}

/* The document describing r: a 1.0 subscription's is the subscription event's body (Mercure 1.0
 * "Subscription Events"); a draft-07 one's is JSON-LD (context: with its @context, as the events
 * and single documents have it; collections carry it once at the top). */
json_t *sub_record_json(const struct sub_record *r, bool active, bool context)
{
    json_t *o = json_object();
    if (r->kind == SUB_TOPIC && context)
        json_object_set_new(o, "@context", json_string("https://mercure.rocks/"));
    json_object_set_new(o, "id", json_string(r->id));
    json_object_set_new(o, "type",
                        json_string(r->kind == SUB_TOPIC ? "Subscription" : "subscription"));
    if (r->kind == SUB_TOPIC) {
        json_object_set_new(o, "topic", json_stringn(r->match, r->match_len));
    } else {
        json_object_set_new(o, "match_type", json_string(sub_kind_name[r->kind]));
        json_object_set_new(o, "match", json_stringn(r->match, r->match_len));
    }
    json_object_set_new(o, "subscriber", json_string(r->subscriber));
    json_object_set_new(o, "active", json_boolean(active));
    if (r->payload) {
        json_t *p = json_loads(r->payload, JSON_DECODE_ANY, NULL);
        if (p) json_object_set_new(o, "payload", p);
    }
    return o;
}

/* The subscription event for r (private, on its own topic; a 1.0 one dispatched with the
 * reserved SSE type "mercure", which publishers cannot use), or NULL when out of memory. */
struct event *sub_record_event(const struct sub_record *r, bool active, bool uuid_id)
{
    json_t *o = sub_record_json(r, active, true);
    char *data = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!data) return NULL;
    char id[RAND_EVENT_ID_MAX + 1];
    size_t id_len = rand_event_id(uuid_id, id);
    struct sseb_str topic = {r->id, strlen(r->id)};
    struct sseb_update u = {.topics = &topic,
                            .ntopics = 1,
                            .data = {data, strlen(data)},
                            .id = {id, id_len},
                            .private_ = true};
    if (r->kind != SUB_TOPIC) u.type = (struct sseb_str){"mercure", 7};
    struct event *ev = event_new(&u);
    free(data);
    if (ev) ev->presence = active ? EVENT_PRESENCE_ANNOUNCE : EVENT_PRESENCE_WITHDRAW;
    return ev;
}

struct sub_record *sub_record_new(enum sub_kind kind, const char *sel, size_t sel_len,
                                  const char *subscriber, const char *payload)
{
    struct sub_record *r = calloc(1, sizeof(*r));
    if (!r) return NULL;
    atomic_init(&r->refs, 1);
    r->kind = kind;
    r->id = sub_record_id(kind, sel, sel_len, subscriber);
    r->match = strndup(sel, sel_len);
    r->match_len = sel_len;
    r->subscriber = strdup(subscriber);
    r->payload = payload ? strdup(payload) : NULL;
    if (!r->id || !r->match || !r->subscriber || (payload && !r->payload)) {
        sub_record_unref(r);
        return NULL;
    }
    /* Made once: a collection of thousands (a large presence room) is then a concatenation. */
    json_t *o = sub_record_json(r, true, false);
    r->doc = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!r->doc) {
        sub_record_unref(r);
        return NULL;
    }
    r->doc_len = strlen(r->doc);
    return r;
}

/* The record a subscription event describes (its topic is the record's id), or NULL when it is
 * not one of ours or out of memory. */
struct sub_record *sub_record_of_event(const struct event *ev)
{
    if (!ev->ntopics || ev->topics[0].len < sizeof(SUBS_PATH)) return NULL;
    const char *data = memmem(ev->wire, ev->wire_len, "\ndata: ", 7);
    if (!data) return NULL;
    data += 7;
    const char *end = memchr(data, '\n', (size_t)(ev->wire + ev->wire_len - data));
    if (!end) return NULL;
    json_t *o = json_loadb(data, (size_t)(end - data), 0, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return NULL;
    }
    const char *type = json_string_value(json_object_get(o, "match_type"));
    json_t *match = json_object_get(o, type ? "match" : "topic");
    const char *subscriber = json_string_value(json_object_get(o, "subscriber"));
    json_t *payload = json_object_get(o, "payload");
    int kind = !type ? SUB_TOPIC : sub_kind_named(type, (long)strlen(type));
    char *payload_text = payload ? json_dumps(payload, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    struct sub_record *r = NULL;
    if (kind != SUB_ANY && json_is_string(match) && subscriber && (!payload || payload_text))
        r = sub_record_new((enum sub_kind)kind, json_string_value(match), json_string_length(match),
                           subscriber, payload_text);
    free(payload_text);
    json_decref(o);
    /* Its id is made from its parts again: it must name the same subscription as the event. */
    if (r &&
        (strlen(r->id) != ev->topics[0].len || memcmp(r->id, ev->topics[0].s, ev->topics[0].len))) {
        sub_record_unref(r);
        return NULL;
    }
    return r;
}
