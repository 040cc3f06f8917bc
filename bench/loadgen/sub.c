/* Subscriber processes */

#include "loadgen.h"

static void sub_check_ready(struct subctx *X, uint64_t now)
{
    if (X->ready || X->subscribed + X->dead < X->n) return;
    X->ready = true;
    X->R->t_ready = now;
    atomic_store(&X->R->state, CS_READY);
}

static void sub_close_fd(struct subctx *X, struct sub *s)
{
    if (s->fd >= 0) {
        epoll_ctl(X->ep, EPOLL_CTL_DEL, s->fd, NULL);
        close(s->fd);
        s->fd = -1;
    }
    free(s->hdr);
    s->hdr = NULL;
}

/* A subscribe attempt failed: retry it (unless fatal or out of retries) or give up. */
static void sub_attempt_fail(struct subctx *X, uint32_t i, bool fatal, uint64_t now,
                             const char *fmt, ...)
{
    struct sub *s = &X->subs[i];
    if (!X->R->err[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(X->R->err, sizeof X->R->err, fmt, ap);
        va_end(ap);
    }
    if (s->state == S_CONNECTING || s->state == S_HEADERS) X->pending--;
    sub_close_fd(X, s);
    if (!fatal && s->attempts <= O.retries && !g_stop) {
        s->state = S_QUEUED;
        s->t_attempt = now + (uint64_t)s->attempts * 200 * NS_PER_MS; /* not before */
        X->queue[(X->q_head + X->q_count) % X->n] = i;
        X->q_count++;
        X->R->retries++;
    } else {
        s->state = S_DEAD;
        X->dead++;
        X->R->failed++;
        atomic_store_explicit(&X->R->live_failed, X->R->failed, memory_order_relaxed);
        sub_check_ready(X, now);
    }
}

static void sub_start(struct subctx *X, uint32_t i, uint64_t now)
{
    struct sub *s = &X->subs[i];
    s->attempts++;
    s->t_attempt = now;
    s->state = S_CONNECTING;
    X->pending++;
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0) {
        sub_attempt_fail(X, i, errno == EMFILE || errno == ENFILE, now, "socket: %s",
                         strerror(errno));
        return;
    }
    int one = 1;
    if (O.src_addrs > 0) {
        setsockopt(s->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        struct sockaddr_in src = {.sin_family = AF_INET};
        src.sin_addr.s_addr = htonl(0x7f000002u + s->src);
        if (bind(s->fd, (struct sockaddr *)&src, sizeof src) < 0) {
            sub_attempt_fail(X, i, false, now, "bind 127.0.0.%u: %s", 2 + s->src, strerror(errno));
            return;
        }
    }
    /* With --sub-ports, subscriber k of the whole run goes to port k mod n (one per node). */
    int port = O.n_sub_ports ? O.sub_ports[(X->lo + i) % O.n_sub_ports] : O.port;
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    dst.sin_addr = O.addr;
    if (connect(s->fd, (struct sockaddr *)&dst, sizeof dst) < 0 && errno != EINPROGRESS) {
        sub_attempt_fail(X, i, false, now, "connect: %s", strerror(errno));
        return;
    }
    struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = i};
    if (epoll_ctl(X->ep, EPOLL_CTL_ADD, s->fd, &ev) < 0)
        sub_attempt_fail(X, i, true, now, "epoll_ctl: %s", strerror(errno));
}

static uint64_t parse_num(const char **pp, const char *end, bool *ok)
{
    const char *p = *pp;
    uint64_t v = 0;
    if (p >= end || !isdigit((unsigned char)*p)) *ok = false;
    while (p < end && isdigit((unsigned char)*p))
        v = v * 10 + (uint64_t)(*p++ - '0');
    if (p < end && *p == '.') p++;
    *pp = p;
    return v;
}

