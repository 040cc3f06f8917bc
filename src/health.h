/* `ssebroker health`: the container health check, without curl in the image. */
#ifndef SSEBROKER_HEALTH_H
#define SSEBROKER_HEALTH_H

/* argv[1] is "health". Reads the configuration the broker itself would (the same flags and
 * SSEBROKER_* environment), asks GET /healthz (with --ready: /readyz) of the broker listening
 * there and returns the process exit status: 0 when it answered 200, 1 otherwise, 2 on a bad
 * option. */
int sseb_health_main(int argc, char **argv);

#endif
