#include "http/http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/swar.h"

static const char *const header_names[HDR_COUNT] = {
    [HDR_AUTHORIZATION] = "authorization",
    [HDR_COOKIE] = "cookie",
    [HDR_LAST_EVENT_ID] = "last-event-id",
    [HDR_CONTENT_TYPE] = "content-type",
    [HDR_ORIGIN] = "origin",
    [HDR_ACCESS_CONTROL_REQUEST_METHOD] = "access-control-request-method",
    [HDR_EXPECT] = "expect",
    [HDR_IF_NONE_MATCH] = "if-none-match",
    [HDR_ACCEPT] = "accept",
};
/* The known names by length (settings_setup): a name is compared only with those of its length.
 * At most four share one (cookie, origin, expect, accept). */
#define MAX_SAME_LENGTH 4
static uint8_t by_length[sizeof(((struct http_request *)0)->field)][MAX_SAME_LENGTH];
static uint8_t n_by_length[sizeof(((struct http_request *)0)->field)];
/* Each known name as 8-byte words to compare a field with, a word at a time (settings_setup):
 * its bytes, the case bit (0x20) at its letters, and which bytes count (not those past its end).
 * A byte c matches a letter n when (c | 0x20) == n, that is c is n in either case. */
#define NAME_WORDS 4 /* 32 bytes: the longest name has 29 */
static struct {
    uint64_t name[NAME_WORDS], fold[NAME_WORDS], keep[NAME_WORDS];
} header_words[HDR_COUNT];
_Static_assert(sizeof(((struct http_request *)0)->field) >= 8 * NAME_WORDS,
               "field_is loads whole words of the field buffer");

static struct http_request *req_of(llhttp_t *p)
{
    return p->data;
}

static int fail(struct http_request *r, int status, const char *reason)
{
    r->status = status;
    r->reason = reason;
    return -1;
}

static int count_header_bytes(struct http_request *r, size_t n)
{
    r->header_bytes += n;
    if (r->header_bytes > r->limits->max_header_bytes)
        return fail(r, 431, "Request header fields too large.");
    return 0;
}

static int on_message_begin(llhttp_t *p)
{
    req_of(p)->started = true;
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    struct http_request *r = req_of(p);
    r->header_bytes += len;
    if (r->header_bytes > r->limits->max_header_bytes) return fail(r, 414, "URI too long.");
    return buf_append(&r->target, at, len) ? fail(r, 503, "Out of memory.") : 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    struct http_request *r = req_of(p);
    if (count_header_bytes(r, len)) return -1;
    /* Kept as sent (compared case-insensitively once complete); names longer than the buffer
     * are none of ours: only their length is kept. */
    if (r->field_len < sizeof(r->field))
        memcpy(r->field + r->field_len, at,
               len < sizeof(r->field) - r->field_len ? len : sizeof(r->field) - r->field_len);
    r->field_len += len;
    return 0;
}

/* True when field[0..len) is known name h in any case. The field buffer holds 40 bytes, so the
 * words up to 32 can always be loaded. */
static bool field_is(const char *field, enum http_header h, size_t len)
{
    for (size_t k = 0; k * 8 < len; k++) {
        uint64_t w = swar_load(field + 8 * k);
        if (((w | header_words[h].fold[k]) & header_words[h].keep[k]) != header_words[h].name[k])
            return false;
    }
    return true;
}

static int on_header_field_complete(llhttp_t *p)
{
    struct http_request *r = req_of(p);
    if (++r->nheaders > r->limits->max_headers) return fail(r, 431, "Too many header fields.");
    r->current = HDR_NONE;
    if (r->field_len < sizeof(r->field)) {
        for (size_t i = 0; i < n_by_length[r->field_len]; i++) {
            enum http_header h = by_length[r->field_len][i];
            if (!field_is(r->field, h, r->field_len)) continue;
            if (!r->hdr[h].present) { /* the first occurrence wins; repeated ones are ignored */
                r->current = h;
                r->hdr[h].present = true;
                r->hdr[h].off = (uint32_t)r->headers.len;
                r->hdr[h].len = 0;
            }
            break;
        }
    }
    r->field_len = 0;
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    struct http_request *r = req_of(p);
    if (count_header_bytes(r, len)) return -1;
    if (r->current == HDR_NONE) return 0;
    if (buf_append(&r->headers, at, len)) return fail(r, 503, "Out of memory.");
    r->hdr[r->current].len += (uint32_t)len;
    return 0;
}

