/* The Mercure protocol (draft-07) on top of the server layer: the handler table broker.c hands to
 * the workers (server/server.h), with a struct mercure (mercure/context.h) as its context. */
#ifndef SSEB_MERCURE_MERCURE_H
#define SSEB_MERCURE_MERCURE_H

#include "server/server.h"

extern const struct conn_handler mercure_handler;

#endif
