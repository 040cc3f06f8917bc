/*
 * loadgen - Server-Sent Events load generator for Mercure-style hubs (ssebroker, nchan, a
 * Node.js hub).
 *
 * It opens N SSE subscriber connections spread over M topics (or URI-template selectors) at a
 * controlled connect rate, waits until every one of them is subscribed (200 and headers
 * received), then publishes K updates over keep-alive publisher connections with a bounded
 * in-flight window. Every payload carries the run id, a global sequence number, the publisher
 * connection, the topic group and the CLOCK_MONOTONIC send time, so the subscribers measure
 * publish-to-delivery latency, loss, duplicates and reordering (per subscriber and publisher
 * connection: a connection sends its next request only after the previous response, or
 * pipelines them in order, so the hub accepted them in that order).
 *
 * Subscribers live in P forked processes (--procs) so that more streams than one process's
 * open-file limit can be held; the parent process publishes, samples the server process tree
 * (/proc: VmRSS, Pss, CPU time) and aggregates. Loopback only; every phase is bounded by
 * --timeout and the program stops by itself.
 *
 * Output: a human summary, then one JSON line (starts with '{') on stdout; progress on stderr.
 * Exit status: 0 all good, 1 anomalies (loss, duplicates, failures, timeout), 2 usage/setup.
 *
 * Build: gcc -O2 -D_GNU_SOURCE -std=c11 -o loadgen bench/loadgen.c -lpthread -lm
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define NS_PER_S        1000000000ULL
#define NS_PER_MS       1000000ULL
#define LINE_CAP        120  /* bytes kept of one SSE line (the payload prefix fits) */
#define HDR_CAP         8192 /* response header limit */
#define RBUF_SIZE       65536
#define HIST_N          2432 /* log-linear buckets: 128 linear, then 64 per power of two */
#define MAX_PUB_CONNS   256
#define MAX_PIPELINE    64
#define MAX_SRC_ADDRS   250
#define MAX_UPDATES     100000000ULL
#define MAX_PAYLOAD     (1u << 20)
#define FD_RESERVE      32 /* descriptors kept back per process (epoll, stdio, publishers) */
#define EPOLL_BATCH     512
#define DEFAULT_JWT_KEY "!ChangeThisMercureHubJWTSecretKey!"
#define DEFAULT_CLAIMS  "{\"mercure\":{\"publish\":[\"*\"]}}"

/* ------------------------------------------------------------------------------------------ */
/* Options */

enum target { TARGET_MERCURE, TARGET_NCHAN, TARGET_NODE };

struct opts {
    const char *host;
    struct in_addr addr;
    int port;
    enum target target;
    const char *name;
    const char *label;
    uint32_t subs;
    uint32_t topics;
    bool tmpl;
    uint32_t tmpl_ids;
    bool round_robin;
    const char *prefix;
    uint64_t updates;
    double rate;
    uint32_t pub_conns;
    uint32_t pipeline;
    uint32_t payload_size;
    double connect_rate;
    uint32_t max_pending;
    uint32_t src_addrs;
    uint32_t procs;
    pid_t server_pid;
    const char *jwt;
    const char *jwt_key;
    const char *jwt_claims;
    const char *sub_path;
    const char *pub_path;
    uint32_t settle_ms;
    uint32_t warmup_ms;
    uint32_t drain_ms;
    uint32_t connect_timeout_ms;
    uint32_t retries;
    double timeout_s;
    uint64_t seed;
    bool quiet;
};

static struct opts O;
static volatile sig_atomic_t g_stop;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(uint32_t ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !g_stop) {
    }
}

