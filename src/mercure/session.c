#include "mercure/session.h"

#include <stdlib.h>

#include "net/conn.h"

struct session *session_of(struct conn *c)
{
    if (!c->session) c->session = calloc(1, sizeof(struct session));
    return c->session;
}
