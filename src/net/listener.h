/* Listening sockets: one per worker on the same address (SO_REUSEPORT), so the kernel spreads
 * new connections over the workers and no worker ever accepts for another. */
#ifndef SSEB_NET_LISTENER_H
#define SSEB_NET_LISTENER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Opens a non-blocking listener on host (empty: every address, IPv6 dual-stack first) and port
 * (0: an ephemeral one, written to *bound_port). exclusive (the first worker's): refuse a port
 * another process already listens on, which SO_REUSEPORT alone would share with it. Returns the
 * descriptor, or -1 with a reason in err. */
int listener_open(const char *host_or_empty, uint16_t port, bool exclusive, char *err,
                  size_t errlen, uint16_t *bound_port);

#endif
