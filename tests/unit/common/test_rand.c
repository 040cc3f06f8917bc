/* Generated ids: urn:uuid: and a version 4 UUID in lowercase hex, different every time. */
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
