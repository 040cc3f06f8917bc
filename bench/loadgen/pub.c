/* Publisher (parent process) */

#include "loadgen.h"

static void pub_update_events(struct pubctx *P, struct pubconn *c, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.u32 = c->idx};
    epoll_ctl(P->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void pub_fail_inflight(struct pubctx *P, struct pubconn *c, const char *why)
{
    if (c->qn) set_err(P->st.err, sizeof P->st.err, "publish: %s", why);
    P->st.failed += c->qn;
    P->inflight -= c->qn;
    c->qn = 0;
    c->qh = 0;
}

static void pub_close(struct pubctx *P, struct pubconn *c, const char *why)
{
    pub_fail_inflight(P, c, why);
    if (c->fd >= 0) {
        epoll_ctl(P->ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->state = P_DOWN;
    c->wlen = c->woff = c->rlen = 0;
    c->want_out = false;
}

static void pub_connect(struct pubctx *P, struct pubconn *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        set_err(P->st.err, sizeof P->st.err, "publisher socket: %s", strerror(errno));
        return;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)O.port)};
    dst.sin_addr = O.addr;
    if (connect(c->fd, (struct sockaddr *)&dst, sizeof dst) < 0 && errno != EINPROGRESS) {
        set_err(P->st.err, sizeof P->st.err, "publisher connect: %s", strerror(errno));
        close(c->fd);
        c->fd = -1;
        return;
    }
    c->state = P_CONNECTING;
    struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = c->idx};
    epoll_ctl(P->ep, EPOLL_CTL_ADD, c->fd, &ev);
}

static void pub_flush(struct pubctx *P, struct pubconn *c)
{
    while (c->woff < c->wlen) {
        ssize_t w = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno == EAGAIN) break;
        if (w <= 0) {
            pub_close(P, c, strerror(errno));
            return;
        }
        c->woff += (size_t)w;
    }
    if (c->woff == c->wlen) c->woff = c->wlen = 0;
    bool want = c->wlen > 0;
    if (want != c->want_out) {
        c->want_out = want;
        pub_update_events(P, c, EPOLLIN | (want ? EPOLLOUT : 0));
    }
}

/* Appends a request to connection c: update number g, or with round > 0 a warm-up probe for
 * topic group g. */