static void vsay(const char *fmt, va_list ap)
{
    fputs("loadgen: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsay(fmt, ap);
    va_end(ap);
    exit(2);
}

static void note(const char *fmt, ...)
{
    if (O.quiet) return;
    va_list ap;
    va_start(ap, fmt);
    vsay(fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------------------------------ */
/* Latency histogram: values in ns, about 0.8 % relative precision, up to ~73 minutes. */

struct hist {
    uint64_t n, sum, min, max;
    uint64_t b[HIST_N];
};

static unsigned hist_index(uint64_t v)
{
    if (v < 128) return (unsigned)v;
    if (v >= (1ULL << 42)) v = (1ULL << 42) - 1;
    unsigned e = 63u - (unsigned)__builtin_clzll(v); /* 7 .. 41 */
    unsigned shift = e - 6;
    unsigned top = (unsigned)(v >> shift); /* 64 .. 127 */
    return (shift + 1) * 64 + (top - 64);
}

static uint64_t hist_value(unsigned idx)
{
    if (idx < 128) return idx;
    unsigned shift = idx / 64 - 1;
    uint64_t low = (uint64_t)(idx % 64 + 64) << shift;
    return low + ((1ULL << shift) >> 1);
}

static void hist_add(struct hist *h, uint64_t v)
{
    if (h->n == 0 || v < h->min) h->min = v;
    if (v > h->max) h->max = v;
    h->n++;
    h->sum += v;
    h->b[hist_index(v)]++;
}

static void hist_merge(struct hist *dst, const struct hist *src)
{
    if (src->n == 0) return;
    if (dst->n == 0 || src->min < dst->min) dst->min = src->min;
    if (src->max > dst->max) dst->max = src->max;
    dst->n += src->n;
    dst->sum += src->sum;
    for (unsigned i = 0; i < HIST_N; i++)
        dst->b[i] += src->b[i];
}

/* Value at quantile q (0..1) in milliseconds; 0 when empty. */
static double hist_ms(const struct hist *h, double q)
{
    if (h->n == 0) return 0.0;
    uint64_t rank = (uint64_t)ceil(q * (double)h->n);
    if (rank < 1) rank = 1;
    uint64_t acc = 0;
    for (unsigned i = 0; i < HIST_N; i++) {
        acc += h->b[i];
        if (acc >= rank) {
            uint64_t v = hist_value(i);
            if (v > h->max) v = h->max;
            if (v < h->min) v = h->min;
            return (double)v / 1e6;
        }
    }
    return (double)h->max / 1e6;
}

static double hist_mean_ms(const struct hist *h)
{
    return h->n ? (double)h->sum / (double)h->n / 1e6 : 0.0;
}

/* ------------------------------------------------------------------------------------------ */
/* HS256 JWT: SHA-256 (FIPS 180-4), HMAC (RFC 2104), base64url without padding. */

struct sha256 {
    uint32_t h[8];
    uint64_t len;
    uint8_t buf[64];
    size_t n;
};

static const uint32_t SHA_K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

static uint32_t ror32(uint32_t x, unsigned r)
{
    return (x >> r) | (x << (32 - r));
}

static void sha256_block(struct sha256 *c, const uint8_t *p)
{
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ror32(w[i - 15], 7) ^ ror32(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ror32(w[i - 2], 17) ^ ror32(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = c->h[0], b = c->h[1], cc = c->h[2], d = c->h[3];
    uint32_t e = c->h[4], f = c->h[5], g = c->h[6], h = c->h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = h + (ror32(e, 6) ^ ror32(e, 11) ^ ror32(e, 25)) + ((e & f) ^ (~e & g)) +
                      SHA_K[i] + w[i];
        uint32_t t2 = (ror32(a, 2) ^ ror32(a, 13) ^ ror32(a, 22)) + ((a & b) ^ (a & cc) ^ (b & cc));
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = cc;
        cc = b;
        b = a;
        a = t1 + t2;
    }
    c->h[0] += a;
    c->h[1] += b;
    c->h[2] += cc;
    c->h[3] += d;
    c->h[4] += e;
    c->h[5] += f;
    c->h[6] += g;
    c->h[7] += h;
}

static void sha256_init(struct sha256 *c)
{
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(c->h, iv, sizeof iv);
    c->len = 0;
    c->n = 0;
}

static void sha256_update(struct sha256 *c, const void *data, size_t len)
{
    const uint8_t *p = data;
    c->len += len;
    while (len > 0) {
        size_t k = 64 - c->n < len ? 64 - c->n : len;
        memcpy(c->buf + c->n, p, k);
        c->n += k;
        p += k;
        len -= k;
        if (c->n == 64) {
            sha256_block(c, c->buf);
            c->n = 0;
        }
    }
}

static void sha256_final(struct sha256 *c, uint8_t out[32])
{
    uint64_t bits = c->len * 8;
    uint8_t pad = 0x80;
    sha256_update(c, &pad, 1);
    pad = 0;
    while (c->n != 56)
        sha256_update(c, &pad, 1);
    uint8_t lenb[8];
    for (int i = 0; i < 8; i++)
        lenb[i] = (uint8_t)(bits >> (56 - 8 * i));
    sha256_update(c, lenb, 8);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(c->h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(c->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(c->h[i] >> 8);
        out[4 * i + 3] = (uint8_t)c->h[i];
    }
}

static void hmac_sha256(const void *key, size_t klen, const void *msg, size_t mlen, uint8_t out[32])
{
    uint8_t k[64] = {0}, ipad[64], opad[64], inner[32];
    struct sha256 c;
    if (klen > 64) {
        sha256_init(&c);
        sha256_update(&c, key, klen);
        sha256_final(&c, k);
    } else {
        memcpy(k, key, klen);
    }
    for (int i = 0; i < 64; i++) {
        ipad[i] = k[i] ^ 0x36;
        opad[i] = k[i] ^ 0x5c;
    }
    sha256_init(&c);
    sha256_update(&c, ipad, 64);
    sha256_update(&c, msg, mlen);
    sha256_final(&c, inner);
    sha256_init(&c);
    sha256_update(&c, opad, 64);
    sha256_update(&c, inner, 32);
    sha256_final(&c, out);
}

static size_t b64url(char *out, const uint8_t *in, size_t len)
{
    static const char A[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < len) v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len) v |= in[i + 2];
        out[o++] = A[(v >> 18) & 63];
        out[o++] = A[(v >> 12) & 63];
        if (i + 1 < len) out[o++] = A[(v >> 6) & 63];
        if (i + 2 < len) out[o++] = A[v & 63];
    }
    out[o] = '\0';
    return o;
}

static char *make_jwt(const char *key, const char *claims)
{
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    size_t cl = strlen(claims);
    char *tok = malloc(sizeof header * 2 + cl * 2 + 64);
    if (!tok) die("out of memory");
    size_t n = b64url(tok, (const uint8_t *)header, sizeof header - 1);
    tok[n++] = '.';
    n += b64url(tok + n, (const uint8_t *)claims, cl);
    uint8_t mac[32];
    hmac_sha256(key, strlen(key), tok, n, mac);
    tok[n++] = '.';
    b64url(tok + n, mac, 32);
    return tok;
}

/* ------------------------------------------------------------------------------------------ */
/* Small helpers: URL encoding, topics, HTTP response heads, PRNG. */

static size_t url_encode(char *out, size_t cap, const char *in)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p && o + 4 < cap; p++) {
        if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    out[o] = '\0';
    return o;
}

/* Selector a subscriber of group g asks for. */
static void selector_for(char *out, size_t cap, uint32_t g)
{
    if (!O.tmpl)
        snprintf(out, cap, "%s%u", O.prefix, g);
    else if (O.topics == 1)
        snprintf(out, cap, "%s{id}", O.prefix);
    else
        snprintf(out, cap, "%sg%u/{id}", O.prefix, g);
}

/* Topic an update for group g is published to (id: random part matched by the template). */
static void topic_for(char *out, size_t cap, uint32_t g, uint32_t id)
{
    if (!O.tmpl)
        snprintf(out, cap, "%s%u", O.prefix, g);
    else if (O.topics == 1)
        snprintf(out, cap, "%s%u", O.prefix, id);
    else
        snprintf(out, cap, "%sg%u/%u", O.prefix, g, id);
}

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

struct head {
    int status;
    int chunked;
    int close;
    long long clen;
};

/* Parses a response head (status line and headers, h[len] must be '\0'). 0 ok, -1 bad. */
static int parse_head(char *h, struct head *hd)
{
    hd->status = 0;
    hd->chunked = 0;
    hd->clen = -1;
    if (strncmp(h, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)h[7]) || h[8] != ' ') return -1;
    hd->close = h[7] == '0';
    for (int i = 9; i < 12; i++) {
        if (!isdigit((unsigned char)h[i])) return -1;
        hd->status = hd->status * 10 + (h[i] - '0');
    }
    char *line = strstr(h, "\r\n");
    while (line) {
        line += 2;
        char *end = strstr(line, "\r\n");
        if (!end || end == line) break;
        *end = '\0';
        char *colon = strchr(line, ':');
        if (colon) {
            size_t nl = (size_t)(colon - line);
            char *v = colon + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            if (nl == 17 && strncasecmp(line, "transfer-encoding", nl) == 0)
                hd->chunked = strcasestr(v, "chunked") != NULL;
            else if (nl == 14 && strncasecmp(line, "content-length", nl) == 0)
                hd->clen = strtoll(v, NULL, 10);
            else if (nl == 10 && strncasecmp(line, "connection", nl) == 0) {
                if (strcasestr(v, "close")) hd->close = 1;
                if (strcasestr(v, "keep-alive")) hd->close = 0;
            }
        }
        *end = '\r';
        line = end;
    }
    return 0;
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

/* ------------------------------------------------------------------------------------------ */
/* Shared memory between the parent (publisher, coordinator) and subscriber processes. */

enum phase { PH_CONNECT, PH_DRAIN, PH_ABORT };
enum cstate { CS_STARTING, CS_READY, CS_DONE };

struct child_res {
    _Atomic int state;
    _Atomic uint64_t live_subscribed, live_failed, live_unique, live_probed;
    uint64_t assigned, subscribed, failed, retries, disconnects, comments;
    uint64_t deliveries, unique, dups, reorders, unexpected, stale, invalid, probed;
    uint64_t expected, lost, subs_with_loss, bytes;
    uint64_t t_start, t_ready, t_first, t_last;
    struct hist lat, sublat;
    char err[160];
};

struct shared {
    _Atomic int phase;
    uint64_t drain_deadline;
    uint64_t run_id;
    uint64_t acked_total;
    struct child_res *child; /* [procs] */
    uint64_t *acked_group;   /* [topics]: acknowledged updates per topic group */
    uint32_t *pub_group;     /* [updates]: topic group of each sequence number */
    uint64_t *acked_bits;    /* [updates/64]: acknowledged sequence numbers */
};

static struct shared *SH;

static size_t align64(size_t n)
{
    return (n + 63) & ~(size_t)63;
}

static void shared_setup(void)
{
    size_t words = (size_t)((O.updates + 63) / 64);
    size_t off_child = align64(sizeof(struct shared));
    size_t off_group = off_child + align64(sizeof(struct child_res) * O.procs);
    size_t off_pub = off_group + align64(sizeof(uint64_t) * O.topics);
    size_t off_bits = off_pub + align64(sizeof(uint32_t) * (size_t)O.updates);
    size_t total = off_bits + align64(sizeof(uint64_t) * words) + 64;
    char *m = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) die("mmap %zu bytes: %s", total, strerror(errno));
    SH = (struct shared *)m;
    SH->child = (struct child_res *)(m + off_child);
    SH->acked_group = (uint64_t *)(m + off_group);
    SH->pub_group = (uint32_t *)(m + off_pub);
    SH->acked_bits = (uint64_t *)(m + off_bits);
    atomic_store(&SH->phase, PH_CONNECT);
}

static void set_err(char *dst, size_t cap, const char *fmt, ...)
{
    if (dst[0]) return; /* keep the first one */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, cap, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------------------------------ */
/* Subscriber processes */

enum sstate { S_QUEUED, S_CONNECTING, S_HEADERS, S_STREAM, S_CLOSED, S_DEAD };
enum chstate { CH_SIZE, CH_EXT, CH_DATA, CH_DATA_END, CH_END };
enum evkind { EV_NONE, EV_OK, EV_PROBE, EV_STALE, EV_BAD };

struct sub {
    int fd;
    uint32_t group;
    uint32_t src;
    uint32_t unique;
    uint8_t state, attempts, chunked, ch_state;
    uint8_t ev_has, ev_kind, probed;
    uint16_t line_len;
    uint32_t ev_c, ev_grp;
    uint64_t ev_g, ev_t;
    uint64_t ch_rem;
    uint64_t t_attempt;
    char *hdr;
    uint32_t hdr_len;
    uint64_t *bits; /* received sequence numbers */
    uint64_t *last; /* last sequence number + 1 per publisher connection */
    char line[LINE_CAP + 1];
};

struct subctx {
    struct child_res *R;
    struct sub *subs;
    uint32_t n, lo;
    uint32_t *queue; /* ring of indices waiting for a connection attempt */
    uint32_t q_head, q_count;
    uint32_t pending, subscribed, dead;
    int ep;
    bool ready;
    uint64_t words;
    char rbuf[RBUF_SIZE];
};

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
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)O.port)};
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

