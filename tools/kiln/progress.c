/* Progress bar on a TTY (see progress.h). */
#include "progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

double cli_now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void cli_progress_start(cli_progress *p, size_t total, const char *what, int want)
{
    p->enabled = want && isatty(fileno(stderr));
    p->total = total;
    p->what = what;
    p->t0 = cli_now_s();
    p->last_draw = 0;
}

void cli_progress_update(cli_progress *p, size_t done)
{
    if (!p->enabled) return;
    double now = cli_now_s();
    if (done < p->total && now - p->last_draw < 0.1) return;
    p->last_draw = now;
    const int width = 30;
    int fill = p->total ? (int)((double)done / (double)p->total * width) : width;
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = '\0';
    double el = now - p->t0, rate = el > 0 ? (double)done / el : 0;
    double eta = rate > 0 ? (double)(p->total - done) / rate : 0;
    fprintf(stderr, "\r[%s] %zu/%zu %s  %.1f/s  ETA %.0f s \x1b[K", bar, done, p->total, p->what, rate, eta);
    fflush(stderr);
}

void cli_progress_end(cli_progress *p)
{
    if (!p->enabled) return;
    fprintf(stderr, "\r\x1b[K");
    fflush(stderr);
}
