/* Server process tree sampling: VmRSS, Pss and CPU time of --pid and its descendants. */

#include "loadgen.h"

static bool read_file(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f) return false;
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
    return n > 0;
}

/* utime+stime (ticks) and ppid from /proc/<pid>/stat. */
static bool read_stat(int pid, int *ppid, uint64_t *ticks)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    if (!read_file(path, buf, sizeof buf)) return false;
    char *p = strrchr(buf, ')');
    if (!p) return false;
    p += 2; /* fields from 3 (state) on */
    unsigned long long v[13] = {0};
    char state;
    if (sscanf(p, "%c %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &state, &v[0],
               &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9], &v[10], &v[11]) != 13)
        return false;
    *ppid = (int)v[0];
    *ticks = v[10] + v[11]; /* fields 14 and 15: utime, stime */
    return true;
}

static uint64_t read_kb_field(const char *path, const char *field)
{
    char buf[8192];
    if (!read_file(path, buf, sizeof buf)) return 0;
    size_t fl = strlen(field);
    for (char *line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
        if (strncmp(line, field, fl) == 0) return strtoull(line + fl, NULL, 10);
    return 0;
}

void sample_server(struct srv_sample *s)
{
    memset(s, 0, sizeof *s);
    if (O.server_pid <= 0) return;
    int cap = 4096, n = 0;
    int *pids = malloc(sizeof(int) * (size_t)cap), *ppids = malloc(sizeof(int) * (size_t)cap);
    uint64_t *ticks = malloc(sizeof(uint64_t) * (size_t)cap);
    bool *in = calloc((size_t)cap, sizeof(bool));
    DIR *d = opendir("/proc");
    if (!pids || !ppids || !ticks || !in || !d) goto out;
    struct dirent *de;
    while ((de = readdir(d)) && n < cap) {
        if (!isdigit((unsigned char)de->d_name[0])) continue;
        int pid = atoi(de->d_name);
        if (read_stat(pid, &ppids[n], &ticks[n])) pids[n++] = pid;
    }
    for (int i = 0; i < n; i++)
        in[i] = pids[i] == O.server_pid;
    for (bool grew = true; grew;) { /* descendants: fixed point over the parent links */
        grew = false;
        for (int i = 0; i < n; i++) {
            if (in[i]) continue;
            for (int j = 0; j < n; j++) {
                if (in[j] && pids[j] == ppids[i]) {
                    in[i] = grew = true;
                    break;
                }
            }
        }
    }
    uint64_t t = 0;
    for (int i = 0; i < n; i++) {
        if (!in[i]) continue;
        char path[64];
        s->nproc++;
        t += ticks[i];
        snprintf(path, sizeof path, "/proc/%d/status", pids[i]);
        s->rss_kb += read_kb_field(path, "VmRSS:");
        snprintf(path, sizeof path, "/proc/%d/smaps_rollup", pids[i]);
        s->pss_kb += read_kb_field(path, "Pss:");
    }
    s->ok = s->nproc > 0;
    s->cpu_s = (double)t / (double)sysconf(_SC_CLK_TCK);
out:
    if (d) closedir(d);
    free(pids);
    free(ppids);
    free(ticks);
    free(in);
}
