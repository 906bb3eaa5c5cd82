/* tools/kiln/stats.c against hand-computed values: trtexec's percentile rule (../shared/notes/anchors.md §2:
 * sorted[N-1-floor((1-p/100)*N)]), the even-N median, sample standard deviation, Student-t 95% interval, histogram. */
#include <math.h>
#include <stdio.h>

#include "../../tools/kiln/stats.c" /* the CLI's statistics are not part of libkiln */

static int failures;
#define CHECK_NEAR(got, want, tol)                                                                        \
    do {                                                                                                  \
        double g_ = (got), w_ = (want);                                                                   \
        if (!(fabs(g_ - w_) <= (tol))) {                                                                  \
            printf("FAIL %s:%d: %s = %.10g, expected %.10g\n", __FILE__, __LINE__, #got, g_, w_);       \
            failures++;                                                                                   \
        }                                                                                                 \
    } while (0)

int main(void)
{
    /* Ten samples 1..10, shuffled. p90: exclude floor(0.1*10) = 1 -> sorted[8] = 9; p95 and p99: exclude 0 -> 10;
     * p50: exclude 5 -> sorted[4] = 5 (trtexec's rule is not the median); median (even N) = (5 + 6) / 2. */
    const double x[10] = {7, 1, 3, 9, 5, 2, 8, 4, 10, 6};
    double sorted[10];
    stats_summary s;
    if (stats_summarize(x, 10, &s, sorted) != 0) return printf("FAIL summarize\n"), 1;
    CHECK_NEAR(stats_percentile_sorted(sorted, 10, 90), 9, 0);
    CHECK_NEAR(stats_percentile_sorted(sorted, 10, 95), 10, 0);
    CHECK_NEAR(stats_percentile_sorted(sorted, 10, 99), 10, 0);
    CHECK_NEAR(stats_percentile_sorted(sorted, 10, 50), 5, 0);
    CHECK_NEAR(stats_percentile_sorted(sorted, 10, 100), 10, 0);
    CHECK_NEAR(stats_percentile_sorted(sorted, 10, 0), 1, 0); /* exclude 10 -> index -1, clamped to 0 */
    CHECK_NEAR(s.median, 5.5, 0);
    CHECK_NEAR(s.mean, 5.5, 1e-15);
    CHECK_NEAR(s.min, 1, 0);
    CHECK_NEAR(s.max, 10, 0);
    CHECK_NEAR((double)s.argmin, 1, 0);
    CHECK_NEAR((double)s.argmax, 8, 0);
    CHECK_NEAR(s.sum, 55, 0);
    /* sample variance = sum((x - 5.5)^2) / 9 = 82.5 / 9 */
    CHECK_NEAR(s.stddev, sqrt(82.5 / 9), 1e-12);
    CHECK_NEAR(s.cov, sqrt(82.5 / 9) / 5.5, 1e-12);
    /* 95% CI half-width: t(0.975, 9) = 2.2622 (table) * s / sqrt(10) */
    CHECK_NEAR(s.ci95, 2.2622 * sqrt(82.5 / 9) / sqrt(10.0), 1e-9);

    /* 1..100: p90 -> exclude 10 -> sorted[89] = 90; p95 -> 95; p99 -> 99; median 50.5. */
    double h[100];
    for (int i = 0; i < 100; i++) h[i] = 100 - i;
    double hs[100];
    stats_summarize(h, 100, &s, hs);
    CHECK_NEAR(stats_percentile_sorted(hs, 100, 90), 90, 0);
    CHECK_NEAR(stats_percentile_sorted(hs, 100, 95), 95, 0);
    CHECK_NEAR(stats_percentile_sorted(hs, 100, 99), 99, 0);
    CHECK_NEAR(stats_percentile_sorted(hs, 100, 99.9), 100, 0);
    CHECK_NEAR(s.median, 50.5, 0);

    /* Odd N: {3, 1, 2}: median 2, p90 -> exclude floor(0.3) = 0 -> 3, p50 -> exclude 1 -> sorted[1] = 2. */
    const double o[3] = {3, 1, 2};
    double os[3];
    stats_summarize(o, 3, &s, os);
    CHECK_NEAR(s.median, 2, 0);
    CHECK_NEAR(stats_percentile_sorted(os, 3, 90), 3, 0);
    CHECK_NEAR(stats_percentile_sorted(os, 3, 50), 2, 0);

    /* One sample: no spread, no interval. */
    const double one = 4.25;
    stats_summarize(&one, 1, &s, NULL);
    CHECK_NEAR(s.median, 4.25, 0);
    CHECK_NEAR(s.stddev, 0, 0);
    CHECK_NEAR(s.ci95, 0, 0);
    if (stats_summarize(&one, 0, &s, NULL) != -1) printf("FAIL: n = 0 must be refused\n"), failures++;

    /* Student t quantiles: table values and the large-df expansion (t(0.975, 100) = 1.98397, t(.., 1000) = 1.96234). */
    CHECK_NEAR(stats_t975(1), 12.7062, 1e-4);
    CHECK_NEAR(stats_t975(30), 2.0423, 1e-4);
    CHECK_NEAR(stats_t975(100), 1.98397, 1e-4);
    CHECK_NEAR(stats_t975(1000), 1.96234, 1e-4);

    /* Histogram over [0, 2] in 4 bins: 0 | 0.5 | 1 | 1.5 and 2 (the upper edge goes to the last bin); 3 is outside. */
    const double v[6] = {0, 0.5, 1, 1.5, 2, 3};
    size_t counts[4];
    stats_histogram(v, 6, 0, 2, 4, counts);
    CHECK_NEAR((double)counts[0], 1, 0);
    CHECK_NEAR((double)counts[1], 1, 0);
    CHECK_NEAR((double)counts[2], 1, 0);
    CHECK_NEAR((double)counts[3], 2, 0);

    printf("test_stats: %d failures\n", failures);
    return failures != 0;
}
