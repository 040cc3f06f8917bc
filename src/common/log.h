/* One line per event, logfmt or JSON. Never called per delivered event. */
#ifndef SSEB_LOG_H
#define SSEB_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_setup(enum log_level min, int json);
int log_level_parse(const char *s, enum log_level *out);

/* msg is a short fixed message; fmt adds key=value pairs in logfmt syntax ("k=%d k2=%s"). In JSON
 * mode the pairs are converted to members. */
void log_msg(enum log_level lvl, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(msg, ...) log_msg(LOG_DEBUG, msg, __VA_ARGS__)
#define log_info(msg, ...)  log_msg(LOG_INFO, msg, __VA_ARGS__)
#define log_warn(msg, ...)  log_msg(LOG_WARN, msg, __VA_ARGS__)
#define log_error(msg, ...) log_msg(LOG_ERROR, msg, __VA_ARGS__)

#endif
