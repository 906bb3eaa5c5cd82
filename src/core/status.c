#include "status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Big enough for a list of every unsupported layer of a large model; longer text is cut with "...". */
#define KILN_DIAG_CAP 16384

static _Thread_local char diag_buf[KILN_DIAG_CAP];
static _Thread_local size_t diag_len;
static _Thread_local int diag_lines;

static void diag_vappend(const char *fmt, va_list ap)
{
    if (diag_len >= KILN_DIAG_CAP - 1) return;
    if (diag_len > 0) diag_buf[diag_len++] = '\n';
    int n = vsnprintf(diag_buf + diag_len, KILN_DIAG_CAP - diag_len, fmt, ap);
    if (n < 0) n = 0;
    diag_len += (size_t)n;
    if (diag_len >= KILN_DIAG_CAP - 1) {
        diag_len = KILN_DIAG_CAP - 1;
        memcpy(diag_buf + KILN_DIAG_CAP - 4, "...", 4);
    }
    diag_lines++;
}

kiln_status kiln_fail(kiln_status st, const char *fmt, ...)
{
    kiln_diag_clear();
    va_list ap;
    va_start(ap, fmt);
    diag_vappend(fmt, ap);
    va_end(ap);
    return st;
}

void kiln_diag_add(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_vappend(fmt, ap);
    va_end(ap);
}

void kiln_diag_clear(void)
{
    diag_len = 0;
    diag_lines = 0;
    diag_buf[0] = '\0';
}

int kiln_diag_count(void) { return diag_lines; }

const char *kiln_last_error(void) { return diag_buf; }

const char *kiln_status_string(kiln_status st)
{
    switch (st) {
#define X(e, s) case KILN_##e: return s;
        KILN_STATUS_LIST(X)
#undef X
    }
    return "unknown status";
}