static int hexval(char c)
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

static void child_main(uint32_t ci, uint32_t lo, uint32_t hi, pid_t parent, uint64_t hard_deadline)
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

/* ------------------------------------------------------------------------------------------ */
/* Publisher (parent process) */

enum pstate { P_DOWN, P_CONNECTING, P_UP };

struct pubconn {
    int fd;
    int state;
    uint32_t idx;
    char *wbuf;
    size_t wlen, woff, wcap;
    char *rbuf;
    size_t rlen;
    uint64_t seq[MAX_PIPELINE];
    uint64_t tsend[MAX_PIPELINE];
    uint32_t qh, qn;
    bool want_out;
};

struct pubstats {
    uint64_t sent, acked, failed, reconnects;
    uint64_t t_start, t_end;
    struct hist ack;
    char err[160];
};

#define PUB_RBUF 65536

struct pubctx {
    struct pubconn *c;
    int ep;
    uint64_t rng;
    uint32_t rr;
    uint64_t inflight;
    bool probe_rejected;
    struct pubstats st;
    char *topic_enc;
    char *payload;
};

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

#define PROBE_BIT (1ULL << 63) /* in-flight entry is a warm-up probe, not a sequence number */

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

static void pub_init(struct pubctx *P)
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
static uint32_t pub_warmup(struct pubctx *P, uint64_t until_ns, uint64_t *missing)
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
static bool publish_all(struct pubctx *P, uint64_t deadline)
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

/* ------------------------------------------------------------------------------------------ */
/* Server process tree sampling: VmRSS, Pss and CPU time of --pid and its descendants. */

struct srv_sample {
    bool ok;
    int nproc;
    uint64_t rss_kb, pss_kb;
    double cpu_s;
};

static bool read_file(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f) return false;
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
    return n > 0;
}

/* utime+stime (ticks) and ppid from /proc/<pid>/stat. */
static bool read_stat(int pid, int *ppid, uint64_t *ticks)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    if (!read_file(path, buf, sizeof buf)) return false;
    char *p = strrchr(buf, ')');
    if (!p) return false;
    p += 2; /* fields from 3 (state) on */
    unsigned long long v[13] = {0};
    char state;
    if (sscanf(p, "%c %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &state, &v[0],
               &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9], &v[10], &v[11]) != 13)
        return false;
    *ppid = (int)v[0];
    *ticks = v[10] + v[11]; /* fields 14 and 15: utime, stime */
    return true;
}

