/* Statistics for kiln bench / compare / eval (see stats.h). */
#include "stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

double stats_percentile_sorted(const double *sorted, size_t n, double p)
{
    if (n == 0) return NAN;
    /* (100 - p) * n / 100 rather than (1 - p/100) * n: 1 - 0.9 is 0.0999..., which would drop one excluded sample.
     * The epsilon keeps exact products exact. */
    double k = floor((100.0 - p) * (double)n / 100.0 + 1e-9);
    long idx = (long)n - 1 - (long)k;
    if (idx < 0) idx = 0;
    if (idx > (long)n - 1) idx = (long)n - 1;
    return sorted[idx];
}

double stats_median_sorted(const double *sorted, size_t n)
{
    if (n == 0) return NAN;
    if (n % 2) return sorted[n / 2];
    return 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
}

double stats_t975(size_t df)
{
    /* Exact table to df 30, then the Cornish-Fisher expansion around z = 1.959964 (error < 1e-4 beyond 30). */
    static const double t[31] = {NAN,    12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
                                 2.2010, 2.1788,  2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860, 2.0796,
                                 2.0739, 2.0687,  2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423};
    if (df == 0) return NAN;
    if (df <= 30) return t[df];
    const double z = 1.959963985, v = (double)df;
    const double z3 = z * z * z, z5 = z3 * z * z, z7 = z5 * z * z;
    return z + (z3 + z) / (4 * v) + (5 * z5 + 16 * z3 + 3 * z) / (96 * v * v) +
           (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * v * v * v);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    if (isnan(x)) return isnan(y) ? 0 : 1;
    if (isnan(y)) return -1;
    return (x > y) - (x < y);
}

int stats_summarize(const double *x, size_t n, stats_summary *s, double *sorted_out)
{
    memset(s, 0, sizeof *s);
    if (n == 0) return -1;
    double *sorted = sorted_out ? sorted_out : malloc(sizeof(double) * n);
    if (!sorted) return -1;
    memcpy(sorted, x, sizeof(double) * n);
    qsort(sorted, n, sizeof(double), cmp_double);
    s->n = n;
    s->min = x[0];
    s->max = x[0];
    double sum = 0, mag = 0;
    for (size_t i = 0; i < n; i++) {
        if (x[i] < s->min) s->min = x[i], s->argmin = i;
        if (x[i] > s->max) s->max = x[i], s->argmax = i;
        sum += x[i];
        mag += fabs(x[i]);
    }
    s->sum = sum;
    s->mean = sum / (double)n;
    s->avg_magnitude = mag / (double)n;
    s->median = stats_median_sorted(sorted, n);
    if (n > 1) {
        /* Two-pass variance: the mean first, then squared deviations (no catastrophic cancellation). */
        double ss = 0;
        for (size_t i = 0; i < n; i++) ss += (x[i] - s->mean) * (x[i] - s->mean);
        s->stddev = sqrt(ss / (double)(n - 1));
        s->ci95 = stats_t975(n - 1) * s->stddev / sqrt((double)n);
    }
    s->cov = s->mean != 0 ? s->stddev / fabs(s->mean) : 0;
    if (!sorted_out) free(sorted);
    return 0;
}

void stats_histogram(const double *x, size_t n, double lo, double hi, int bins, size_t *counts)
{
    for (int b = 0; b < bins; b++) counts[b] = 0;
    if (bins <= 0) return;
    double width = (hi - lo) / bins;
    for (size_t i = 0; i < n; i++) {
        if (!(x[i] >= lo && x[i] <= hi)) continue;
        int b = width > 0 ? (int)((x[i] - lo) / width) : 0;
        if (b >= bins) b = bins - 1;
        if (b < 0) b = 0;
        counts[b]++;
    }
}
