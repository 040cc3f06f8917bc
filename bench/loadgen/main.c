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
 * Parts: main.c (this coordinator), opts.c, util.c, hist.c, jwt.c, wire.c, shared.c, sub.c,
 * pub.c, procstat.c; loadgen.h holds what they share.
 *
 * Build: the main CMake build (target loadgen), or
 *   gcc -O2 -D_GNU_SOURCE -std=c11 -o loadgen bench/loadgen/[a-z]*.c -lcrypto -lpthread -lm
 */

#include "loadgen.h"

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
        if (O.pause_ms) { /* said even with --quiet: bench/profile.sh waits for this line */
            fprintf(stderr, "loadgen: publishing in %u ms\n", O.pause_ms);
            fflush(stderr);
            sleep_ms(O.pause_ms);
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
    printf("\"bytes_read\":%" PRIu64 ",", T.bytes);
    printf("\"loadgen_cpu_s\":%.3f,\"wall_s\":%.3f,\"subscribed_at_s\":%.3f,\"timed_out\":%s,"
           "\"ok\":%s,\"error\":",
           lg_cpu, (double)(t_done - t_begin) / 1e9, (double)(t_subscribed - t_begin) / 1e9,
           timed_out ? "true" : "false", ok ? "true" : "false");
    json_str(stdout, err);
    printf("}\n");
    fflush(stdout);
    return ok ? 0 : 1;
}