static void pub_queue(struct pubctx *P, struct pubconn *c, uint64_t g, uint32_t round)
{
    uint32_t grp;
    if (round > 0)
        grp = (uint32_t)g;
    else if (O.round_robin)
        grp = (uint32_t)(g % O.topics);
    else
        grp = (uint32_t)(xorshift(&P->rng) % O.topics);
    uint32_t id = O.tmpl ? (uint32_t)(xorshift(&P->rng) % O.tmpl_ids) : 0;
    char topic[512];
    topic_for(topic, sizeof topic, grp, id);
    size_t tlen = url_encode(P->topic_enc, 1600, topic);
    uint64_t t = now_ns();
    int plen;
    if (round > 0)
        plen = snprintf(P->payload, 128, "lg.%" PRIu64 ".p%u.%u", SH->run_id, round, grp);
    else
        plen = snprintf(P->payload, 128, "lg.%" PRIu64 ".%" PRIu64 ".%u.%u.%" PRIu64, SH->run_id, g,
                        c->idx, grp, t);
    size_t pl = (size_t)plen;
    if (O.payload_size > pl && round == 0) {
        P->payload[pl++] = '.';
        while (pl < O.payload_size)
            P->payload[pl++] = 'x';
    }
    P->payload[pl] = '\0';
    size_t need = 1024 + tlen + pl + (O.jwt ? strlen(O.jwt) : 0);
    if (c->wcap - c->wlen < need) {
        c->wcap = c->wlen + need * 2;
        c->wbuf = realloc(c->wbuf, c->wcap);
        if (!c->wbuf) die("out of memory");
    }
    char *o = c->wbuf + c->wlen;
    size_t room = c->wcap - c->wlen;
    int n;
    if (O.target == TARGET_NCHAN) {
        n = snprintf(o, room,
                     "POST %s?topic=%s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: text/plain\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     O.pub_path, P->topic_enc, O.host, O.port, pl, P->payload);
    } else {
        size_t blen = 6 + tlen + 6 + pl;
        char auth[1200] = "";
        if (O.jwt) snprintf(auth, sizeof auth, "Authorization: Bearer %s\r\n", O.jwt);
        n = snprintf(o, room,
                     "POST %s HTTP/1.1\r\nHost: %s:%d\r\n%s"
                     "Content-Type: application/x-www-form-urlencoded\r\n"
                     "Content-Length: %zu\r\n\r\ntopic=%s&data=%s",
                     O.pub_path, O.host, O.port, auth, blen, P->topic_enc, P->payload);
    }
    if (n < 0 || (size_t)n >= room) die("publish request does not fit");
    c->wlen += (size_t)n;
    uint32_t slot = (c->qh + c->qn) % MAX_PIPELINE;
    c->seq[slot] = round > 0 ? PROBE_BIT | g : g;
    c->tsend[slot] = t;
    c->qn++;
    P->inflight++;
    if (round == 0) {
        SH->pub_group[g] = grp;
        P->st.sent++;
    }
}

static void pub_response(struct pubctx *P, struct pubconn *c, int status, uint64_t now)
{
    if (status >= 100 && status < 200) return; /* interim response */
    if (c->qn == 0) {
        set_err(P->st.err, sizeof P->st.err, "publish: response without request");
        return;
    }
    uint64_t g = c->seq[c->qh];
    uint64_t t = c->tsend[c->qh];
    c->qh = (c->qh + 1) % MAX_PIPELINE;
    c->qn--;
    P->inflight--;
    bool ok = status >= 200 && status < 300;
    if (g & PROBE_BIT) {
        if (!ok) {
            set_err(P->st.err, sizeof P->st.err, "warm-up publish: HTTP %d", status);
            P->probe_rejected = true;
        }
    } else if (ok) {
        P->st.acked++;
        SH->acked_bits[g >> 6] |= 1ULL << (g & 63);
        SH->acked_group[SH->pub_group[g]]++;
        hist_add(&P->st.ack, now - t);
    } else {
        P->st.failed++;
        set_err(P->st.err, sizeof P->st.err, "publish: HTTP %d", status);
    }
}

/* Parses complete responses out of the read buffer. */
static void pub_read(struct pubctx *P, struct pubconn *c, uint64_t now)
{
    ssize_t r = recv(c->fd, c->rbuf + c->rlen, PUB_RBUF - c->rlen, 0);
    if (r < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (r <= 0) {
        pub_close(P, c, r == 0 ? "connection closed by server" : strerror(errno));
        return;
    }
    c->rlen += (size_t)r;
    for (;;) {
        char *buf = c->rbuf;
        char *he = memmem(buf, c->rlen, "\r\n\r\n", 4);
        if (!he) {
            if (c->rlen >= PUB_RBUF) pub_close(P, c, "response head too large");
            return;
        }
        size_t hlen = (size_t)(he - buf) + 4;
        char saved = buf[hlen - 2];
        buf[hlen - 2] = '\0';
        struct head hd;
        int rc = parse_head(buf, &hd);
        buf[hlen - 2] = saved;
        if (rc < 0) {
            pub_close(P, c, "malformed response");
            return;
        }
        size_t total;
        if (hd.status < 200 || hd.status == 204 || hd.status == 304) {
            total = hlen;
        } else if (hd.chunked) {
            size_t pos = hlen;
            total = 0;
            while (!total) {
                char *crlf = memmem(buf + pos, c->rlen - pos, "\r\n", 2);
                if (!crlf) break;
                uint64_t sz = 0;
                for (char *q = buf + pos; q < crlf && hexval(*q) >= 0; q++)
                    sz = sz * 16 + (uint64_t)hexval(*q);
                pos = (size_t)(crlf - buf) + 2;
                if (sz == 0) { /* trailers up to an empty line */
                    for (;;) {
                        crlf = memmem(buf + pos, c->rlen - pos, "\r\n", 2);
                        if (!crlf) break;
                        size_t l = (size_t)(crlf - (buf + pos));
                        pos += l + 2;
                        if (l == 0) {
                            total = pos;
                            break;
                        }
                    }
                    break;
                }
                if (c->rlen - pos < sz + 2) break;
                pos += sz + 2;
            }
            if (!total) {
                if (c->rlen >= PUB_RBUF) pub_close(P, c, "response too large");
                return;
            }
        } else if (hd.clen >= 0) {
            if (c->rlen - hlen < (size_t)hd.clen) {
                if (hlen + (size_t)hd.clen > PUB_RBUF) pub_close(P, c, "response too large");
                return;
            }
            total = hlen + (size_t)hd.clen;
        } else {
            hd.close = 1; /* body delimited by the end of the connection: not kept */
            total = c->rlen;
        }
        pub_response(P, c, hd.status, now);
        memmove(buf, buf + total, c->rlen - total);
        c->rlen -= total;
        if (hd.close && hd.status >= 200) {
            pub_close(P, c, "server closed the keep-alive connection");
            return;
        }
    }
}

static void pub_event(struct pubctx *P, struct pubconn *c, uint32_t events, uint64_t now)
{
    if (c->state == P_CONNECTING) {
        int err = 0;
        socklen_t l = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0) err = errno;
        if (err) {
            set_err(P->st.err, sizeof P->st.err, "publisher connect: %s", strerror(err));
            pub_close(P, c, strerror(err));
            return;
        }
        c->state = P_UP;
        c->want_out = false;
        pub_update_events(P, c, EPOLLIN);
        return;
    }
    if (c->state != P_UP) return;
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) pub_read(P, c, now);
    if (c->state == P_UP && (events & EPOLLOUT)) pub_flush(P, c);
}

