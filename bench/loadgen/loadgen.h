/* The load generator's parts (the .c files of bench/loadgen/): shared constants, types and state,
 * and the functions each part offers the others. One program: main.c says what it does. */
#ifndef LOADGEN_H
#define LOADGEN_H

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

#define PUB_RBUF  65536
#define PROBE_BIT (1ULL << 63) /* in-flight entry is a warm-up probe, not a sequence number */

#define MAX_SUB_PORTS 16

enum target { TARGET_MERCURE, TARGET_NCHAN, TARGET_NODE };

struct opts {
    const char *host;
    struct in_addr addr;
    int port;
    /* --sub-ports: subscribers spread over these (several nodes of a cluster); else port */
    int sub_ports[MAX_SUB_PORTS];
    uint32_t n_sub_ports;
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
    uint32_t pause_ms;
    uint32_t drain_ms;
    uint32_t connect_timeout_ms;
    uint32_t retries;
    double timeout_s;
    uint64_t seed;
    bool quiet;
};

extern struct opts O;
extern volatile sig_atomic_t g_stop;
struct hist {
    uint64_t n, sum, min, max;
    uint64_t b[HIST_N];
};

struct head {
    int status;
    int chunked;
    int close;
    long long clen;
};

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

extern struct shared *SH;
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

struct srv_sample {
    bool ok;
    int nproc;
    uint64_t rss_kb, pss_kb;
    double cpu_s;
};

enum argkind { A_STR, A_U32, A_U64, A_INT, A_DBL, A_FLAG };

struct optdef {
    const char *name;
    enum argkind kind;
    void *dst;
    double lo, hi;
};

extern const char *g_target_arg;
extern bool g_print_jwt, g_help;
extern const struct optdef OPTS[];
struct totals {
    uint64_t assigned, subscribed, failed, retries, disconnects, comments;
    uint64_t deliveries, unique, dups, reorders, unexpected, stale, invalid;
    uint64_t expected, lost, subs_with_loss, bytes;
    uint64_t t_start, t_ready, t_first, t_last;
    struct hist lat, sublat;
    char err[160];
};

/* util.c: messages and clocks */
uint64_t now_ns(void);
void sleep_ms(uint32_t ms);
void die(const char *fmt, ...);
void note(const char *fmt, ...);

/* hist.c: latency histogram */
void hist_add(struct hist *h, uint64_t v);
void hist_merge(struct hist *dst, const struct hist *src);
double hist_ms(const struct hist *h, double q);
double hist_mean_ms(const struct hist *h);

/* jwt.c: the publisher token */
char *make_jwt(const char *key, const char *claims);

/* wire.c: URL encoding, topics, response heads, PRNG, JSON */
size_t url_encode(char *out, size_t cap, const char *in);
void selector_for(char *out, size_t cap, uint32_t g);
void topic_for(char *out, size_t cap, uint32_t g, uint32_t id);
uint64_t xorshift(uint64_t *s);
int parse_head(char *h, struct head *hd);
void json_str(FILE *f, const char *s);

/* shared.c: memory shared with the subscriber processes */
void shared_setup(void);
void set_err(char *dst, size_t cap, const char *fmt, ...);

/* sub.c: subscriber processes */
int hexval(char c);
void child_main(uint32_t ci, uint32_t lo, uint32_t hi, pid_t parent, uint64_t hard_deadline);

/* pub.c: publisher (parent process) */
void pub_init(struct pubctx *P);
uint32_t pub_warmup(struct pubctx *P, uint64_t until_ns, uint64_t *missing);
bool publish_all(struct pubctx *P, uint64_t deadline);

/* procstat.c: server process sampling (/proc) */
void sample_server(struct srv_sample *s);

/* opts.c: options */
void parse_opts(int argc, char **argv);

#endif