static uint64_t read_kb_field(const char *path, const char *field)
{
    char buf[8192];
    if (!read_file(path, buf, sizeof buf)) return 0;
    size_t fl = strlen(field);
    for (char *line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
        if (strncmp(line, field, fl) == 0) return strtoull(line + fl, NULL, 10);
    return 0;
}

static void sample_server(struct srv_sample *s)
{
    memset(s, 0, sizeof *s);
    if (O.server_pid <= 0) return;
    int cap = 4096, n = 0;
    int *pids = malloc(sizeof(int) * (size_t)cap), *ppids = malloc(sizeof(int) * (size_t)cap);
    uint64_t *ticks = malloc(sizeof(uint64_t) * (size_t)cap);
    bool *in = calloc((size_t)cap, sizeof(bool));
    DIR *d = opendir("/proc");
    if (!pids || !ppids || !ticks || !in || !d) goto out;
    struct dirent *de;
    while ((de = readdir(d)) && n < cap) {
        if (!isdigit((unsigned char)de->d_name[0])) continue;
        int pid = atoi(de->d_name);
        if (read_stat(pid, &ppids[n], &ticks[n])) pids[n++] = pid;
    }
    for (int i = 0; i < n; i++)
        in[i] = pids[i] == O.server_pid;
    for (bool grew = true; grew;) { /* descendants: fixed point over the parent links */
        grew = false;
        for (int i = 0; i < n; i++) {
            if (in[i]) continue;
            for (int j = 0; j < n; j++) {
                if (in[j] && pids[j] == ppids[i]) {
                    in[i] = grew = true;
                    break;
                }
            }
        }
    }
    uint64_t t = 0;
    for (int i = 0; i < n; i++) {
        if (!in[i]) continue;
        char path[64];
        s->nproc++;
        t += ticks[i];
        snprintf(path, sizeof path, "/proc/%d/status", pids[i]);
        s->rss_kb += read_kb_field(path, "VmRSS:");
        snprintf(path, sizeof path, "/proc/%d/smaps_rollup", pids[i]);
        s->pss_kb += read_kb_field(path, "Pss:");
    }
    s->ok = s->nproc > 0;
    s->cpu_s = (double)t / (double)sysconf(_SC_CLK_TCK);
out:
    if (d) closedir(d);
    free(pids);
    free(ppids);
    free(ticks);
    free(in);
}

/* ------------------------------------------------------------------------------------------ */
/* Options parsing */

static void usage(FILE *f)
{
    fputs("usage: loadgen [options]\n"
          "Target\n"
          "  --host ADDR            IPv4 loopback address of the hub (127.0.0.1)\n"
          "  --port N               hub port (8080)\n"
          "  --target T             publish format: mercure (form POST with JWT), node (form\n"
          "                         POST, no JWT), nchan (raw body POST to --pub-path?topic=)\n"
          "  --sub-path P           subscribe path (/.well-known/mercure)\n"
          "  --pub-path P           publish path (/.well-known/mercure; nchan: /pub)\n"
          "  --jwt TOKEN            publisher JWT (default: HS256 token computed from --jwt-key\n"
          "                         with claims {\"mercure\":{\"publish\":[\"*\"]}})\n"
          "  --jwt-key KEY          HS256 key (the Mercure dev key)\n"
          "  --jwt-claims JSON      claims of the computed token\n"
          "  --pid PID              server pid: RSS/PSS and CPU of it and its descendants\n"
          "  --name NAME            server name for the report (defaults to --target)\n"
          "  --label NAME           scenario label for the report\n"
          "Subscribers\n"
          "  --subs N               subscriber connections (100)\n"
          "  --topics M             topic groups; subscriber i follows group i %% M (1)\n"
          "  --topic-prefix P       topic of group g is P<g> (https://example.com/t/)\n"
          "  --template             subscribe with URI templates: P{id} (M=1) or P g<g>/{id};\n"
          "                         updates go to P<id> / P g<g>/<id> with a random id\n"
          "  --template-ids N       range of random ids in template mode (1000000)\n"
          "  --connect-rate R       new connections per second, all processes (5000; 0 = no cap)\n"
          "  --max-pending N        unfinished subscribe handshakes per process (256)\n"
          "  --src-addrs N          bind sources 127.0.0.2 .. 127.0.0.(N+1) round-robin (8; 0 =\n"
          "                         let the kernel choose)\n"
          "  --procs P              subscriber processes (0 = as many as the open-file limit\n"
          "                         needs, at least 1)\n"
          "  --connect-timeout-ms T one subscribe attempt (5000); --retries N attempts more (3)\n"
          "Publishing\n"
          "  --updates K            updates to publish (1000; 0 = idle streams only)\n"
          "  --rate R               updates per second (0 = as fast as the window allows)\n"
          "  --pub-conns C          keep-alive publisher connections (4)\n"
          "  --pipeline D           requests in flight per publisher connection (1); window C*D\n"
          "  --round-robin          pick topic groups in turn instead of at random\n"
          "  --payload-size B       pad the data field to B bytes (0 = ~60 byte header only)\n"
          "  --seed N               PRNG seed for topic choice\n"
          "Timing\n"
          "  --settle-ms T          wait after all subscribed, before sampling memory (500)\n"
          "  --warmup-ms T          before measuring, publish a probe per topic (again every\n"
          "                         300 ms) until every stream got one, for at most T ms (0: off)\n"
          "  --drain-ms T           wait for deliveries after the last response (10000)\n"
          "  --timeout S            hard limit for the whole run in seconds (120)\n"
          "  --quiet                JSON line only\n"
          "  --print-jwt            print the publisher token and exit\n",
          f);
}

static uint64_t num_arg(const char *s, const char *name, uint64_t lo, uint64_t hi)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi)
        die("--%s: expected an integer in [%" PRIu64 ", %" PRIu64 "], got '%s'", name, lo, hi, s);
    return v;
}

static double dbl_arg(const char *s, const char *name, double lo, double hi)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= lo && v <= hi))
        die("--%s: expected a number in [%g, %g], got '%s'", name, lo, hi, s);
    return v;
}

enum argkind { A_STR, A_U32, A_U64, A_INT, A_DBL, A_FLAG };

struct optdef {
    const char *name;
    enum argkind kind;
    void *dst;
    double lo, hi;
};

static const char *g_target_arg = "mercure";
static bool g_print_jwt, g_help;

