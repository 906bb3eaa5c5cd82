/* Status codes and the per-thread diagnostic buffer.
 *
 * Library code reports every problem here and returns a kiln_status; it never prints, exits or aborts on input.
 * An importer may add several diagnostics (one per unsupported layer) before returning, so the user sees them all. */
#ifndef KILN_CORE_STATUS_H
#define KILN_CORE_STATUS_H

#include "kiln.h"

/* Replace the diagnostic buffer with one formatted message; returns st so callers can `return kiln_fail(...)`. */
kiln_status kiln_fail(kiln_status st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append one more line to the diagnostic buffer (used to list every problem of one import). */
void kiln_diag_add(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Clear the diagnostic buffer (each public entry point starts clean). */
void kiln_diag_clear(void);
/* Number of lines added since the last clear. */
int kiln_diag_count(void);

#endif
