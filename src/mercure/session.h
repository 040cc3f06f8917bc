/* What Mercure keeps per connection, behind struct conn's session pointer: the subscriber's
 * claims and subscription records of a stream, the last verified token of a keep-alive publisher,
 * a publish parked while it waits for the store. Allocated on first use, freed with the
 * connection (mercure_handler.on_close). */
#ifndef SSEB_MERCURE_SESSION_H
#define SSEB_MERCURE_SESSION_H

#include <stdbool.h>
#include <stddef.h>

#include "core/authority.h"

struct conn;
struct event;
struct worker;
struct auth_claims;
struct sub_record;
struct publisher_token;

struct session {
    struct auth_claims *claims;        /* stream: the subscriber's token, when one was given */
    struct sub_record **records;       /* stream, with --subscriptions: one per selector */
    char *subscriber_id;               /* stream, with --subscriptions: urn:uuid:... */
    struct publisher_token *pub_token; /* HTTP: the last verified publisher token */
    struct pending_publish *pending;   /* a parked publish */
    struct pending_resume *resume;     /* a parked subscribe: its id asked of the archive or */
    bool resume_given_up;              /* the store; the wait timed out or a drain cut it */
};

/* A publish waiting for bus room or for its store. Freed when answered, or, when the connection
 * closes while the store still has it, by the store's completion (conn then NULL). */
struct pending_publish {
    struct authority_ticket ticket; /* first: the completion casts back */
    struct event *ev;
    struct worker *w; /* the connection's */
    struct conn *conn;
    bool keep_alive;
    bool in_store;  /* submitted: the outcome comes through the ticket */
    bool completed; /* the outcome came */
};
void pending_publish_free(struct pending_publish *pp);

/* A subscribe waiting for the archive to look its Last-Event-ID up, or for a shared store to
 * catch up (mercure/subscribe.c). Released when the wait ends or the connection closes: freed
 * now, or by the store's answer when it still holds the request. */
struct pending_resume;
void pending_resume_release(struct pending_resume *pr);

/* c's session, created on first use; NULL when out of memory. */
struct session *session_of(struct conn *c);

#endif