static const struct optdef OPTS[] = {
    {"host", A_STR, &O.host, 0, 0},
    {"port", A_INT, &O.port, 1, 65535},
    {"target", A_STR, &g_target_arg, 0, 0},
    {"sub-path", A_STR, &O.sub_path, 0, 0},
    {"pub-path", A_STR, &O.pub_path, 0, 0},
    {"jwt", A_STR, &O.jwt, 0, 0},
    {"jwt-key", A_STR, &O.jwt_key, 0, 0},
    {"jwt-claims", A_STR, &O.jwt_claims, 0, 0},
    {"pid", A_INT, &O.server_pid, 1, 1 << 30},
    {"name", A_STR, &O.name, 0, 0},
    {"label", A_STR, &O.label, 0, 0},
    {"subs", A_U32, &O.subs, 0, 10000000},
    {"topics", A_U32, &O.topics, 1, 10000000},
    {"topic-prefix", A_STR, &O.prefix, 0, 0},
    {"template", A_FLAG, &O.tmpl, 0, 0},
    {"template-ids", A_U32, &O.tmpl_ids, 1, 2147483648.0},
    {"connect-rate", A_DBL, &O.connect_rate, 0, 1e9},
    {"max-pending", A_U32, &O.max_pending, 1, 1000000},
    {"src-addrs", A_U32, &O.src_addrs, 0, MAX_SRC_ADDRS},
    {"procs", A_U32, &O.procs, 0, 256},
    {"connect-timeout-ms", A_U32, &O.connect_timeout_ms, 1, 600000},
    {"retries", A_U32, &O.retries, 0, 100},
    {"updates", A_U64, &O.updates, 0, (double)MAX_UPDATES},
    {"rate", A_DBL, &O.rate, 0, 1e9},
    {"pub-conns", A_U32, &O.pub_conns, 1, MAX_PUB_CONNS},
    {"pipeline", A_U32, &O.pipeline, 1, MAX_PIPELINE},
    {"round-robin", A_FLAG, &O.round_robin, 0, 0},
    {"payload-size", A_U32, &O.payload_size, 0, MAX_PAYLOAD},
    {"seed", A_U64, &O.seed, 0, 1e18},
    {"settle-ms", A_U32, &O.settle_ms, 0, 600000},
    {"warmup-ms", A_U32, &O.warmup_ms, 0, 600000},
    {"drain-ms", A_U32, &O.drain_ms, 0, 3600000},
    {"timeout", A_DBL, &O.timeout_s, 1, 86400},
    {"quiet", A_FLAG, &O.quiet, 0, 0},
    {"print-jwt", A_FLAG, &g_print_jwt, 0, 0},
    {"help", A_FLAG, &g_help, 0, 0},
};

static void set_opt(const struct optdef *d, const char *v)
{
    switch (d->kind) {
    case A_STR:
        *(const char **)d->dst = v;
        break;
    case A_U32:
        *(uint32_t *)d->dst = (uint32_t)num_arg(v, d->name, (uint64_t)d->lo, (uint64_t)d->hi);
        break;
    case A_U64:
        *(uint64_t *)d->dst = num_arg(v, d->name, (uint64_t)d->lo, (uint64_t)d->hi);
        break;
    case A_INT:
        *(int *)d->dst = (int)num_arg(v, d->name, (uint64_t)d->lo, (uint64_t)d->hi);
        break;
    case A_DBL:
        *(double *)d->dst = dbl_arg(v, d->name, d->lo, d->hi);
        break;
    case A_FLAG:
        *(bool *)d->dst = true;
        break;
    }
}

static void parse_opts(int argc, char **argv)
{
    O = (struct opts){.host = "127.0.0.1",
                      .port = 8080,
                      .label = "",
                      .subs = 100,
                      .topics = 1,
                      .tmpl_ids = 1000000,
                      .prefix = "https://example.com/t/",
                      .updates = 1000,
                      .pub_conns = 4,
                      .pipeline = 1,
                      .connect_rate = 5000,
                      .max_pending = 256,
                      .src_addrs = 8,
                      .sub_path = "/.well-known/mercure",
                      .jwt_key = DEFAULT_JWT_KEY,
                      .jwt_claims = DEFAULT_CLAIMS,
                      .settle_ms = 500,
                      .drain_ms = 10000,
                      .connect_timeout_ms = 5000,
                      .retries = 3,
                      .timeout_s = 120};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0) a = "--help";
        if (strncmp(a, "--", 2) != 0) die("unexpected argument '%s' (see --help)", a);
        a += 2;
        const char *eq = strchr(a, '=');
        size_t nl = eq ? (size_t)(eq - a) : strlen(a);
        const struct optdef *d = NULL;
        for (size_t k = 0; k < sizeof OPTS / sizeof OPTS[0]; k++)
            if (strlen(OPTS[k].name) == nl && strncmp(OPTS[k].name, a, nl) == 0) d = &OPTS[k];
        if (!d) die("unknown option '%s' (see --help)", argv[i]);
        if (d->kind == A_FLAG) {
            if (eq) die("--%s takes no value", d->name);
            set_opt(d, NULL);
        } else if (eq) {
            set_opt(d, eq + 1);
        } else {
            if (i + 1 >= argc) die("--%s needs a value", d->name);
            set_opt(d, argv[++i]);
        }
    }
    if (g_help) {
        usage(stdout);
        exit(0);
    }
    if (strcmp(g_target_arg, "mercure") == 0)
        O.target = TARGET_MERCURE;
    else if (strcmp(g_target_arg, "nchan") == 0)
        O.target = TARGET_NCHAN;
    else if (strcmp(g_target_arg, "node") == 0)
        O.target = TARGET_NODE;
    else
        die("--target: mercure, nchan or node");
    if (inet_pton(AF_INET, O.host, &O.addr) != 1) die("--host: not an IPv4 address: %s", O.host);
    if ((ntohl(O.addr.s_addr) >> 24) != 127) die("--host: loopback (127.0.0.0/8) only");
    if (!O.pub_path) O.pub_path = O.target == TARGET_NCHAN ? "/pub" : "/.well-known/mercure";
    if (!O.name) O.name = g_target_arg;
    if (O.tmpl && O.target == TARGET_NCHAN) die("--template: nchan has no URI-template selectors");
    if (O.topics > O.subs && O.subs > 0) die("--topics %u exceeds --subs %u", O.topics, O.subs);
    if (strlen(O.prefix) > 300) die("--topic-prefix too long");
    if (g_print_jwt) {
        puts(O.jwt ? O.jwt : make_jwt(O.jwt_key, O.jwt_claims));
        exit(0);
    }
    if (O.target != TARGET_MERCURE)
        O.jwt = NULL;
    else if (!O.jwt)
        O.jwt = make_jwt(O.jwt_key, O.jwt_claims);
    if (O.jwt && strlen(O.jwt) > 1100) die("--jwt too long");
}