/* First data line of an event: "lg.<run>.<seq>.<conn>.<group>.<t_ns>[.padding]". */
static void sub_parse_data(struct sub *s, const char *p, const char *end)
{
    bool ok = true;
    if (p < end && *p == ' ') p++;
    if (end - p < 3 || memcmp(p, "lg.", 3) != 0) {
        s->ev_kind = EV_BAD;
        return;
    }
    p += 3;
    uint64_t run = parse_num(&p, end, &ok);
    if (p < end && *p == 'p') { /* warm-up probe: lg.<run>.p<round>.<group> */
        p++;
        parse_num(&p, end, &ok);
        s->ev_grp = (uint32_t)parse_num(&p, end, &ok);
        s->ev_kind = !ok ? EV_BAD : run == SH->run_id ? EV_PROBE : EV_STALE;
        return;
    }
    s->ev_g = parse_num(&p, end, &ok);
    s->ev_c = (uint32_t)parse_num(&p, end, &ok);
    s->ev_grp = (uint32_t)parse_num(&p, end, &ok);
    s->ev_t = parse_num(&p, end, &ok);
    if (!ok)
        s->ev_kind = EV_BAD;
    else
        s->ev_kind = run == SH->run_id ? EV_OK : EV_STALE;
}

static void sub_dispatch(struct subctx *X, struct sub *s, uint64_t now)
{
    struct child_res *R = X->R;
    if (s->ev_kind == EV_STALE) {
        R->stale++;
        return;
    }
    if (s->ev_kind == EV_PROBE) {
        if (s->ev_grp == s->group && !s->probed) {
            s->probed = 1;
            R->probed++;
            atomic_store_explicit(&R->live_probed, R->probed, memory_order_relaxed);
        }
        return;
    }
    if (s->ev_kind != EV_OK || s->ev_g >= O.updates || s->ev_c >= O.pub_conns) {
        R->invalid++;
        return;
    }
    if (s->ev_grp != s->group) {
        R->unexpected++;
        return;
    }
    R->deliveries++;
    if (!s->bits) {
        s->bits = calloc(X->words + O.pub_conns, sizeof(uint64_t));
        if (!s->bits) die("out of memory for delivery bitmaps");
        s->last = s->bits + X->words;
    }
    uint64_t g = s->ev_g;
    uint64_t mask = 1ULL << (g & 63);
    if (s->bits[g >> 6] & mask) {
        R->dups++;
        return;
    }
    s->bits[g >> 6] |= mask;
    s->unique++;
    R->unique++;
    if (g + 1 < s->last[s->ev_c])
        R->reorders++;
    else
        s->last[s->ev_c] = g + 1;
    hist_add(&R->lat, now > s->ev_t ? now - s->ev_t : 0);
    if (R->t_first == 0) R->t_first = now;
    R->t_last = now;
}

static void sub_line(struct subctx *X, struct sub *s, uint64_t now)
{
    uint16_t len = s->line_len;
    if (len > 0 && s->line[len - 1] == '\r') len--;
    if (len == 0) {
        if (s->ev_has) sub_dispatch(X, s, now);
        s->ev_has = 0;
        s->ev_kind = EV_NONE;
        return;
    }
    if (s->line[0] == ':') {
        X->R->comments++;
        return;
    }
    if (len >= 5 && memcmp(s->line, "data:", 5) == 0) {
        if (!s->ev_has) sub_parse_data(s, s->line + 5, s->line + len);
        s->ev_has = 1;
    }
}

/* Decoded body bytes: split into SSE lines (LF or CRLF; a lone CR is not a terminator here). */
static void sub_sse(struct subctx *X, struct sub *s, const char *p, size_t n, uint64_t now)
{
    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        size_t seg = nl ? (size_t)(nl - p) : n;
        size_t room = LINE_CAP - s->line_len;
        size_t copy = seg < room ? seg : room;
        memcpy(s->line + s->line_len, p, copy);
        s->line_len = (uint16_t)(s->line_len + copy);
        if (!nl) return;
        sub_line(X, s, now);
        s->line_len = 0;
        p = nl + 1;
        n -= seg + 1;
    }
}

int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Response body bytes: undo chunked transfer coding if used. Returns -1 on a framing error
 * or when the server ended the stream. */
