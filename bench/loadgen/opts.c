/* Options parsing */

#include "loadgen.h"

static void usage(FILE *f)
{
    fputs("usage: loadgen [options]\n"
          "Target\n"
          "  --host ADDR            IPv4 loopback address of the hub (127.0.0.1)\n"
          "  --port N               hub port (8080); publishes go there\n"
          "  --sub-ports P,P,...    spread subscribers over these ports (cluster nodes)\n"
          "  --target T             publish format: mercure (form POST with JWT), node (form\n"
          "                         POST, no JWT), nchan (raw body POST to --pub-path?topic=)\n"
          "  --sub-path P           subscribe path (/.well-known/mercure)\n"
          "  --pub-path P           publish path (/.well-known/mercure; nchan: /pub)\n"
          "  --jwt TOKEN            publisher JWT (default: HS256 token computed from --jwt-key\n"
          "                         with claims {\"mercure\":{\"publish\":[\"*\"]}})\n"
          "  --jwt-key KEY          HS256 key (the Mercure dev key)\n"
          "  --jwt-claims JSON      claims of the computed token\n"
          "  --pid PID              server pid: RSS/PSS and CPU of it and its descendants\n"
          "  --name NAME            server name for the report (defaults to --target)\n"
          "  --label NAME           scenario label for the report\n"
          "Subscribers\n"
          "  --subs N               subscriber connections (100)\n"
          "  --topics M             topic groups; subscriber i follows group i %% M (1)\n"
          "  --topic-prefix P       topic of group g is P<g> (https://example.com/t/)\n"
          "  --template             subscribe with URI templates: P{id} (M=1) or P g<g>/{id};\n"
          "                         updates go to P<id> / P g<g>/<id> with a random id\n"
          "  --template-ids N       range of random ids in template mode (1000000)\n"
          "  --connect-rate R       new connections per second, all processes (5000; 0 = no cap)\n"
          "  --max-pending N        unfinished subscribe handshakes per process (256)\n"
          "  --src-addrs N          bind sources 127.0.0.2 .. 127.0.0.(N+1) round-robin (8; 0 =\n"
          "                         let the kernel choose)\n"
          "  --procs P              subscriber processes (0 = as many as the open-file limit\n"
          "                         needs, at least 1)\n"
          "  --connect-timeout-ms T one subscribe attempt (5000); --retries N attempts more (3)\n"
          "Publishing\n"
          "  --updates K            updates to publish (1000; 0 = idle streams only)\n"
          "  --rate R               updates per second (0 = as fast as the window allows)\n"
          "  --pub-conns C          keep-alive publisher connections (4)\n"
          "  --pipeline D           requests in flight per publisher connection (1); window C*D\n"
          "  --round-robin          pick topic groups in turn instead of at random\n"
          "  --payload-size B       pad the data field to B bytes (0 = ~60 byte header only)\n"
          "  --seed N               PRNG seed for topic choice\n"
          "Timing\n"
          "  --settle-ms T          wait after all subscribed, before sampling memory (500)\n"
          "  --warmup-ms T          before measuring, publish a probe per topic (again every\n"
          "                         300 ms) until every stream got one, for at most T ms (0: off)\n"
          "  --pause-ms T           before publishing, print 'loadgen: publishing in T ms' on\n"
          "                         stderr and wait T ms (a profiler attaches to the server)\n"
          "  --drain-ms T           wait for deliveries after the last response (10000)\n"
          "  --timeout S            hard limit for the whole run in seconds (120)\n"
          "  --quiet                JSON line only\n"
          "  --print-jwt            print the publisher token and exit\n",
          f);
}

static uint64_t num_arg(const char *s, const char *name, uint64_t lo, uint64_t hi)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi)
        die("--%s: expected an integer in [%" PRIu64 ", %" PRIu64 "], got '%s'", name, lo, hi, s);
    return v;
}

