/* Server-Sent Events wire format. */
#ifndef SSEB_CORE_SSE_H
#define SSEB_CORE_SSE_H

#include <stddef.h>

#include "ssebroker/event.h"

/* Bytes needed to encode u: an upper bound, exact when the data has no line break (a CR, LF or
 * CRLF becomes "\ndata: ", counted here as 7 bytes on top of the break itself). */
size_t sse_encoded_size(const struct sseb_update *u, size_t id_len);

/* Writes the event block for u with the given id into out; returns the bytes written.
 * CR, LF and CRLF in data each start a new "data:" line, so no payload can break framing;
 * id and type must already be free of CR/LF/NUL (validated by the caller). */
size_t sse_encode(char *out, const struct sseb_update *u, const char *id, size_t id_len);

#endif