static int sub_body(struct subctx *X, struct sub *s, const char *p, size_t n, uint64_t now)
{
    X->R->bytes += n;
    if (!s->chunked) {
        sub_sse(X, s, p, n, now);
        return 0;
    }
    while (n > 0) {
        switch (s->ch_state) {
        case CH_SIZE:
        case CH_EXT: {
            char c = *p++;
            n--;
            if (c == '\n') {
                s->ch_state = s->ch_rem ? CH_DATA : CH_END;
                if (s->ch_state == CH_END) return -1;
            } else if (s->ch_state == CH_EXT || c == '\r') {
            } else if (c == ';' || c == ' ' || c == '\t') {
                s->ch_state = CH_EXT;
            } else {
                int v = hexval(c);
                if (v < 0 || s->ch_rem > (UINT64_MAX >> 4)) return -1;
                s->ch_rem = s->ch_rem * 16 + (uint64_t)v;
            }
            break;
        }
        case CH_DATA: {
            size_t k = n < s->ch_rem ? n : (size_t)s->ch_rem;
            sub_sse(X, s, p, k, now);
            p += k;
            n -= k;
            s->ch_rem -= k;
            if (s->ch_rem == 0) s->ch_state = CH_DATA_END;
            break;
        }
        case CH_DATA_END: {
            char c = *p++;
            n--;
            if (c == '\n') {
                s->ch_state = CH_SIZE;
                s->ch_rem = 0;
            } else if (c != '\r') {
                return -1;
            }
            break;
        }
        default:
            return -1;
        }
    }
    return 0;
}

static void sub_stream_end(struct subctx *X, uint32_t i, const char *why)
{
    struct sub *s = &X->subs[i];
    set_err(X->R->err, sizeof X->R->err, "stream closed: %s", why);
    sub_close_fd(X, s);
    s->state = S_CLOSED;
    X->R->disconnects++;
}

static void sub_send_request(struct subctx *X, uint32_t i, uint64_t now)
{
    struct sub *s = &X->subs[i];
    char sel[512], enc[1600], req[2048];
    selector_for(sel, sizeof sel, s->group);
    url_encode(enc, sizeof enc, sel);
    int len = snprintf(req, sizeof req,
                       "GET %s?topic=%s HTTP/1.1\r\nHost: %s:%d\r\nAccept: text/event-stream\r\n"
                       "Cache-Control: no-cache\r\nUser-Agent: ssebroker-loadgen\r\n\r\n",
                       O.sub_path, enc, O.host, O.port);
    if (len < 0 || (size_t)len >= sizeof req) {
        sub_attempt_fail(X, i, true, now, "subscribe request too long");
        return;
    }
    ssize_t w = send(s->fd, req, (size_t)len, MSG_NOSIGNAL);
    if (w != len) {
        sub_attempt_fail(X, i, false, now, "send: %s", w < 0 ? strerror(errno) : "short write");
        return;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};
    epoll_ctl(X->ep, EPOLL_CTL_MOD, s->fd, &ev);
    s->hdr = malloc(HDR_CAP + 1);
    if (!s->hdr) die("out of memory");
    s->hdr_len = 0;
    s->state = S_HEADERS;
}