static double dbl_arg(const char *s, const char *name, double lo, double hi)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= lo && v <= hi))
        die("--%s: expected a number in [%g, %g], got '%s'", name, lo, hi, s);
    return v;
}

const char *g_target_arg = "mercure";

bool g_print_jwt, g_help;
static const char *g_sub_ports_arg;

const struct optdef OPTS[] = {
    {"host", A_STR, &O.host, 0, 0},
    {"port", A_INT, &O.port, 1, 65535},
    {"target", A_STR, &g_target_arg, 0, 0},
    {"sub-ports", A_STR, &g_sub_ports_arg, 0, 0},
    {"sub-path", A_STR, &O.sub_path, 0, 0},
    {"pub-path", A_STR, &O.pub_path, 0, 0},
    {"jwt", A_STR, &O.jwt, 0, 0},
    {"jwt-key", A_STR, &O.jwt_key, 0, 0},
    {"jwt-claims", A_STR, &O.jwt_claims, 0, 0},
    {"pid", A_INT, &O.server_pid, 1, 1 << 30},
    {"name", A_STR, &O.name, 0, 0},
    {"label", A_STR, &O.label, 0, 0},
    {"subs", A_U32, &O.subs, 0, 10000000},
    {"topics", A_U32, &O.topics, 1, 10000000},
    {"topic-prefix", A_STR, &O.prefix, 0, 0},
    {"template", A_FLAG, &O.tmpl, 0, 0},
    {"template-ids", A_U32, &O.tmpl_ids, 1, 2147483648.0},
    {"connect-rate", A_DBL, &O.connect_rate, 0, 1e9},
    {"max-pending", A_U32, &O.max_pending, 1, 1000000},
    {"src-addrs", A_U32, &O.src_addrs, 0, MAX_SRC_ADDRS},
    {"procs", A_U32, &O.procs, 0, 256},
    {"connect-timeout-ms", A_U32, &O.connect_timeout_ms, 1, 600000},
    {"retries", A_U32, &O.retries, 0, 100},
    {"updates", A_U64, &O.updates, 0, (double)MAX_UPDATES},
    {"rate", A_DBL, &O.rate, 0, 1e9},
    {"pub-conns", A_U32, &O.pub_conns, 1, MAX_PUB_CONNS},
    {"pipeline", A_U32, &O.pipeline, 1, MAX_PIPELINE},
    {"round-robin", A_FLAG, &O.round_robin, 0, 0},
    {"payload-size", A_U32, &O.payload_size, 0, MAX_PAYLOAD},
    {"seed", A_U64, &O.seed, 0, 1e18},
    {"settle-ms", A_U32, &O.settle_ms, 0, 600000},
    {"warmup-ms", A_U32, &O.warmup_ms, 0, 600000},
    {"pause-ms", A_U32, &O.pause_ms, 0, 600000},
    {"drain-ms", A_U32, &O.drain_ms, 0, 3600000},
    {"timeout", A_DBL, &O.timeout_s, 1, 86400},
    {"quiet", A_FLAG, &O.quiet, 0, 0},
    {"print-jwt", A_FLAG, &g_print_jwt, 0, 0},
    {"help", A_FLAG, &g_help, 0, 0},
};

static void set_opt(const struct optdef *d, const char *v)
{
    switch (d->kind) {
    case A_STR:
        *(const char **)d->dst = v;
        break;
    case A_U32:
        *(uint32_t *)d->dst = (uint32_t)num_arg(v, d->name, (uint64_t)d->lo, (uint64_t)d->hi);
        break;
    case A_U64:
        *(uint64_t *)d->dst = num_arg(v, d->name, (uint64_t)d->lo, (uint64_t)d->hi);
        break;
    case A_INT:
        *(int *)d->dst = (int)num_arg(v, d->name, (uint64_t)d->lo, (uint64_t)d->hi);
        break;
    case A_DBL:
        *(double *)d->dst = dbl_arg(v, d->name, d->lo, d->hi);
        break;
    case A_FLAG:
        *(bool *)d->dst = true;
        break;
    }
}

