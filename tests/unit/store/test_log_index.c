/* The log's index: records found by seq (file, offset, how many follow in the file) and by id,
 * across files, skipped seqs, dropped files and ids reused; and a large one stays exact. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "store/log_index.h"

static void add(struct log_index *x, uint64_t file, uint64_t seq, uint64_t off, const char *id)
{
    cr_assert_eq(log_index_add(x, file, seq, off, id, strlen(id)), 0);
}

Test(log_index, locate_across_files_and_gaps)
{
    struct log_index *x = log_index_new();
    cr_assert_eq(log_index_oldest(x), 0);
    add(x, 0, 1, 16, "a");
    add(x, 0, 2, 100, "b");
    add(x, 0, 3, 200, "c");
    add(x, 3, 4, 16, "d");
    add(x, 3, 7, 90, "e"); /* seqs 5 and 6 were never indexed */
    uint64_t file, off, run;
    cr_assert(log_index_locate(x, 2, &file, &off, &run));
    cr_assert_eq(file, 0);
    cr_assert_eq(off, 100);
    cr_assert_eq(run, 2, "b and c follow in file 0");
    cr_assert(log_index_locate(x, 4, &file, &off, &run));
    cr_assert_eq(file, 3);
    cr_assert_eq(run, 1);
    cr_assert_not(log_index_locate(x, 5, &file, &off, &run));
    cr_assert_eq(log_index_next(x, 5), 7);
    cr_assert_eq(log_index_next(x, 8), 0);
    cr_assert_eq(log_index_oldest(x), 1);
    cr_assert_eq(log_index_newest(x), 7);
    cr_assert_eq(log_index_count(x), 5);

    log_index_drop_file(x, 0);
    cr_assert_eq(log_index_oldest(x), 4);
    cr_assert_not(log_index_locate(x, 2, &file, &off, &run));
    uint64_t seq;
    cr_assert_not(log_index_find(x, "b", 1, &seq), "a dropped file's ids are gone");
    cr_assert(log_index_find(x, "e", 1, &seq));
    cr_assert_eq(seq, 7);
    /* The newest file, set aside at recovery. */
    log_index_drop_file(x, 3);
    cr_assert_eq(log_index_oldest(x), 0);
    cr_assert_eq(log_index_newest(x), 0);
    cr_assert_eq(log_index_count(x), 0);
    log_index_free(x);
}

Test(log_index, a_reused_id_finds_its_newest_record)
{
    struct log_index *x = log_index_new();
    add(x, 0, 1, 16, "same");
    add(x, 0, 2, 50, "other");
    add(x, 1, 3, 16, "same");
    uint64_t seq;
    cr_assert(log_index_find(x, "same", 4, &seq));
    cr_assert_eq(seq, 3);
    log_index_drop_file(x, 0); /* the older record's removal leaves the newer one findable */
    cr_assert(log_index_find(x, "same", 4, &seq));
    cr_assert_eq(seq, 3);
    log_index_free(x);
}

Test(log_index, many_records_through_growth_and_drops)
{
    struct log_index *x = log_index_new();
    char id[32];
    const uint64_t per_file = 1000, files = 200;
    for (uint64_t s = 1; s <= per_file * files; s++) {
        snprintf(id, sizeof(id), "id-%llu", (unsigned long long)s);
        add(x, (s - 1) / per_file, s, s * 10, id);
    }
    for (uint64_t f = 0; f < files / 2; f++)
        log_index_drop_file(x, f);
    cr_assert_eq(log_index_count(x), per_file * files / 2);
    for (uint64_t s = 1; s <= per_file * files; s++) {
        snprintf(id, sizeof(id), "id-%llu", (unsigned long long)s);
        uint64_t seq, file, off, run;
        bool kept = s > per_file * files / 2;
        cr_assert_eq(log_index_find(x, id, strlen(id), &seq), kept, "%s", id);
        if (!kept) continue;
        cr_assert_eq(seq, s);
        cr_assert(log_index_locate(x, s, &file, &off, &run));
        cr_assert_eq(off, s * 10);
        cr_assert_eq(run, per_file - (s - 1) % per_file);
    }
    log_index_free(x);
}
