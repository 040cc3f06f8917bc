/* The handler table the workers call: requests go to the router, and a closing connection takes
 * its Mercure state with it. */
#include "mercure/mercure.h"

#include <stdlib.h>

#include "auth/auth.h"
#include "core/event.h"
#include "mercure/routes.h"
#include "mercure/session.h"
#include "mercure/subscriptions.h"
#include "mercure/token.h"
#include "net/conn.h"

static void on_request(void *ctx, struct worker *w, struct conn *c, struct http_request *r,
                       bool keep_alive)
{
    routes_dispatch(ctx, w, c, r, keep_alive);
}

static void on_close(void *ctx, struct worker *w, struct conn *c)
{
    struct mercure *m = ctx;
    struct session *s = c->session;
    if (!s) return;
    if (s->records) subscriptions_stream_ended(m, w, c);
    if (s->claims) {
        auth_claims_free(s->claims);
        free(s->claims);
    }
    token_cache_free(s->pub_token);
    if (s->pending) {
        if (s->pending->in_store && !s->pending->completed)
            s->pending->conn = NULL; /* the store's completion frees it */
        else
            pending_publish_free(s->pending);
    }
    if (s->resume) pending_resume_release(s->resume);
    free(s->subscriber_id);
    free(s);
    c->session = NULL;
}

const struct conn_handler mercure_handler = {.on_request = on_request, .on_close = on_close};
