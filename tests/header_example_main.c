/* Runs the example at the top of include/kiln.h (extracted at build time into header_example.c): on a file that is not
 * a model it must fail cleanly (-1) with a message naming the file, never crash. */
#include <stdio.h>
#include <string.h>

#include <kiln.h>

int classify(const char *model_path, const float *image_nhwc);

int main(void)
{
    static float image[224 * 224 * 3];
    int r = classify("/nonexistent/model.h5", image);
    if (r != -1 || !strstr(kiln_last_error(), "/nonexistent/model.h5")) {
        fprintf(stderr, "header example: expected -1 and a message naming the file, got %d (%s)\n", r,
                kiln_last_error());
        return 1;
    }
    printf("header example compiled and failed cleanly on a missing model: %s\n", kiln_last_error());
    return 0;
}
