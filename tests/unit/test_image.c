/* src/image: decoding, resizing and preprocessing.
 *
 * Without arguments: analytic checks that need no reference files (hand-built BMP bytes, constant and same-size
 * resizes, the preprocessing constants, refusals). With a directory argument (tests/cli/tests.cmake passes the one
 * tests/cli/image_reference.py wrote): every line of its manifest.txt, i.e. kiln's pixels and tensors against NumPy,
 * PIL and scikit-image. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "image/image.h"

static int failures, checks;

#define CHECK(cond, ...)                                            \
    do {                                                            \
        checks++;                                                   \
        if (!(cond)) {                                              \
            failures++;                                             \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);    \
            fprintf(stderr, __VA_ARGS__);                           \
            fprintf(stderr, "\n");                                  \
        }                                                           \
    } while (0)

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* A 2x2 24-bit bottom-up BMP: rows padded to 8 bytes. Top row red, green; bottom row blue, white. */
static size_t tiny_bmp(uint8_t *b)
{
    memset(b, 0, 70);
    b[0] = 'B', b[1] = 'M';
    put32(b + 2, 70);
    put32(b + 10, 54);
    put32(b + 14, 40);
    put32(b + 18, 2);
    put32(b + 22, 2);
    b[26] = 1, b[28] = 24;
    static const uint8_t px[16] = {255, 0, 0, 255, 255, 255, 0, 0, /* bottom: blue, white (B,G,R) */
                                   0, 0, 255, 0, 255, 0, 0, 0};   /* top: red, green */
    memcpy(b + 54, px, 16);
    return 70;
}

