/* ssebroker: configure, start the workers, wait for SIGTERM/SIGINT, drain, exit. */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/log.h"
#include "health.h"
#include "ssebroker/broker.h"
#include "ssebroker/config.h"

/* Raises the open-file soft limit to the hard limit: every stream is a descriptor. */
static rlim_t raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl)) return 0;
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    return rl.rlim_cur;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "health")) return sseb_health_main(argc, argv);
    struct sseb_config cfg;
    sseb_config_defaults(&cfg);
    int rc = sseb_config_load(&cfg, argc, argv);
    if (rc) return rc > 0 ? 0 : 2;
    log_setup((enum log_level)cfg.log_level, cfg.log_json);

    rlim_t fds = raise_fd_limit();
    /* A few descriptors go to listeners, eventfds, epoll and logs. */
    rlim_t capacity = fds > 64 ? fds - 64 : 0;
    if (cfg.max_connections == 0) {
        cfg.max_connections = (uint32_t)(capacity < UINT32_MAX ? capacity : UINT32_MAX);
    } else if (cfg.max_connections > capacity) {
        log_warn("max-connections lowered to the open-file limit", "requested=%u capacity=%llu",
                 cfg.max_connections, (unsigned long long)capacity);
        cfg.max_connections = (uint32_t)capacity;
    }
    /* Publishers fall back to the development key whenever they have no key or JWKS of their
     * own (server.c), whatever the subscriber side has. */
    if (!cfg.publisher_key && !cfg.publisher_jwks)
        log_warn("using the well-known development JWT key; set --jwt-key in production",
                 "key_source=%s", "default");

    /* Workers inherit this mask: only the main thread takes the signals. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    char err[512];
    struct sseb_broker *b = sseb_broker_new(&cfg, err, sizeof(err));
    if (!b) {
        log_error("cannot start", "error=\"%s\"", err);
        return 1;
    }
    if (sseb_broker_start(b)) {
        log_error("cannot start worker threads", "%s", "");
        sseb_broker_free(b);
        return 1;
    }
    log_info("listening", "address=%s:%u workers=%d max_connections=%u open_files=%llu sends=%s",
             cfg.listen_host[0] ? cfg.listen_host : "*", cfg.listen_port,
             cfg.workers ? cfg.workers : (int)sysconf(_SC_NPROCESSORS_ONLN), cfg.max_connections,
             (unsigned long long)fds, sseb_broker_uses_io_uring(b) ? "io_uring" : "sendmsg");

    int sig = 0;
    sigwait(&set, &sig);
    log_info("draining", "signal=%s drain_timeout_ms=%u", sig == SIGTERM ? "SIGTERM" : "SIGINT",
             cfg.drain_timeout_ms);
    sseb_broker_drain(b);
    sseb_broker_wait(b);
    sseb_broker_free(b);
    log_info("stopped", "%s", "");
    return 0;
}
