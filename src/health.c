/* `ssebroker health [--ready] [options]`: one plain HTTP/1.1 request to the configured listen
 * address. A HEALTHCHECK that hard-codes an address reports a healthy broker on another port as
 * unhealthy; this one reads SSEBROKER_LISTEN like the broker does. */
#include "health.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ssebroker/config.h"

#define HEALTH_TIMEOUT_MS 2000

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for ev on fd until the deadline; false on timeout or error. */
static bool wait_for(int fd, short ev, long long deadline)
{
    for (;;) {
        long long left = deadline - now_ms();
        if (left <= 0) return false;
        struct pollfd p = {.fd = fd, .events = ev};
        int n = poll(&p, 1, (int)left);
        if (n > 0) return true;
        if (n < 0 && errno != EINTR) return false;
    }
}

/* A wildcard listener (an empty host is one) is reached on loopback: NULL makes getaddrinfo give
 * the loopback address of each family, tried in turn (a container may have no IPv6 at all). */
static const char *connect_host(const char *listen_host)
{
    if (!listen_host[0] || !strcmp(listen_host, "0.0.0.0") || !strcmp(listen_host, "::"))
        return NULL;
    return listen_host;
}

static int connect_to(const char *host, const char *port, long long deadline)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc) {
        fprintf(stderr, "ssebroker health: cannot resolve %s: %s\n", host ? host : "loopback",
                gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) continue;
        int err = 0;
        socklen_t len = sizeof(err);
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) break;
        if (errno == EINPROGRESS && wait_for(fd, POLLOUT, deadline) &&
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0)
            break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        fprintf(stderr, "ssebroker health: cannot connect to %s:%s\n", host ? host : "loopback",
                port);
    return fd;
}

/* Sends the request and reads up to the status line; returns the status code or -1. */
static int ask(int fd, const char *request, long long deadline)
{
    size_t len = strlen(request), sent = 0;
    while (sent < len) {
        ssize_t n = send(fd, request + sent, len - sent, MSG_NOSIGNAL);
        if (n > 0) {
            sent += (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (!wait_for(fd, POLLOUT, deadline)) return -1;
        } else {
            return -1;
        }
    }
    char buf[64];
    size_t got = 0;
    while (got < 12) { /* "HTTP/1.1 200" */
        ssize_t n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
        if (n > 0) {
            got += (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (!wait_for(fd, POLLIN, deadline)) return -1;
        } else {
            return -1;
        }
    }
    buf[got] = 0;
    int status;
    if (strncmp(buf, "HTTP/1.", 7) || sscanf(buf + 8, " %3d", &status) != 1) return -1;
    return status;
}

/* In a container the broker is process 1, and `docker run IMAGE --listen :9000` configures it
 * with arguments the health check (a second process) does not get: read them back from
 * /proc/1/cmdline when process 1 is ssebroker. Returns how many were stored in args. */
static int broker_args(char *buf, size_t cap, char **args, int max)
{
    FILE *f = fopen("/proc/1/cmdline", "r");
    if (!f) return 0;
    size_t len = fread(buf, 1, cap - 1, f);
    fclose(f);
    if (len == 0 || len == cap - 1) return 0; /* nothing, or more than we can parse whole */
    buf[len] = 0;
    const char *slash = strrchr(buf, '/');
    if (strcmp(slash ? slash + 1 : buf, "ssebroker")) return 0;
    int n = 0;
    for (char *p = buf + strlen(buf) + 1; p < buf + len && n < max; p += strlen(p) + 1) {
        if (!strcmp(p, "health")) return 0; /* process 1 is itself a health check */
        args[n++] = p;
    }
    return n;
}

int sseb_health_main(int argc, char **argv)
{
    /* The broker's own configuration: process 1's arguments when it is the broker, then these
     * (later flags win), without "health" and "--ready". */
    static char pid1[8192];
    char *args[argc + 128];
    int n = 0;
    bool ready = false;
    args[n++] = argv[0];
    n += broker_args(pid1, sizeof(pid1), args + n, 127);
    for (int a = 2; a < argc; a++) {
        if (!strcmp(argv[a], "--ready"))
            ready = true;
        else
            args[n++] = argv[a];
    }
    struct sseb_config cfg;
    sseb_config_defaults(&cfg);
    int rc = sseb_config_load(&cfg, n, args);
    if (rc) return rc > 0 ? 0 : 2;
    if (!cfg.listen_port) {
        fprintf(stderr, "ssebroker health: --listen has no fixed port to ask\n");
        return 1;
    }

    const char *host = connect_host(cfg.listen_host);
    const char *shown = host ? host : "loopback";
    const char *path = ready ? "/readyz" : "/healthz";
    char port[8];
    snprintf(port, sizeof(port), "%u", cfg.listen_port);
    long long deadline = now_ms() + HEALTH_TIMEOUT_MS;
    int fd = connect_to(host, port, deadline);
    if (fd < 0) return 1;
    char request[128];
    snprintf(request, sizeof(request),
             "GET %s HTTP/1.1\r\nHost: health\r\nConnection: close\r\n\r\n", path);
    int status = ask(fd, request, deadline);
    close(fd);
    if (status != 200) {
        if (status < 0)
            fprintf(stderr, "ssebroker health: no answer from %s:%s%s\n", shown, port, path);
        else
            fprintf(stderr, "ssebroker health: %s:%s%s answered %d\n", shown, port, path, status);
        return 1;
    }
    return 0;
}
