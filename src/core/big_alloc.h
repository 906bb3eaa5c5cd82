/* Large, long-lived buffers (packed weights, activation arenas, workspaces) on transparent huge pages where the OS
 * offers them: at batch 1 a network's weights stream from memory every run, and with 4 KiB pages each 4 KiB of a
 * weight panel is a TLB miss (a two-level page walk in a VM) and a stop for the hardware prefetchers, which do not
 * cross pages. Measured on ResNet50's 7x7 3x3 conv with its weights flushed (bench/cpu_conv_layers, KILN_BENCH_COLD=1):
 * 0.93 -> 0.83 ms. */
#ifndef KILN_CORE_BIG_ALLOC_H
#define KILN_CORE_BIG_ALLOC_H

#include <stddef.h>

/* Returns an owned buffer of at least `bytes` (64-byte aligned; 2 MiB aligned and advised for huge pages when
 * bytes >= 2 MiB), to be released with free(); NULL when out of memory. KILN_HUGE_PAGES=0 turns the advice off. */
void *kiln_big_alloc(size_t bytes);

#endif
