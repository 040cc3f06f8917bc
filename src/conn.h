/* A client connection. It lives and dies on the worker that accepted it. */
#ifndef SSEB_CONN_H
#define SSEB_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "outq.h"

struct http_request;
struct auth_claims;
struct sub_node;
struct worker;
struct sub_record;
struct publisher_auth;

enum conn_state {
    CONN_HTTP,   /* reading requests (publishers, probes, subscribe handshakes) */
    CONN_STREAM, /* an event stream: only output from now on */
};

struct conn {
    int fd;
    uint8_t state;
    bool dirty;       /* on the worker's flush list */
    bool close_after; /* close once the output queue is written */
    bool doomed;      /* close at the next flush, discarding output (slow consumer, errors) */
    bool blocked;     /* the socket buffer is full: wait for EPOLLOUT */
    uint32_t nsubs;
    uint64_t last_seq;     /* stream: the newest event seq delivered or skipped */
    int64_t deadline_ms;   /* HTTP: header/keep-alive timeout; stream: lifetime/token expiry */
    int64_t last_write_ms; /* stream: for heartbeats */
    struct outq out;
    size_t replay_unsent;        /* stream: replayed bytes still queued, outside the live budget */
    struct http_request *req;    /* allocated while the connection speaks HTTP */
    struct sub_node *subs;       /* stream: one node per distinct selector */
    struct auth_claims *claims;  /* stream: the subscriber's token, when one was given */
    struct sub_record **records; /* stream, with --subscriptions: one per selector */
    char *subscriber_id;         /* stream, with --subscriptions: urn:uuid:... */
    struct publisher_auth *pub_auth; /* HTTP: the last verified publisher token */
    struct conn *prev, *next;        /* the worker's connections */
    struct conn *dirty_next;
};

#endif