void parse_opts(int argc, char **argv)
{
    O = (struct opts){.host = "127.0.0.1",
                      .port = 8080,
                      .label = "",
                      .subs = 100,
                      .topics = 1,
                      .tmpl_ids = 1000000,
                      .prefix = "https://example.com/t/",
                      .updates = 1000,
                      .pub_conns = 4,
                      .pipeline = 1,
                      .connect_rate = 5000,
                      .max_pending = 256,
                      .src_addrs = 8,
                      .sub_path = "/.well-known/mercure",
                      .jwt_key = DEFAULT_JWT_KEY,
                      .jwt_claims = DEFAULT_CLAIMS,
                      .settle_ms = 500,
                      .drain_ms = 10000,
                      .connect_timeout_ms = 5000,
                      .retries = 3,
                      .timeout_s = 120};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0) a = "--help";
        if (strncmp(a, "--", 2) != 0) die("unexpected argument '%s' (see --help)", a);
        a += 2;
        const char *eq = strchr(a, '=');
        size_t nl = eq ? (size_t)(eq - a) : strlen(a);
        const struct optdef *d = NULL;
        for (size_t k = 0; k < sizeof OPTS / sizeof OPTS[0]; k++)
            if (strlen(OPTS[k].name) == nl && strncmp(OPTS[k].name, a, nl) == 0) d = &OPTS[k];
        if (!d) die("unknown option '%s' (see --help)", argv[i]);
        if (d->kind == A_FLAG) {
            if (eq) die("--%s takes no value", d->name);
            set_opt(d, NULL);
        } else if (eq) {
            set_opt(d, eq + 1);
        } else {
            if (i + 1 >= argc) die("--%s needs a value", d->name);
            set_opt(d, argv[++i]);
        }
    }
    if (g_help) {
        usage(stdout);
        exit(0);
    }
    if (strcmp(g_target_arg, "mercure") == 0)
        O.target = TARGET_MERCURE;
    else if (strcmp(g_target_arg, "nchan") == 0)
        O.target = TARGET_NCHAN;
    else if (strcmp(g_target_arg, "node") == 0)
        O.target = TARGET_NODE;
    else
        die("--target: mercure, nchan or node");
    if (g_sub_ports_arg) {
        char *list = strdup(g_sub_ports_arg), *save = NULL;
        for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            if (O.n_sub_ports == MAX_SUB_PORTS) die("--sub-ports: at most %d ports", MAX_SUB_PORTS);
            O.sub_ports[O.n_sub_ports++] = (int)num_arg(t, "sub-ports", 1, 65535);
        }
        free(list);
    }
    if (inet_pton(AF_INET, O.host, &O.addr) != 1) die("--host: not an IPv4 address: %s", O.host);
    if ((ntohl(O.addr.s_addr) >> 24) != 127) die("--host: loopback (127.0.0.0/8) only");
    if (!O.pub_path) O.pub_path = O.target == TARGET_NCHAN ? "/pub" : "/.well-known/mercure";
    if (!O.name) O.name = g_target_arg;
    if (O.tmpl && O.target == TARGET_NCHAN) die("--template: nchan has no URI-template selectors");
    if (O.topics > O.subs && O.subs > 0) die("--topics %u exceeds --subs %u", O.topics, O.subs);
    if (strlen(O.prefix) > 300) die("--topic-prefix too long");
    if (g_print_jwt) {
        puts(O.jwt ? O.jwt : make_jwt(O.jwt_key, O.jwt_claims));
        exit(0);
    }
    if (O.target != TARGET_MERCURE)
        O.jwt = NULL;
    else if (!O.jwt)
        O.jwt = make_jwt(O.jwt_key, O.jwt_claims);
    if (O.jwt && strlen(O.jwt) > 1100) die("--jwt too long");
}
