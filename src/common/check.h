/* Invariants that no input can break. A broken one is a bug in this program: it is reported
 * with its place and the process aborts (in every build), since going on could acknowledge an
 * update and then lose it. Bad input, exhausted resources and peer errors are never checked
 * with this: they get an error answer. */
#ifndef SSEB_CHECK_H
#define SSEB_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define SSEB_BUG_ON(cond)                                                                          \
    do {                                                                                           \
        if (__builtin_expect(!!(cond), 0)) {                                                       \
            fprintf(stderr, "ssebroker: BUG at %s:%d: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