static int on_headers_complete(llhttp_t *p)
{
    struct http_request *r = req_of(p);
    if ((p->flags & F_CONTENT_LENGTH) && p->content_length > r->limits->max_body_bytes)
        return fail(r, 413, "Request body too large.");
    r->chunked_body = (p->flags & F_CHUNKED) != 0;
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    struct http_request *r = req_of(p);
    if (r->body.len + len > r->limits->max_body_bytes)
        return fail(r, 413, "Request body too large.");
    return buf_append(&r->body, at, len) ? fail(r, 503, "Out of memory.") : 0;
}

static int on_message_complete(llhttp_t *p)
{
    req_of(p)->complete = true;
    return HPE_PAUSED; /* hand the request to the broker before parsing the next one */
}

static llhttp_settings_t settings;
static void settings_setup(void)
{
    static int done;
    if (done) return;
    llhttp_settings_init(&settings);
    settings.on_message_begin = on_message_begin;
    settings.on_url = on_url;
    settings.on_header_field = on_header_field;
    settings.on_header_field_complete = on_header_field_complete;
    settings.on_header_value = on_header_value;
    settings.on_headers_complete = on_headers_complete;
    settings.on_body = on_body;
    settings.on_message_complete = on_message_complete;
    for (int h = 0; h < HDR_COUNT; h++) {
        size_t len = strlen(header_names[h]);
        if (len > 8 * NAME_WORDS || n_by_length[len] == MAX_SAME_LENGTH) abort();
        by_length[len][n_by_length[len]++] = (uint8_t)h;
        unsigned char name[8 * NAME_WORDS] = {0}, fold[8 * NAME_WORDS] = {0},
                               keep[8 * NAME_WORDS] = {0};
        for (size_t i = 0; i < len; i++) {
            name[i] = (unsigned char)header_names[h][i];
            fold[i] = name[i] >= 'a' && name[i] <= 'z' ? 0x20 : 0;
            keep[i] = 0xff;
        }
        for (size_t k = 0; k < NAME_WORDS; k++) {
            header_words[h].name[k] = swar_load(name + 8 * k);
            header_words[h].fold[k] = swar_load(fold + 8 * k);
            header_words[h].keep[k] = swar_load(keep + 8 * k);
        }
    }
    done = 1;
}

void http_request_init(struct http_request *r, const struct http_limits *limits)
{
    memset(r, 0, sizeof(*r));
    r->limits = limits;
    llhttp_init(&r->parser, HTTP_REQUEST, &settings);
    r->parser.data = r;
    r->current = HDR_NONE;
}

void http_request_reset(struct http_request *r)
{
    r->target.len = 0;
    r->headers.len = 0;
    r->body.len = 0;
    memset(r->hdr, 0, sizeof(r->hdr));
    r->field_len = 0;
    r->current = HDR_NONE;
    r->header_bytes = 0;
    r->nheaders = 0;
    r->status = 0;
    r->reason = NULL;
    r->started = false;
    r->complete = false;
    r->chunked_body = false;
    r->continue_sent = false; /* each request with Expect: 100-continue gets its own */
}

void http_request_free(struct http_request *r)
{
    buf_free(&r->target);
    buf_free(&r->headers);
    buf_free(&r->body);
    buf_free(&r->unread);
}

size_t http_request_feed(struct http_request *r, const char *data, size_t len, bool *error)
{
    *error = false;
    if (llhttp_get_errno(&r->parser) == HPE_PAUSED) llhttp_resume(&r->parser);
    llhttp_errno_t e = llhttp_execute(&r->parser, data, len);
    if (e == HPE_OK) return len;
    if (e == HPE_PAUSED && r->complete) return (size_t)(llhttp_get_error_pos(&r->parser) - data);
    *error = true;
    return len;
}

/* llhttp sets up the settings lazily; make sure it happens before any parser exists. */
__attribute__((constructor)) static void http_module_init(void)
{
    settings_setup();
}

struct http_refusal http_request_refusal(const struct http_request *r)
{
    if (!r->status && llhttp_get_errno(&r->parser) == HPE_INVALID_VERSION)
        return (struct http_refusal){505, "HTTP version not supported."};
    return (struct http_refusal){r->status ? r->status : 400,
                                 r->reason ? r->reason : "Malformed HTTP request."};
}

struct http_refusal http_request_abandoned(const struct http_request *r, bool timed_out)
{
    if (!r || !r->started) return (struct http_refusal){0, NULL};
    if (timed_out) return (struct http_refusal){408, "Request timeout."};
    return (struct http_refusal){400, "Request cut short: the connection was closed before the "
                                      "whole request arrived."};
}

bool http_request_continue_due(struct http_request *r)
{
    size_t len;
    const char *expect = http_header_value(r, HDR_EXPECT, &len);
    if (r->complete || r->continue_sent || !expect || len != 12 ||
        strncasecmp(expect, "100-continue", 12) != 0)
        return false;
    r->continue_sent = true;
    return true;
}
