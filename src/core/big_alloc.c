/* Huge-page-advised allocation (big_alloc.h). */
#define _DEFAULT_SOURCE
#include "big_alloc.h"

#include <stdlib.h>
#include <string.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

enum { HUGE_PAGE = 2u << 20 };

static int huge_pages_wanted(void)
{
    const char *s = getenv("KILN_HUGE_PAGES");
    return !(s && strcmp(s, "0") == 0);
}

void *kiln_big_alloc(size_t bytes)
{
    if (bytes < HUGE_PAGE || !huge_pages_wanted()) {
        const size_t size = (bytes + 63) / 64 * 64;
        return aligned_alloc(64, size > 0 ? size : 64);
    }
    const size_t size = (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
    void *p = aligned_alloc(HUGE_PAGE, size);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (p) (void)madvise(p, size, MADV_HUGEPAGE); /* advice only: without THP the pages stay 4 KiB */
#endif
    return p;
}