void pub_init(struct pubctx *P)
{
    P->ep = epoll_create1(EPOLL_CLOEXEC);
    if (P->ep < 0) die("epoll_create1: %s", strerror(errno));
    P->c = calloc(O.pub_conns, sizeof *P->c);
    P->topic_enc = malloc(1600);
    P->payload = malloc(O.payload_size + 128);
    if (!P->c || !P->topic_enc || !P->payload) die("out of memory");
    P->rng = O.seed ? O.seed : 0x9e3779b97f4a7c15ULL;
    for (uint32_t i = 0; i < O.pub_conns; i++) {
        struct pubconn *c = &P->c[i];
        c->idx = i;
        c->fd = -1;
        c->rbuf = malloc(PUB_RBUF);
        if (!c->rbuf) die("out of memory");
        pub_connect(P, c);
    }
}

/* Connections that can take another request now. */
static struct pubconn *pub_free_conn(struct pubctx *P)
{
    for (uint32_t tries = 0; tries < O.pub_conns; tries++) {
        struct pubconn *c = &P->c[P->rr];
        P->rr = (P->rr + 1) % O.pub_conns;
        if (c->state == P_UP && c->qn < O.pipeline) return c;
    }
    return NULL;
}

static void pub_flush_all(struct pubctx *P)
{
    for (uint32_t i = 0; i < O.pub_conns; i++)
        if (P->c[i].state == P_UP && P->c[i].wlen > P->c[i].woff) pub_flush(P, &P->c[i]);
}

/* One turn of the publisher loop: reconnect closed connections (at most every 10 ms, 1000 in
 * all), wait up to timeout_ms for events and handle them. Returns the number of connections
 * up, or -1 when reconnecting gave up. */
static int pub_turn(struct pubctx *P, int timeout_ms)
{
    static uint64_t last_reconnect;
    uint64_t now = now_ns();
    int up = 0;
    for (uint32_t i = 0; i < O.pub_conns; i++)
        up += P->c[i].state == P_UP;
    if (up < (int)O.pub_conns && now - last_reconnect > 10 * NS_PER_MS) {
        last_reconnect = now;
        for (uint32_t i = 0; i < O.pub_conns; i++) {
            if (P->c[i].state != P_DOWN) continue;
            if (P->st.reconnects >= 1000) {
                set_err(P->st.err, sizeof P->st.err, "publisher: too many reconnects");
                return -1;
            }
            P->st.reconnects++;
            pub_connect(P, &P->c[i]);
        }
    }
    struct epoll_event evs[EPOLL_BATCH];
    int ne = epoll_wait(P->ep, evs, EPOLL_BATCH, timeout_ms);
    now = now_ns();
    for (int k = 0; k < ne; k++)
        pub_event(P, &P->c[evs[k].data.u32], evs[k].events, now);
    return up;
}

