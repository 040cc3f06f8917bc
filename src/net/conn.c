#include "net/conn.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http/http.h"
#include "http/response.h"

void conn_list_init(struct conn_list *list, size_t extra_bytes)
{
    *list = (struct conn_list){.extra_bytes = extra_bytes};
    list_init(&list->all);
}

struct conn *conn_new(struct conn_list *list, int fd)
{
    struct conn *c = calloc(1, sizeof(*c) + list->extra_bytes);
    if (!c) return NULL;
    c->fd = fd;
    c->state = CONN_HTTP;
    c->list = list;
    list_push_back(&list->all, &c->link);
    list->count++;
    return c;
}

void conn_free(struct conn *c)
{
    if (c->req) {
        http_request_free(c->req);
        free(c->req);
    }
    close(c->fd);
    list_remove(&c->link);
    c->list->count--;
    free(c);
}

void conn_mark_dirty(struct conn *c)
{
    if (c->dirty) return;
    c->dirty = true;
    c->dirty_next = c->list->dirty;
    c->list->dirty = c;
}

void conn_kill(struct conn *c)
{
    c->doomed = true;
    conn_mark_dirty(c);
}

int conn_write_static(struct conn *c, const char *p, size_t len)
{
    if (outq_push_static(&c->out, p, len)) return -1;
    conn_mark_dirty(c);
    return 0;
}

int conn_write_owned(struct conn *c, char *p, size_t len)
{
    if (outq_push_owned(&c->out, p, len)) return -1;
    conn_mark_dirty(c);
    return 0;
}

int conn_write_copy(struct conn *c, const char *p, size_t len)
{
    char *copy = malloc(len ? len : 1);
    if (!copy) return -1;
    memcpy(copy, p, len);
    return conn_write_owned(c, copy, len);
}

void conn_respond(struct conn *c, int status, const char *content_type, const char *extra_headers,
                  const char *body, size_t body_len, bool close)
{
    close = close || c->list->closing;
    unsigned flags = close ? HTTP_RESPONSE_CLOSE : 0;
    if (c->req && c->req->parser.method == HTTP_HEAD) flags |= HTTP_RESPONSE_HEAD;
    size_t len;
    char *resp = http_response(status, content_type, extra_headers, body, body_len, flags, &len);
    if (!resp || conn_write_owned(c, resp, len)) {
        conn_kill(c);
        return;
    }
    if (close) c->close_after = true;
}

void conn_respond_text(struct conn *c, int status, const char *extra_headers, const char *text,
                       bool close)
{
    conn_respond(c, status, "text/plain; charset=utf-8", extra_headers, text, strlen(text), close);
}