/* Bytes received while waiting for the response head. */
static void sub_headers(struct subctx *X, uint32_t i, const char *p, size_t n, uint64_t now)
{
    struct sub *s = &X->subs[i];
    size_t old = s->hdr_len;
    size_t copy = n < HDR_CAP - old ? n : HDR_CAP - old;
    memcpy(s->hdr + old, p, copy);
    s->hdr_len = (uint32_t)(old + copy);
    s->hdr[s->hdr_len] = '\0';
    size_t from = old > 3 ? old - 3 : 0;
    char *end = memmem(s->hdr + from, s->hdr_len - from, "\r\n\r\n", 4);
    if (!end) {
        if (s->hdr_len >= HDR_CAP) sub_attempt_fail(X, i, true, now, "response head too large");
        return;
    }
    size_t head_len = (size_t)(end - s->hdr) + 4;
    char saved = s->hdr[head_len - 2];
    s->hdr[head_len - 2] = '\0';
    struct head hd;
    int rc = parse_head(s->hdr, &hd);
    s->hdr[head_len - 2] = saved;
    if (rc < 0) {
        sub_attempt_fail(X, i, true, now, "malformed subscribe response");
        return;
    }
    if (hd.status != 200) {
        /* 5xx and 429 are worth another try, anything else is a configuration problem */
        bool fatal = !(hd.status >= 500 || hd.status == 429);
        sub_attempt_fail(X, i, fatal, now, "subscribe: HTTP %d", hd.status);
        return;
    }
    X->pending--;
    X->subscribed++;
    X->R->subscribed++;
    atomic_store_explicit(&X->R->live_subscribed, X->R->subscribed, memory_order_relaxed);
    hist_add(&X->R->sublat, now - s->t_attempt);
    s->state = S_STREAM;
    s->chunked = (uint8_t)hd.chunked;
    s->ch_state = CH_SIZE;
    s->ch_rem = 0;
    s->line_len = 0;
    /* body bytes that came with the head: rest of the head buffer, then what did not fit */
    char *tmp = s->hdr;
    s->hdr = NULL;
    int brc = sub_body(X, s, tmp + head_len, s->hdr_len - head_len, now);
    if (brc == 0 && copy < n) brc = sub_body(X, s, p + copy, n - copy, now);
    free(tmp);
    sub_check_ready(X, now);
    if (brc < 0) sub_stream_end(X, i, "chunked framing error or end of stream");
}

static void sub_event(struct subctx *X, uint32_t i, uint32_t events, uint64_t now)
{
    struct sub *s = &X->subs[i];
    if (s->state == S_CONNECTING) {
        int err = 0;
        socklen_t l = sizeof err;
        if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0) err = errno;
        if (err || (events & (EPOLLERR | EPOLLHUP))) {
            sub_attempt_fail(X, i, false, now, "connect: %s", err ? strerror(err) : "hang-up");
            return;
        }
        if (events & EPOLLOUT) sub_send_request(X, i, now);
        return;
    }
    if (s->state != S_HEADERS && s->state != S_STREAM) return;
    for (int rounds = 0; rounds < 4; rounds++) {
        ssize_t r = recv(s->fd, X->rbuf, sizeof X->rbuf, 0);
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) return;
        if (r <= 0) {
            const char *why = r == 0 ? "EOF" : strerror(errno);
            if (s->state == S_HEADERS)
                sub_attempt_fail(X, i, false, now, "closed before subscribe response: %s", why);
            else
                sub_stream_end(X, i, why);
            return;
        }
        if (s->state == S_HEADERS) {
            sub_headers(X, i, X->rbuf, (size_t)r, now);
        } else if (sub_body(X, s, X->rbuf, (size_t)r, now) < 0) {
            sub_stream_end(X, i, "chunked framing error or end of stream");
            return;
        }
        if (s->state != S_STREAM || (size_t)r < sizeof X->rbuf) return;
    }
}

/* After the publisher finished: exact loss per subscriber against the acknowledged updates. */
static void sub_loss(struct subctx *X)
{
    struct child_res *R = X->R;
    uint64_t *start = calloc((size_t)O.topics + 1, sizeof *start);
    uint32_t *list = malloc(sizeof(uint32_t) * (size_t)(SH->acked_total + 1));
    if (!start || !list) die("out of memory for loss accounting");
    for (uint64_t g = 0; g < O.updates; g++)
        if (SH->acked_bits[g >> 6] & (1ULL << (g & 63))) start[SH->pub_group[g] + 1]++;
    for (uint32_t t = 0; t < O.topics; t++)
        start[t + 1] += start[t];
    uint64_t *fill = calloc((size_t)O.topics, sizeof *fill);
    if (!fill) die("out of memory");
    for (uint64_t g = 0; g < O.updates; g++) {
        if (!(SH->acked_bits[g >> 6] & (1ULL << (g & 63)))) continue;
        uint32_t t = SH->pub_group[g];
        list[start[t] + fill[t]++] = (uint32_t)g;
    }
    for (uint32_t i = 0; i < X->n; i++) {
        struct sub *s = &X->subs[i];
        if (s->state != S_STREAM && s->state != S_CLOSED) continue;
        uint64_t lost = 0, b = start[s->group], e = start[s->group + 1];
        R->expected += e - b;
        for (uint64_t k = b; k < e; k++) {
            uint32_t g = list[k];
            if (!s->bits || !(s->bits[g >> 6] & (1ULL << (g & 63)))) lost++;
        }
        R->lost += lost;
        if (lost) R->subs_with_loss++;
    }
    free(fill);
    free(list);
    free(start);
}

