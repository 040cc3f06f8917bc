/* GET /: a small page to subscribe and publish from a browser (src/web/index.html, embedded by
 * the build as page_data.c). */
#include <stddef.h>

#include "mercure/handlers.h"
#include "net/conn.h"

extern const unsigned char sseb_page_html[];
extern const size_t sseb_page_html_len;

void page_handle(struct conn *c, bool keep_alive)
{
    conn_respond(c, 200, "text/html; charset=utf-8",
                 "X-Content-Type-Options: nosniff\r\nCache-Control: no-cache\r\n",
                 (const char *)sseb_page_html, sseb_page_html_len, !keep_alive);
}
