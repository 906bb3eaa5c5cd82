/* A progress bar for long commands (eval; build and calibration may use it): drawn on stderr only when stderr is a
 * terminal and the command is not --quiet/--json, so pipes and CI logs stay clean. */
#ifndef KILN_TOOLS_PROGRESS_H
#define KILN_TOOLS_PROGRESS_H

#include <stddef.h>

typedef struct {
    int enabled;
    size_t total;
    const char *what;   /* "images" */
    double t0;          /* CLOCK_MONOTONIC seconds at start */
    double last_draw;
} cli_progress;

/* enabled = want && stderr is a TTY. */
void cli_progress_start(cli_progress *p, size_t total, const char *what, int want);
/* Redraw (at most 10 times a second, and always at done == total): "[#####.....] 45/100 images  12.3/s  ETA 5 s". */
void cli_progress_update(cli_progress *p, size_t done);
/* Clear the bar line. */
void cli_progress_end(cli_progress *p);
/* CLOCK_MONOTONIC in seconds. */
double cli_now_s(void);

#endif
