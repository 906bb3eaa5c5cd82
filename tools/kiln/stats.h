/* Statistics shared by kiln bench, compare and eval: summaries of samples (latencies, errors), percentiles by
 * trtexec's rule, the 95% confidence interval of a mean, histograms. Pure functions; no I/O. */
#ifndef KILN_TOOLS_STATS_H
#define KILN_TOOLS_STATS_H

#include <stddef.h>

/* Percentile p (0..100) of n >= 1 ascending samples, trtexec's rule: sorted[n - 1 - floor((1 - p/100) * n)], the
 * index clamped to 0..n-1. So p = 100 is the maximum and p = 50 of 10 samples is sorted[4]. */
double stats_percentile_sorted(const double *sorted, size_t n, double p);
/* Median of n >= 1 ascending samples; the mean of the middle two when n is even. */
double stats_median_sorted(const double *sorted, size_t n);
/* Two-sided 95% quantile of Student's t with df degrees of freedom (12.706 at df 1, 1.960 as df grows). */
double stats_t975(size_t df);

typedef struct {
    size_t n;
    double min, max, mean, median;
    size_t argmin, argmax; /* index in the unsorted input of the first minimum / maximum */
    double stddev;         /* sample standard deviation (n - 1 in the denominator); 0 when n < 2 */
    double cov;            /* stddev / mean (coefficient of variation); 0 when the mean is 0 */
    double ci95;           /* half-width of the 95% confidence interval of the mean: t975(n-1) * stddev / sqrt(n) */
    double sum;
    double avg_magnitude;  /* mean of |x| */
} stats_summary;

/* Summarise x[0..n). `sorted_out`, when not NULL, receives the n samples ascending (caller-owned, room for n).
 * NaNs sort last and make mean/stddev NaN. Returns 0, or -1 when n == 0 or out of memory (then *s is zeroed). */
int stats_summarize(const double *x, size_t n, stats_summary *s, double *sorted_out);

/* Histogram of n samples over [lo, hi] in `bins` equal bins: counts[b] (caller-owned, `bins` entries). Samples
 * outside [lo, hi] or NaN are not counted; the value hi lands in the last bin. */
void stats_histogram(const double *x, size_t n, double lo, double hi, int bins, size_t *counts);

#endif