/* ------------------------------------------------------------------------------------------ */
/* Coordinator */

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static uint64_t fd_capacity(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) die("getrlimit: %s", strerror(errno));
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0) note("setrlimit: %s", strerror(errno));
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    uint64_t cur = rl.rlim_cur == RLIM_INFINITY ? 1u << 20 : (uint64_t)rl.rlim_cur;
    if (cur <= FD_RESERVE + 16) die("open-file limit %" PRIu64 " too small", cur);
    return cur - FD_RESERVE;
}

struct totals {
    uint64_t assigned, subscribed, failed, retries, disconnects, comments;
    uint64_t deliveries, unique, dups, reorders, unexpected, stale, invalid;
    uint64_t expected, lost, subs_with_loss, bytes;
    uint64_t t_start, t_ready, t_first, t_last;
    struct hist lat, sublat;
    char err[160];
};

static void aggregate(struct totals *T)
{
    memset(T, 0, sizeof *T);
    for (uint32_t i = 0; i < O.procs; i++) {
        struct child_res *r = &SH->child[i];
        T->assigned += r->assigned;
        T->subscribed += r->subscribed;
        T->failed += r->failed;
        T->retries += r->retries;
        T->disconnects += r->disconnects;
        T->comments += r->comments;
        T->deliveries += r->deliveries;
        T->unique += r->unique;
        T->dups += r->dups;
        T->reorders += r->reorders;
        T->unexpected += r->unexpected;
        T->stale += r->stale;
        T->invalid += r->invalid;
        T->expected += r->expected;
        T->lost += r->lost;
        T->subs_with_loss += r->subs_with_loss;
        T->bytes += r->bytes;
        if (r->t_start && (!T->t_start || r->t_start < T->t_start)) T->t_start = r->t_start;
        if (r->t_ready > T->t_ready) T->t_ready = r->t_ready;
        if (r->t_first && (!T->t_first || r->t_first < T->t_first)) T->t_first = r->t_first;
        if (r->t_last > T->t_last) T->t_last = r->t_last;
        hist_merge(&T->lat, &r->lat);
        hist_merge(&T->sublat, &r->sublat);
        if (!T->err[0] && r->err[0]) snprintf(T->err, sizeof T->err, "%s", r->err);
    }
}

/* Waits for every child to exit, up to the deadline, then kills what is left. */
static void reap_children(pid_t *kids, uint64_t deadline, int *bad)
{
    uint32_t left = O.procs;
    while (left > 0) {
        int status;
        pid_t p = waitpid(-1, &status, WNOHANG);
        if (p > 0) {
            left--;
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) (*bad)++;
            continue;
        }
        if (p < 0 && errno == ECHILD) break;
        if (now_ns() >= deadline) {
            for (uint32_t i = 0; i < O.procs; i++)
                if (kids[i] > 0) kill(kids[i], SIGKILL);
            while (waitpid(-1, &status, 0) > 0) {
            }
            (*bad)++;
            break;
        }
        sleep_ms(5);
    }
}

/* Returns the number of children that died early (status collected). */
static int check_children(void)
{
    int status, dead = 0;
    pid_t p;
    while ((p = waitpid(-1, &status, WNOHANG)) > 0)
        dead++;
    return dead;
}

static double rate_per_s(uint64_t count, uint64_t t0, uint64_t t1)
{
    return t1 > t0 ? (double)count * 1e9 / (double)(t1 - t0) : 0.0;
}