/* True when every live subscriber holds every acknowledged update of its group. */
static bool sub_drained(struct subctx *X)
{
    for (uint32_t i = 0; i < X->n; i++) {
        struct sub *s = &X->subs[i];
        if (s->state == S_STREAM && s->unique < SH->acked_group[s->group]) return false;
    }
    return true;
}

void child_main(uint32_t ci, uint32_t lo, uint32_t hi, pid_t parent, uint64_t hard_deadline)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(3);
    signal(SIGINT, SIG_IGN); /* the parent coordinates the stop */
    struct subctx *X = calloc(1, sizeof *X);
    if (!X) die("out of memory");
    X->R = &SH->child[ci];
    X->n = hi - lo;
    X->lo = lo;
    X->words = (O.updates + 63) / 64;
    X->subs = calloc(X->n ? X->n : 1, sizeof *X->subs);
    X->queue = calloc(X->n ? X->n : 1, sizeof *X->queue);
    if (!X->subs || !X->queue) die("out of memory for %u subscribers", X->n);
    X->ep = epoll_create1(EPOLL_CLOEXEC);
    if (X->ep < 0) die("epoll_create1: %s", strerror(errno));
    for (uint32_t i = 0; i < X->n; i++) {
        X->subs[i].fd = -1;
        X->subs[i].group = (lo + i) % O.topics;
        X->subs[i].src = O.src_addrs ? (lo + i) % O.src_addrs : 0;
        X->queue[i] = i;
    }
    X->q_count = X->n;
    X->R->assigned = X->n;
    uint64_t t0 = now_ns();
    X->R->t_start = t0;
    sub_check_ready(X, t0);
    double rate = O.connect_rate / O.procs;
    uint64_t started = 0, last_scan = t0;
    uint64_t attempt_limit = (uint64_t)O.connect_timeout_ms * NS_PER_MS;
    struct epoll_event evs[EPOLL_BATCH];
    for (;;) {
        uint64_t now = now_ns();
        if (X->q_count > 0) {
            uint64_t allowed =
                rate > 0 ? (uint64_t)((double)(now - t0) / 1e9 * rate) + 1 : UINT64_MAX;
            int burst = 0;
            while (X->q_count > 0 && X->pending < O.max_pending && started < allowed &&
                   burst < 512) {
                uint32_t i = X->queue[X->q_head];
                if (X->subs[i].t_attempt > now) break; /* a retry, backing off */
                X->q_head = (X->q_head + 1) % X->n;
                X->q_count--;
                sub_start(X, i, now);
                started++;
                burst++;
            }
        }
        int ne = epoll_wait(X->ep, evs, EPOLL_BATCH, X->q_count > 0 ? 1 : 20);
        now = now_ns();
        for (int k = 0; k < ne; k++)
            sub_event(X, evs[k].data.u32, evs[k].events, now);
        if (now - last_scan < 20 * NS_PER_MS) continue;
        last_scan = now;
        if (X->pending > 0) {
            for (uint32_t i = 0; i < X->n; i++) {
                struct sub *s = &X->subs[i];
                if ((s->state == S_CONNECTING || s->state == S_HEADERS) &&
                    now - s->t_attempt > attempt_limit)
                    sub_attempt_fail(X, i, false, now, "subscribe timed out after %u ms",
                                     O.connect_timeout_ms);
            }
        }
        atomic_store_explicit(&X->R->live_unique, X->R->unique, memory_order_relaxed);
        int ph = atomic_load(&SH->phase);
        if (ph == PH_ABORT) break;
        if (ph == PH_DRAIN && (now >= SH->drain_deadline || sub_drained(X))) break;
        if (getppid() != parent) _exit(3);
        if (now >= hard_deadline) break; /* the parent should have ended the run long ago */
    }
    sub_loss(X);
    atomic_store(&X->R->state, CS_DONE);
    _exit(0);
}