static void analytic_checks(void)
{
    uint8_t bmp[70];
    size_t n = tiny_bmp(bmp);
    kiln_image img;
    CHECK(kiln_image_decode(bmp, n, "tiny.bmp", &img) == KILN_OK, "tiny bmp: %s", kiln_last_error());
    static const uint8_t want[12] = {255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255};
    CHECK(img.width == 2 && img.height == 2 && memcmp(img.rgb, want, 12) == 0, "tiny bmp pixels");

    /* Same-size squash is the identity; 2x upscale of a 2x2: corners keep their colour (clamped border), the
     * second column/row is 3/4 of the first pixel plus 1/4 of the second. */
    float out[4 * 4 * 3];
    CHECK(kiln_image_resize(&img, 2, 2, KILN_RESIZE_SQUASH, out) == KILN_OK, "identity resize");
    for (int i = 0; i < 12; i++) CHECK(out[i] == want[i], "identity resize [%d] = %g", i, out[i]);
    CHECK(kiln_image_resize(&img, 4, 4, KILN_RESIZE_SQUASH, out) == KILN_OK, "upscale");
    CHECK(out[0] == 255 && out[1] == 0 && out[2] == 0, "corner stays red");
    CHECK(fabsf(out[3] - 191.25f) < 1e-4f && fabsf(out[4] - 63.75f) < 1e-4f, "x=1: 3/4 red + 1/4 green: %g %g",
          out[3], out[4]);
    /* preprocessing constants */
    float p[6] = {0, 127.5f, 255, 10, 20, 30};
    kiln_preprocess(p, 2, 3, KILN_PREPROCESS_TF);
    CHECK(p[0] == -1 && p[1] == 0 && p[2] == 1, "tf");
    CHECK(fabsf(p[3] - (10 / 127.5f - 1)) < 1e-6f, "tf second pixel");
    float q[3] = {10, 20, 30};
    kiln_preprocess(q, 1, 3, KILN_PREPROCESS_CAFFE);
    CHECK(fabsf(q[0] - (30 - 103.939f)) < 1e-4f && fabsf(q[1] - (20 - 116.779f)) < 1e-4f &&
              fabsf(q[2] - (10 - 123.68f)) < 1e-4f, "caffe swaps to BGR and subtracts the means");
    float t[3] = {255, 0, 127.5f};
    kiln_preprocess(t, 1, 3, KILN_PREPROCESS_TORCH);
    CHECK(fabsf(t[0] - (1 - 0.485f) / 0.229f) < 1e-5f && fabsf(t[1] + 0.456f / 0.224f) < 1e-5f, "torch");
    float r[3] = {1, 2, 3};
    kiln_preprocess(r, 1, 3, KILN_PREPROCESS_RAW);
    CHECK(r[0] == 1 && r[1] == 2 && r[2] == 3, "raw");
    /* a constant image stays constant through crop and gray conversion (luma weights sum to 1) */
    memset(img.rgb, 77, 12);
    float g[5 * 3];
    CHECK(kiln_image_to_tensor(&img, 3, 5, 1, KILN_RESIZE_CROP, KILN_PREPROCESS_RAW, g) == KILN_OK, "gray crop");
    for (int i = 0; i < 15; i++) CHECK(fabsf(g[i] - 77) < 1e-4f, "gray constant [%d] = %g", i, g[i]);
    CHECK(kiln_image_to_tensor(&img, 3, 5, 4, KILN_RESIZE_CROP, KILN_PREPROCESS_RAW, g) == KILN_ERR_SHAPE,
          "4 channels refused");
    CHECK(kiln_image_resize(&img, 0, 5, KILN_RESIZE_CROP, g) == KILN_ERR_INVALID_ARGUMENT, "0 height refused");
    kiln_image_free(&img);
    CHECK(img.rgb == NULL, "free zeroes");
    kiln_image_free(NULL);

    /* truncated and corrupted headers: every prefix of the BMP is refused, never read past */
    for (size_t len = 0; len < n; len++) {
        kiln_image t2;
        kiln_status st = kiln_image_decode(bmp, len, "cut.bmp", &t2);
        CHECK(st != KILN_OK && t2.rgb == NULL, "prefix %zu accepted", len);
        CHECK(len < 2 || strstr(kiln_last_error(), "cut.bmp") != NULL, "message names the file: %s",
              kiln_last_error());
    }
    uint8_t bad[70];
    memcpy(bad, bmp, 70);
    put32(bad + 10, 0xFFFFFFF0u); /* pixel offset beyond the file */
    CHECK(kiln_image_decode(bad, 70, "off.bmp", &img) == KILN_ERR_FORMAT, "bad offset: %s", kiln_last_error());
    memcpy(bad, bmp, 70);
    put32(bad + 18, 0x7FFFFFFF); /* absurd width */
    CHECK(kiln_image_decode(bad, 70, "wide.bmp", &img) != KILN_OK, "absurd width");

    kiln_resize_mode rm;
    kiln_preprocess_mode pm;
    CHECK(kiln_resize_mode_parse("crop", &rm) == 0 && rm == KILN_RESIZE_CROP, "parse crop");
    CHECK(kiln_resize_mode_parse("Crop", &rm) == -1, "parse is exact");
    CHECK(kiln_preprocess_mode_parse("caffe", &pm) == 0 && pm == KILN_PREPROCESS_CAFFE, "parse caffe");
    CHECK(strcmp(kiln_preprocess_mode_name(KILN_PREPROCESS_TORCH), "torch") == 0, "name torch");
}

static void *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *size = (size_t)n;
    return buf;
}

static kiln_status status_named(const char *s)
{
#define X(e, txt) if (strcmp(s, #e) == 0) return KILN_##e;
    KILN_STATUS_LIST(X)
#undef X
    return (kiln_status)-1;
}