int main(int argc, char **argv)
{
    parse_opts(argc, argv);
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    uint64_t t_begin = now_ns();
    uint64_t deadline = t_begin + (uint64_t)(O.timeout_s * 1e9);
    uint64_t cap = fd_capacity();
    uint32_t need = (uint32_t)((O.subs + cap - 1) / cap);
    if (need < 1) need = 1;
    if (O.procs == 0) O.procs = need;
    if (O.procs < need)
        die("%u subscribers need --procs >= %u (open-file limit %" PRIu64 " per process)", O.subs,
            need, cap + FD_RESERVE);
    if (O.procs > O.subs && O.subs > 0) O.procs = O.subs;
    uint64_t words = (O.updates + 63) / 64;
    double bitmap_mb = (double)O.subs * (double)(words + O.pub_conns) * 8.0 / 1048576.0;
    if (bitmap_mb > 8192) die("--subs x --updates needs %.0f MiB of delivery bitmaps", bitmap_mb);

    shared_setup();
    SH->run_id = (now_ns() ^ ((uint64_t)getpid() << 32)) % 1000000000000ULL;

    struct srv_sample s0, s1, s2;
    sample_server(&s0);
    if (O.server_pid > 0 && !s0.ok) note("warning: no process %d to sample", (int)O.server_pid);
    note("%s %s: %u subscribers over %u %s in %u process%s, then %" PRIu64 " updates", O.name,
         O.label, O.subs, O.topics, O.tmpl ? "URI templates" : "topics", O.procs,
         O.procs > 1 ? "es" : "", O.updates);

    fflush(stdout);
    fflush(stderr);
    pid_t *kids = calloc(O.procs, sizeof *kids);
    pid_t self = getpid();
    for (uint32_t i = 0; i < O.procs; i++) {
        uint32_t lo = (uint32_t)((uint64_t)O.subs * i / O.procs);
        uint32_t hi = (uint32_t)((uint64_t)O.subs * (i + 1) / O.procs);
        pid_t p = fork();
        if (p < 0) die("fork: %s", strerror(errno));
        if (p == 0) child_main(i, lo, hi, self, deadline + 20 * NS_PER_S);
        kids[i] = p;
    }

    /* 1. wait until every subscriber is subscribed or given up */
    bool timed_out = false, aborted = false;
    uint64_t last_note = now_ns();
    for (;;) {
        uint32_t ready = 0;
        for (uint32_t i = 0; i < O.procs; i++)
            ready += atomic_load(&SH->child[i].state) >= CS_READY;
        if (ready == O.procs) break;
        uint64_t now = now_ns();
        if (check_children() > 0) {
            note("a subscriber process died");
            aborted = true;
            break;
        }
        if (g_stop || now >= deadline) {
            timed_out = !g_stop;
            aborted = true;
            break;
        }
        if (now - last_note >= NS_PER_S) {
            uint64_t sub = 0, fail = 0;
            for (uint32_t i = 0; i < O.procs; i++) {
                sub += atomic_load_explicit(&SH->child[i].live_subscribed, memory_order_relaxed);
                fail += atomic_load_explicit(&SH->child[i].live_failed, memory_order_relaxed);
            }
            note("  %" PRIu64 "/%u subscribed, %" PRIu64 " failed", sub, O.subs, fail);
            last_note = now;
        }
        sleep_ms(5);
    }
    uint64_t t_subscribed = now_ns();

    /* 2. settle, sample memory of the idle streams */
    if (!aborted) {
        uint64_t until = now_ns() + (uint64_t)O.settle_ms * NS_PER_MS;
        while (!g_stop && now_ns() < until && now_ns() < deadline)
            sleep_ms(5);
    }
    sample_server(&s1);

    /* 3. publish */
    struct pubctx *P = calloc(1, sizeof *P);
    if (!P) die("out of memory");
    bool pub_complete = true;
    uint32_t warm_rounds = 0;
    uint64_t warm_missing = 0;
    double warm_s = 0;
    struct srv_sample s1b = s1;
    if (!aborted && !g_stop) {
        pub_init(P);
        if (O.warmup_ms > 0 && O.subs > 0) {
            uint64_t t = now_ns();
            uint64_t until = t + (uint64_t)O.warmup_ms * NS_PER_MS;
            warm_rounds = pub_warmup(P, until < deadline ? until : deadline, &warm_missing);
            warm_s = (double)(now_ns() - t) / 1e9;
            if (warm_missing) note("warm-up: %" PRIu64 " streams never got a probe", warm_missing);
            sample_server(&s1b);
        }
        pub_complete = publish_all(P, deadline);
        if (!pub_complete && now_ns() >= deadline) timed_out = true;
    } else {
        P->st.t_start = P->st.t_end = now_ns();
    }
    SH->acked_total = P->st.acked;

    /* 4. drain: subscribers finish when they hold every acknowledged update */
    uint64_t now = now_ns();
    uint64_t drain_deadline = now + (uint64_t)O.drain_ms * NS_PER_MS;
    if (drain_deadline > deadline) drain_deadline = deadline;
    SH->drain_deadline = drain_deadline;
    atomic_store(&SH->phase, aborted || g_stop ? PH_ABORT : PH_DRAIN);
    int bad_children = 0;
    reap_children(kids, drain_deadline + 10 * NS_PER_S, &bad_children);
    uint64_t t_done = now_ns();
    if (t_done >= deadline) timed_out = true;
    sample_server(&s2);

    /* 5. report */
    struct totals T;
    aggregate(&T);
    struct rusage ru_self, ru_kids;
    getrusage(RUSAGE_SELF, &ru_self);
    getrusage(RUSAGE_CHILDREN, &ru_kids);
    double lg_cpu = (double)(ru_self.ru_utime.tv_sec + ru_self.ru_stime.tv_sec +
                             ru_kids.ru_utime.tv_sec + ru_kids.ru_stime.tv_sec) +
                    (double)(ru_self.ru_utime.tv_usec + ru_self.ru_stime.tv_usec +
                             ru_kids.ru_utime.tv_usec + ru_kids.ru_stime.tv_usec) /
                        1e6;
    double connect_s = T.t_ready > T.t_start ? (double)(T.t_ready - T.t_start) / 1e9 : 0.0;
    double connect_rate = connect_s > 0 ? (double)T.subscribed / connect_s : 0.0;
    double pub_s = (double)(P->st.t_end - P->st.t_start) / 1e9;
    double pub_rate = rate_per_s(P->st.acked, P->st.t_start, P->st.t_end);
    uint64_t t_last = T.t_last > P->st.t_start ? T.t_last : P->st.t_end;
    double deliv_s = (double)(t_last - P->st.t_start) / 1e9;
    double deliv_rate = rate_per_s(T.deliveries, P->st.t_start, t_last);
    bool mem_ok = s0.ok && s1.ok && T.subscribed > 0;
    double per_stream_rss =
        mem_ok ? ((double)s1.rss_kb - (double)s0.rss_kb) * 1024.0 / (double)T.subscribed : 0.0;
    double per_stream_pss =
        mem_ok ? ((double)s1.pss_kb - (double)s0.pss_kb) * 1024.0 / (double)T.subscribed : 0.0;
    double cpu_connect = s1.ok && s0.ok ? s1.cpu_s - s0.cpu_s : 0.0;
    double cpu_publish = s2.ok && s1b.ok ? s2.cpu_s - s1b.cpu_s : 0.0;
    double pub_wall = (double)(t_done - P->st.t_start) / 1e9;
    double cpu_pct = pub_wall > 0 ? 100.0 * cpu_publish / pub_wall : 0.0;
    bool ok = !timed_out && !aborted && !g_stop && bad_children == 0 && pub_complete &&
              T.subscribed == O.subs && T.failed == 0 && P->st.failed == 0 && T.lost == 0 &&
              T.dups == 0 && T.reorders == 0 && T.unexpected == 0 && T.invalid == 0 &&
              T.disconnects == 0;
    const char *err = T.err[0] ? T.err : P->st.err;

    if (!O.quiet) {
        printf("loadgen %s %s: %u subs, %u %s, %u proc, %" PRIu64 " updates at %s\n", O.name,
               O.label, O.subs, O.topics, O.tmpl ? "templates" : "topics", O.procs, O.updates,
               O.rate > 0 ? "fixed rate" : "max rate");
        printf("  connect   %" PRIu64 "/%u subscribed, %" PRIu64 " failed, %" PRIu64
               " retries in %.2f s = %.0f/s; subscribe p50 %.2f ms p99 %.2f ms\n",
               T.subscribed, O.subs, T.failed, T.retries, connect_s, connect_rate,
               hist_ms(&T.sublat, 0.5), hist_ms(&T.sublat, 0.99));
        printf("  publish   %" PRIu64 " sent, %" PRIu64 " acked, %" PRIu64
               " failed in %.2f s = %.0f/s (window %ux%u); ack p50 %.2f ms p99 %.2f ms\n",
               P->st.sent, P->st.acked, P->st.failed, pub_s, pub_rate, O.pub_conns, O.pipeline,
               hist_ms(&P->st.ack, 0.5), hist_ms(&P->st.ack, 0.99));
        printf("  deliver   %" PRIu64 " in %.2f s = %.0f/s; expected %" PRIu64 ", lost %" PRIu64
               " (%" PRIu64 " subs), dup %" PRIu64 ", reordered %" PRIu64 ", unexpected %" PRIu64
               ", stale %" PRIu64 ", invalid %" PRIu64 ", disconnects %" PRIu64 "\n",
               T.deliveries, deliv_s, deliv_rate, T.expected, T.lost, T.subs_with_loss, T.dups,
               T.reorders, T.unexpected, T.stale, T.invalid, T.disconnects);
        printf("  latency   p50 %.3f ms  p99 %.3f ms  p99.9 %.3f ms  max %.3f ms  mean %.3f ms\n",
               hist_ms(&T.lat, 0.5), hist_ms(&T.lat, 0.99), hist_ms(&T.lat, 0.999),
               (double)T.lat.max / 1e6, hist_mean_ms(&T.lat));
        if (s0.ok)
            printf("  server    pid %d (%d proc): RSS %.1f -> %.1f -> %.1f MiB, PSS %.1f -> %.1f "
                   "-> %.1f MiB; %.0f B/stream (PSS), %.0f B/stream (RSS); CPU connect %.2f s, "
                   "publish %.2f s (%.0f%%)\n",
                   (int)O.server_pid, s1.nproc, s0.rss_kb / 1024.0, s1.rss_kb / 1024.0,
                   s2.rss_kb / 1024.0, s0.pss_kb / 1024.0, s1.pss_kb / 1024.0, s2.pss_kb / 1024.0,
                   per_stream_pss, per_stream_rss, cpu_connect, cpu_publish, cpu_pct);
        if (O.warmup_ms > 0)
            printf("  warm-up   %u round%s in %.2f s, %" PRIu64 " streams without a probe\n",
                   warm_rounds, warm_rounds == 1 ? "" : "s", warm_s, warm_missing);
        printf("  loadgen   CPU %.2f s, %" PRIu64 " heartbeat comments, %.1f MiB read\n", lg_cpu,
               T.comments, (double)T.bytes / 1048576.0);
        printf("  result    %s%s%s\n", ok ? "OK" : "PROBLEM", err[0] ? " - first error: " : "",
               err);
    }
    printf("{\"label\":");
    json_str(stdout, O.label);
    printf(",\"server\":");
    json_str(stdout, O.name);
    printf(",\"target\":\"%s\",\"subs\":%u,\"topics\":%u,\"template\":%s,\"procs\":%u,"
           "\"updates\":%" PRIu64 ",\"rate\":%.3f,\"pub_conns\":%u,\"pipeline\":%u,"
           "\"payload_size\":%u,",
           O.target == TARGET_NCHAN  ? "nchan"
           : O.target == TARGET_NODE ? "node"
                                     : "mercure",
           O.subs, O.topics, O.tmpl ? "true" : "false", O.procs, O.updates, O.rate, O.pub_conns,
           O.pipeline, O.payload_size);
    printf("\"subscribed\":%" PRIu64 ",\"connect_failed\":%" PRIu64 ",\"connect_retries\":%" PRIu64
           ",\"connect_s\":%.3f,\"connect_rate\":%.1f,\"subscribe_p50_ms\":%.3f,"
           "\"subscribe_p99_ms\":%.3f,",
           T.subscribed, T.failed, T.retries, connect_s, connect_rate, hist_ms(&T.sublat, 0.5),
           hist_ms(&T.sublat, 0.99));
    printf("\"sent\":%" PRIu64 ",\"acked\":%" PRIu64 ",\"pub_failed\":%" PRIu64
           ",\"pub_s\":%.3f,\"pub_rate\":%.1f,\"ack_p50_ms\":%.3f,\"ack_p99_ms\":%.3f,",
           P->st.sent, P->st.acked, P->st.failed, pub_s, pub_rate, hist_ms(&P->st.ack, 0.5),
           hist_ms(&P->st.ack, 0.99));
    printf("\"deliveries\":%" PRIu64 ",\"expected\":%" PRIu64 ",\"lost\":%" PRIu64
           ",\"subs_with_loss\":%" PRIu64 ",\"dups\":%" PRIu64 ",\"reordered\":%" PRIu64
           ",\"unexpected\":%" PRIu64 ",\"stale\":%" PRIu64 ",\"invalid\":%" PRIu64
           ",\"disconnects\":%" PRIu64 ",\"heartbeats\":%" PRIu64 ",\"deliver_s\":%.3f,"
           "\"deliveries_per_s\":%.1f,",
           T.deliveries, T.expected, T.lost, T.subs_with_loss, T.dups, T.reorders, T.unexpected,
           T.stale, T.invalid, T.disconnects, T.comments, deliv_s, deliv_rate);
    printf("\"lat_p50_ms\":%.3f,\"lat_p99_ms\":%.3f,\"lat_p999_ms\":%.3f,\"lat_max_ms\":%.3f,"
           "\"lat_mean_ms\":%.3f,",
           hist_ms(&T.lat, 0.5), hist_ms(&T.lat, 0.99), hist_ms(&T.lat, 0.999),
           (double)T.lat.max / 1e6, hist_mean_ms(&T.lat));
    printf("\"server_pid\":%d,\"server_procs\":%d,\"rss_before_kb\":%" PRIu64
           ",\"rss_connected_kb\":%" PRIu64 ",\"rss_after_kb\":%" PRIu64
           ",\"pss_before_kb\":%" PRIu64 ",\"pss_connected_kb\":%" PRIu64
           ",\"pss_after_kb\":%" PRIu64 ",\"mem_per_stream_b\":%.0f,"
           "\"rss_per_stream_b\":%.0f,\"server_cpu_connect_s\":%.3f,"
           "\"server_cpu_publish_s\":%.3f,\"server_cpu_pct\":%.1f,",
           (int)O.server_pid, s1.nproc, s0.rss_kb, s1.rss_kb, s2.rss_kb, s0.pss_kb, s1.pss_kb,
           s2.pss_kb, per_stream_pss, per_stream_rss, cpu_connect, cpu_publish, cpu_pct);
    printf("\"warmup_rounds\":%u,\"warmup_s\":%.3f,\"warmup_missing\":%" PRIu64 ",", warm_rounds,
           warm_s, warm_missing);
    printf("\"loadgen_cpu_s\":%.3f,\"wall_s\":%.3f,\"subscribed_at_s\":%.3f,\"timed_out\":%s,"
           "\"ok\":%s,\"error\":",
           lg_cpu, (double)(t_done - t_begin) / 1e9, (double)(t_subscribed - t_begin) / 1e9,
           timed_out ? "true" : "false", ok ? "true" : "false");
    json_str(stdout, err);
    printf("}\n");
    fflush(stdout);
    return ok ? 0 : 1;
}
