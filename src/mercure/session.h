/* What Mercure keeps per connection, behind struct conn's session pointer: the subscriber's
 * claims and subscription records of a stream, the last verified token of a keep-alive publisher,
 * a publish parked while it waits for the store. Allocated on first use, freed with the
 * connection (mercure_handler.on_close). */
#ifndef SSEB_MERCURE_SESSION_H
#define SSEB_MERCURE_SESSION_H

#include <stdbool.h>
#include <stddef.h>

struct conn;
struct event;
struct auth_claims;
struct sub_record;
struct publisher_token;

struct session {
    struct auth_claims *claims;        /* stream: the subscriber's token, when one was given */
    struct sub_record **records;       /* stream, with --subscriptions: one per selector */
    char *subscriber_id;               /* stream, with --subscriptions: urn:uuid:... */
    struct publisher_token *pub_token; /* HTTP: the last verified publisher token */
    struct event *pending;             /* a parked publish: the event waiting for the store */
    bool pending_keep_alive;
};

/* c's session, created on first use; NULL when out of memory. */
struct session *session_of(struct conn *c);

#endif
