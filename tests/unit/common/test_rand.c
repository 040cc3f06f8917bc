/* Generated ids: urn:uuid: and a version 4 UUID in lowercase hex, or '#' and 12 base64url
 * characters; different every time. */
#include <criterion/criterion.h>
#include <string.h>

#include "common/rand.h"

Test(rand, urn_uuid_is_a_lowercase_v4_uuid)
{
    char prev[RAND_URN_UUID_LEN + 1] = "";
    for (int n = 0; n < 1000; n++) {
        char id[RAND_URN_UUID_LEN + 1];
        rand_urn_uuid(id);
        cr_assert_eq(strlen(id), RAND_URN_UUID_LEN, "%s", id);
        cr_assert(strncmp(id, "urn:uuid:", 9) == 0, "%s", id);
        const char *u = id + 9;
        for (int i = 0; i < 36; i++) {
            if (i == 8 || i == 13 || i == 18 || i == 23)
                cr_assert_eq(u[i], '-', "%s", id);
            else
                cr_assert(strchr("0123456789abcdef", u[i]) && u[i], "%s", id);
        }
        cr_assert_eq(u[14], '4', "version: %s", id);
        cr_assert(strchr("89ab", u[19]), "variant: %s", id);
        cr_assert(strcmp(id, prev) != 0);
        memcpy(prev, id, sizeof(id));
    }
}

Test(rand, fragment_id_is_a_hash_and_twelve_base64url_characters)
{
    static const char base64url[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char prev[RAND_FRAGMENT_LEN + 1] = "";
    bool seen[12][64] = {{false}};
    for (int n = 0; n < 4000; n++) {
        char id[RAND_FRAGMENT_LEN + 1];
        rand_fragment_id(id);
        cr_assert_eq(strlen(id), RAND_FRAGMENT_LEN, "%s", id);
        cr_assert_eq(id[0], '#', "%s", id);
        for (int i = 0; i < 12; i++) {
            const char *at = strchr(base64url, id[1 + i]);
            cr_assert(at && id[1 + i], "%s", id);
            seen[i][at - base64url] = true;
        }
        cr_assert(strcmp(id, prev) != 0);
        memcpy(prev, id, sizeof(id));
    }
    /* Every position carries 6 random bits: each takes all 64 values in 4,000 draws (the
     * chance that one misses any is below 1e-25). */
    for (int i = 0; i < 12; i++)
        for (int v = 0; v < 64; v++)
            cr_assert(seen[i][v], "position %d never held %c", i, base64url[v]);
}

Test(rand, event_id_takes_either_form)
{
    char id[RAND_EVENT_ID_MAX + 1];
    cr_assert_eq(rand_event_id(false, id), RAND_FRAGMENT_LEN);
    cr_assert_eq(id[0], '#');
    cr_assert_eq(rand_event_id(true, id), RAND_URN_UUID_LEN);
    cr_assert_eq(strncmp(id, "urn:uuid:", 9), 0);
}
