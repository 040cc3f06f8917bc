/* Small helpers: URL encoding, topics, HTTP response heads, PRNG. */

#include "loadgen.h"

size_t url_encode(char *out, size_t cap, const char *in)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p && o + 4 < cap; p++) {
        if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    out[o] = '\0';
    return o;
}

/* Selector a subscriber of group g asks for. */
void selector_for(char *out, size_t cap, uint32_t g)
{
    if (!O.tmpl)
        snprintf(out, cap, "%s%u", O.prefix, g);
    else if (O.topics == 1)
        snprintf(out, cap, "%s{id}", O.prefix);
    else
        snprintf(out, cap, "%sg%u/{id}", O.prefix, g);
}

/* Topic an update for group g is published to (id: random part matched by the template). */
void topic_for(char *out, size_t cap, uint32_t g, uint32_t id)
{
    if (!O.tmpl)
        snprintf(out, cap, "%s%u", O.prefix, g);
    else if (O.topics == 1)
        snprintf(out, cap, "%s%u", O.prefix, id);
    else
        snprintf(out, cap, "%sg%u/%u", O.prefix, g, id);
}

uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* Parses a response head (status line and headers, h[len] must be '\0'). 0 ok, -1 bad. */
int parse_head(char *h, struct head *hd)
{
    hd->status = 0;
    hd->chunked = 0;
    hd->clen = -1;
    if (strncmp(h, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)h[7]) || h[8] != ' ') return -1;
    hd->close = h[7] == '0';
    for (int i = 9; i < 12; i++) {
        if (!isdigit((unsigned char)h[i])) return -1;
        hd->status = hd->status * 10 + (h[i] - '0');
    }
    char *line = strstr(h, "\r\n");
    while (line) {
        line += 2;
        char *end = strstr(line, "\r\n");
        if (!end || end == line) break;
        *end = '\0';
        char *colon = strchr(line, ':');
        if (colon) {
            size_t nl = (size_t)(colon - line);
            char *v = colon + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            if (nl == 17 && strncasecmp(line, "transfer-encoding", nl) == 0)
                hd->chunked = strcasestr(v, "chunked") != NULL;
            else if (nl == 14 && strncasecmp(line, "content-length", nl) == 0)
                hd->clen = strtoll(v, NULL, 10);
            else if (nl == 10 && strncasecmp(line, "connection", nl) == 0) {
                if (strcasestr(v, "close")) hd->close = 1;
                if (strcasestr(v, "keep-alive")) hd->close = 0;
            }
        }
        *end = '\r';
        line = end;
    }
    return 0;
}

void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}
