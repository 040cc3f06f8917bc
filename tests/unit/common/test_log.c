/* Log lines: logfmt by default; in JSON mode every line parses as JSON, control characters in
 * values included; an over-long line is cut but still ends with a newline. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

/* What log_msg writes to stderr, through a pipe. */
static char *capture(void (*emit)(void))
{
    static char buf[8192];
    int p[2];
    cr_assert_eq(pipe(p), 0);
    int saved = dup(STDERR_FILENO);
    dup2(p[1], STDERR_FILENO);
    emit();
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(p[1]);
    ssize_t n = read(p[0], buf, sizeof(buf) - 1);
    close(p[0]);
    buf[n > 0 ? n : 0] = 0;
    return buf;
}

static void emit_controls(void)
{
    log_info("hello", "worker=%d note=\"%s\"", 3, "a\x01tab\there\nend");
}

Test(log, json_lines_parse_with_control_characters)
{
    log_setup(LOG_DEBUG, 1);
    char *line = capture(emit_controls);
    json_error_t err;
    json_t *j = json_loads(line, 0, &err);
    cr_assert_not_null(j, "not JSON: %s (%s)", line, err.text);
    cr_assert_str_eq(json_string_value(json_object_get(j, "msg")), "hello");
    cr_assert_str_eq(json_string_value(json_object_get(j, "worker")), "3");
    cr_assert_str_eq(json_string_value(json_object_get(j, "note")), "a\x01tab\there\nend");
    json_decref(j);
}

static void emit_long(void)
{
    static char big[3000];
    memset(big, 'x', sizeof(big) - 1);
    log_warn("long", "v=%s", big);
}

Test(log, a_cut_line_still_ends_with_a_newline)
{
    log_setup(LOG_DEBUG, 0);
    char *line = capture(emit_long);
    size_t n = strlen(line);
    cr_assert_gt(n, 1000);
    cr_assert_eq(line[n - 1], '\n');
    cr_assert_eq(strchr(line, '\n'), line + n - 1, "one line");
}
