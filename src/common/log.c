#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum log_level min_level = LOG_INFO;
static int json_mode;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_setup(enum log_level min, int json)
{
    min_level = min;
    json_mode = json;
}

int log_level_parse(const char *s, enum log_level *out)
{
    for (unsigned i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

/* Turns `k=v k2="v 2"` into `,"k":"v","k2":"v 2"`. Values are emitted as JSON strings. */
static size_t logfmt_to_json(const char *in, char *out, size_t cap)
{
    size_t o = 0;
#define PUT(c)                                                                                     \
    do {                                                                                           \
        if (o + 1 < cap) out[o++] = (c);                                                           \
    } while (0)
    while (*in) {
        while (*in == ' ')
            in++;
        if (!*in) break;
        PUT(',');
        PUT('"');
        while (*in && *in != '=' && *in != ' ')
            PUT(*in++);
        PUT('"');
        PUT(':');
        PUT('"');
        if (*in == '=') {
            in++;
            int quoted = *in == '"';
            if (quoted) in++;
            while (*in && (quoted ? *in != '"' : *in != ' ')) {
                if (*in == '\\' && quoted && in[1]) {
                    PUT(*in++);
                } else if ((unsigned char)*in < 0x20) {
                    /* A control character as \u00XX: the line stays valid JSON. */
                    static const char hex[] = "0123456789abcdef";
                    unsigned char ch = (unsigned char)*in++;
                    PUT('\\');
                    PUT('u');
                    PUT('0');
                    PUT('0');
                    PUT(hex[ch >> 4]);
                    PUT(hex[ch & 15]);
                    continue;
                } else if (*in == '"') {
                    PUT('\\');
                }
                PUT(*in++);
            }
            if (quoted && *in == '"') in++;
        }
        PUT('"');
    }
#undef PUT
    out[o] = 0;
    return o;
}

void log_msg(enum log_level lvl, const char *msg, const char *fmt, ...)
{
    if (lvl < min_level) return;
    char kv[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(kv, sizeof(kv), fmt, ap);
    va_end(ap);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[40];
    size_t n = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + n, sizeof(when) - n, ".%03ldZ", ts.tv_nsec / 1000000);

    char line[2300];
    int len;
    if (json_mode) {
        char members[1100];
        logfmt_to_json(kv, members, sizeof(members));
        len = snprintf(line, sizeof(line), "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":\"%s\"%s}\n",
                       when, level_names[lvl], msg, members);
    } else {
        len = snprintf(line, sizeof(line), "time=%s level=%s msg=\"%s\"%s%s\n", when,
                       level_names[lvl], msg, kv[0] ? " " : "", kv);
    }
    if (len > (int)sizeof(line) - 1) {
        len = sizeof(line) - 1;
        line[len - 1] = '\n'; /* a cut line still ends as a line */
    }
    /* One write per line so lines from different threads never interleave. */
    ssize_t w = write(STDERR_FILENO, line, (size_t)len);
    (void)w;
}