static bool pub_stop_requested(uint64_t deadline)
{
    return g_stop || now_ns() >= deadline || atomic_load(&SH->phase) == PH_ABORT;
}

static bool warm_stop(struct pubctx *P, uint64_t until_ns)
{
    return P->probe_rejected || pub_stop_requested(until_ns);
}

static uint64_t live_sum(bool probed)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < O.procs; i++)
        n +=
            atomic_load_explicit(probed ? &SH->child[i].live_probed : &SH->child[i].live_subscribed,
                                 memory_order_relaxed);
    return n;
}

/* Warm-up: publish one probe per topic group, again every 300 ms, until every subscribed
 * stream has received one (the hub has really registered it) or until until_ns. Returns the
 * number of rounds; *missing gets the streams that never saw a probe. */
uint32_t pub_warmup(struct pubctx *P, uint64_t until_ns, uint64_t *missing)
{
    uint32_t round = 0;
    uint64_t want = live_sum(false);
    while (!warm_stop(P, until_ns) && live_sum(true) < want) {
        round++;
        for (uint32_t g = 0; g < O.topics && !warm_stop(P, until_ns); g++) {
            struct pubconn *c;
            while (!(c = pub_free_conn(P)) && !warm_stop(P, until_ns))
                if (pub_turn(P, 5) < 0) goto out;
            if (!c) break;
            pub_queue(P, c, g, round);
            pub_flush(P, c);
        }
        uint64_t round_end = now_ns() + 300 * NS_PER_MS;
        while (now_ns() < round_end && !warm_stop(P, until_ns) && live_sum(true) < want)
            if (pub_turn(P, 5) < 0) goto out;
    }
out:
    while (P->inflight > 0 && !pub_stop_requested(until_ns))
        if (pub_turn(P, 5) < 0) break;
    uint64_t got = live_sum(true);
    *missing = want > got ? want - got : 0;
    return round;
}

/* Publishes O.updates updates; returns false when it was cut short. */
bool publish_all(struct pubctx *P, uint64_t deadline)
{
    bool complete = false;
    uint64_t t_start = 0;
    for (;;) {
        if (pub_stop_requested(deadline)) break;
        if (P->st.sent == O.updates && P->inflight == 0) {
            complete = true;
            break;
        }
        uint32_t up = 0;
        for (uint32_t i = 0; i < O.pub_conns; i++)
            up += P->c[i].state == P_UP;
        if (!t_start && up == O.pub_conns) t_start = P->st.t_start = now_ns();
        int timeout = 10;
        if (t_start && P->st.sent < O.updates) {
            uint64_t now = now_ns();
            uint64_t allowed = O.updates;
            if (O.rate > 0) {
                double due = (double)(now - t_start) / 1e9 * O.rate;
                allowed = (uint64_t)due + 1;
                if (allowed > O.updates) allowed = O.updates;
            }
            struct pubconn *c = NULL;
            while (P->st.sent < allowed && (c = pub_free_conn(P)))
                pub_queue(P, c, P->st.sent, 0);
            pub_flush_all(P);
            /* window full: wait for a response; otherwise sleep until the next update is due */
            if (O.rate > 0 && P->st.sent < O.updates && pub_free_conn(P)) {
                uint64_t next = t_start + (uint64_t)((double)P->st.sent / O.rate * 1e9);
                now = now_ns();
                timeout = next > now ? (int)((next - now + NS_PER_MS - 1) / NS_PER_MS) : 0;
                if (timeout > 10) timeout = 10;
            }
        }
        if (pub_turn(P, timeout) < 0) break;
    }
    P->st.t_end = now_ns();
    if (!P->st.t_start) P->st.t_start = P->st.t_end;
    for (uint32_t i = 0; i < O.pub_conns; i++)
        pub_close(P, &P->c[i], "cut short");
    return complete;
}
