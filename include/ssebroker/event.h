/* An update as a publisher describes it (Mercure fields). */
#ifndef SSEBROKER_EVENT_H
#define SSEBROKER_EVENT_H

#include <stdbool.h>
#include <stddef.h>

struct sseb_str {
    const char *p;
    size_t len;
};

struct sseb_update {
    const struct sseb_str *topics; /* first canonical, the rest alternates; at least one */
    size_t ntopics;
    struct sseb_str data;
    struct sseb_str id;    /* empty: the broker generates one (--event-ids) */
    struct sseb_str type;  /* SSE "event:" field; empty: none */
    struct sseb_str retry; /* digits; empty: none */
    bool private_;
};

#endif
