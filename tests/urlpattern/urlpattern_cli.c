/* Reads URL Pattern cases as JSON lines and prints one JSON line per case, for the differential
 * test (tests/urlpattern/differential.test.mjs):
 *   in:  {"pattern": "...", "base": "..." | null, "input": "..." | null, "inputBase": ... | null}
 *   out: {"ok": true, "match": bool | null, "cost": n, "components": [8 pattern strings]}
 *        {"ok": false, "error": "reason"}
 * "match" is null when no input was given. */
#include "core/urlpattern.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *str(json_t *o, const char *key, size_t *len)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_string(v)) return NULL;
    *len = json_string_length(v);
    return json_string_value(v);
}

int main(void)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) > 0) {
        json_error_t err;
        json_t *c = json_loadb(line, (size_t)n, JSON_ALLOW_NUL, &err);
        json_t *out = json_object();
        if (!c) {
            json_object_set_new(out, "ok", json_false());
            json_object_set_new(out, "error", json_string("bad JSON line"));
        } else {
            size_t plen = 0, blen = 0, ilen = 0, iblen = 0;
            const char *pattern = str(c, "pattern", &plen);
            const char *base = str(c, "base", &blen);
            const char *input = str(c, "input", &ilen);
            const char *ibase = str(c, "inputBase", &iblen);
            const char *reason = NULL;
            struct urlpattern *p =
                pattern ? urlpattern_compile(pattern, plen, base, blen, &reason) : NULL;
            if (!p) {
                json_object_set_new(out, "ok", json_false());
                json_object_set_new(out, "error", json_string(reason ? reason : "no pattern"));
            } else {
                json_object_set_new(out, "ok", json_true());
                json_object_set_new(out, "cost", json_integer((json_int_t)urlpattern_cost(p)));
                json_t *comps = json_array();
                for (int k = 0; k < URLPATTERN_COMPONENTS; k++)
                    json_array_append_new(comps, json_string(urlpattern_component_pattern(p, k)));
                json_object_set_new(out, "components", comps);
                if (input)
                    json_object_set_new(
                        out, "match",
                        json_boolean(urlpattern_match_topic(p, input, ilen, ibase, iblen)));
                else
                    json_object_set_new(out, "match", json_null());
                urlpattern_free(p);
            }
            json_decref(c);
        }
        char *s = json_dumps(out, JSON_COMPACT | JSON_ENSURE_ASCII);
        puts(s ? s : "{\"ok\":false,\"error\":\"out of memory\"}");
        free(s);
        json_decref(out);
    }
    free(line);
    return 0;
}