static void reference_checks(const char *dir)
{
    char path[1024], line[1024];
    snprintf(path, sizeof path, "%s/manifest.txt", dir);
    FILE *m = fopen(path, "r");
    CHECK(m != NULL, "cannot open %s", path);
    if (!m) return;
    int lines = 0;
    while (fgets(line, sizeof line, m)) {
        char kind[16], file[256], ref[256], a[32], b[32];
        int W, H, C;
        double tol;
        char img_path[1024], ref_path[1024];
        if (sscanf(line, "%15s %255s", kind, file) != 2) continue;
        lines++;
        snprintf(img_path, sizeof img_path, "%s/%s", dir, file);
        kiln_image img;
        if (strcmp(kind, "decode") == 0 && sscanf(line, "%*s %*s %255s %d %d %lf", ref, &W, &H, &tol) == 4) {
            snprintf(ref_path, sizeof ref_path, "%s/%s", dir, ref);
            size_t n;
            uint8_t *want = read_all(ref_path, &n);
            kiln_status st = kiln_image_load(img_path, &img);
            CHECK(st == KILN_OK, "%s: %s", file, kiln_last_error());
            if (st == KILN_OK && want) {
                CHECK(img.width == W && img.height == H, "%s: size %dx%d, want %dx%d", file, img.width, img.height,
                      W, H);
                if (img.width == W && img.height == H && n == (size_t)W * H * 3) {
                    int worst = 0;
                    for (size_t i = 0; i < n; i++) {
                        int d = abs((int)img.rgb[i] - (int)want[i]);
                        if (d > worst) worst = d;
                    }
                    CHECK(worst <= tol, "%s: max pixel difference %d > %g", file, worst, tol);
                }
            }
            free(want);
            kiln_image_free(&img);
        } else if (strcmp(kind, "tensor") == 0 &&
                   sscanf(line, "%*s %*s %255s %d %d %d %31s %31s %lf", ref, &H, &W, &C, a, b, &tol) == 7) {
            kiln_resize_mode rm;
            kiln_preprocess_mode pm;
            CHECK(kiln_resize_mode_parse(a, &rm) == 0 && kiln_preprocess_mode_parse(b, &pm) == 0, "modes %s %s", a, b);
            snprintf(ref_path, sizeof ref_path, "%s/%s", dir, ref);
            size_t n;
            float *want = read_all(ref_path, &n);
            float *got = malloc(sizeof(float) * (size_t)H * W * C);
            CHECK(want && n == sizeof(float) * (size_t)H * W * C, "%s: reference size", ref);
            if (want && got && n == sizeof(float) * (size_t)H * W * C && kiln_image_load(img_path, &img) == KILN_OK) {
                kiln_status st = kiln_image_to_tensor(&img, H, W, C, rm, pm, got);
                CHECK(st == KILN_OK, "%s: %s", ref, kiln_last_error());
                double worst = 0;
                size_t at = 0;
                for (size_t i = 0; st == KILN_OK && i < (size_t)H * W * C; i++)
                    if (fabs((double)got[i] - want[i]) > worst) worst = fabs((double)got[i] - want[i]), at = i;
                CHECK(worst <= tol, "%s: max difference %g at %zu (got %g want %g) > %g", ref, worst, at,
                      (double)got[at], (double)want[at], tol);
                kiln_image_free(&img);
            }
            free(want);
            free(got);
        } else if (strcmp(kind, "fail") == 0 && sscanf(line, "%*s %*s %31s %255s", a, ref) == 2) {
            kiln_status st = kiln_image_load(img_path, &img);
            CHECK(st == status_named(a), "%s: status %s, want %s (%s)", file, kiln_status_string(st), a,
                  kiln_last_error());
            CHECK(img.rgb == NULL, "%s: no pixels on failure", file);
            CHECK(strstr(kiln_last_error(), ref) != NULL && strstr(kiln_last_error(), file) != NULL,
                  "%s: message '%s' lacks '%s' or the file name", file, kiln_last_error(), ref);
        } else {
            CHECK(0, "bad manifest line: %s", line);
        }
    }
    fclose(m);
    CHECK(lines > 30, "manifest has only %d lines", lines);
}

int main(int argc, char **argv)
{
    analytic_checks();
    if (argc > 1) reference_checks(argv[1]);
    printf("test_image: %d checks, %d failures%s\n", checks, failures,
           argc > 1 ? "" : " (analytic only; the reference run is cli.image_reference)");
    return failures ? 1 : 0;
}
