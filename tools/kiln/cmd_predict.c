/* kiln predict MODEL_OR_ENGINE IMAGE...: classify photos and print the top K as the post's predict_image.py does:
 *   "%5.2f   %s\n" per class (score, label line), with "==> IMAGE <==" headers when several images are given. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "image/image.h"

static const char help[] =
    "usage: kiln predict MODEL_OR_ENGINE IMAGE... [--top K] [--labels FILE] [--preprocess tf|caffe|torch|raw]\n"
    "                    [--resize squash|crop] [--threads N]\n"
    "\n"
    "Classify each IMAGE (JPEG, PNG or BMP, detected from the content) and print its top K classes, one per line:\n"
    "  ' 0.96   n03218198 dogsled, dog sled, dog sleigh'   (score as %5.2f, three spaces, the label line)\n"
    "With several images each list follows a line '==> IMAGE <=='. A model file is imported and built in memory;\n"
    "an engine file is loaded. The model's input must be NHWC with 3 channels (RGB) or 1 (the photo becomes gray).\n"
    "\n"
    "options:\n"
    "  --top K              classes to print per image (default 5; at most the number of classes)\n"
    "  --labels FILE        one label per line, line i = class i. Default: $KILN_LABELS, else\n"
    "                       <dir of kiln>/share/kiln/synset_words.txt (the 1000 ImageNet classes, written by\n"
    "                       'make labels'). A 1001-class model uses index 0 = background, i = label i-1.\n"
    "                       Without labels the class indices are printed.\n"
    "  --preprocess MODE    Keras preprocess_input mode for the model (default tf):\n"
    "                         tf     x/127.5 - 1 (RGB; MobileNet, Inception, the post's models)\n"
    "                         caffe  RGB->BGR, minus the ImageNet means [103.939, 116.779, 123.68] (ResNet50, VGG)\n"
    "                         torch  x/255, minus mean [0.485, 0.456, 0.406], over std [0.229, 0.224, 0.225]\n"
    "                         raw    0..255 RGB (models that normalize inside, e.g. EfficientNet)\n"
    "  --resize MODE        how the photo becomes the input size (default squash):\n"
    "                         squash bilinear resize straight to the input size, aspect not kept (the post's\n"
    "                                cv2.resize INTER_LINEAR)\n"
    "                         crop   resize the short side to the input size keeping the aspect, central crop\n"
    "  --threads N          worker threads when building a model in memory (default 1)\n"
    "  --device cpu|cuda    where a model built in memory runs (engine files keep the device they were built for)\n"
    "  --fp16               FP16 engine (with --device cuda)\n"
    "  -h, --help           this text\n";

typedef struct {
    int top;
    kiln_preprocess_mode preprocess;
    kiln_resize_mode resize;
    const char *labels_path;
    int threads;
    int device, fp16; /* --device cuda, --fp16: for a model built in memory */
} predict_options;

/* The engine's single image input as H, W, C; reports and returns CLI_FAIL otherwise. */
static int image_input(const kiln_engine *e, kiln_tensor_info *in)
{
    char sh[128];
    if (kiln_engine_num_inputs(e) != 1)
        return cli_fail("the model has %d inputs; 'kiln predict' needs exactly one image input (use 'kiln run')",
                        kiln_engine_num_inputs(e));
    if (kiln_engine_input_info(e, 0, in) != KILN_OK) return cli_fail_library(KILN_ERR_INTERNAL);
    if (in->rank != 4 || (in->dims[3] != 3 && in->dims[3] != 1) || in->dims[1] <= 0 || in->dims[2] <= 0 ||
        in->dims[1] * in->dims[2] > KILN_IMAGE_MAX_PIXELS)
        return cli_fail("input '%s' has shape %s; 'kiln predict' needs an NHWC image input with 3 (RGB) or 1 (gray) "
                        "channels (use 'kiln run' for other inputs)",
                        in->name, cli_shape(sh, sizeof sh, in->rank, in->dims, -1));
    if (kiln_engine_num_outputs(e) < 1) return cli_fail("the model has no outputs");
    return CLI_OK;
}

static int predict(const char *model, char **images, int n_images, const predict_options *po)
{
    cli_labels labels;
    if (cli_labels_load(po->labels_path, &labels) != CLI_OK) return CLI_FAIL;

    kiln_build_options opt;
    kiln_build_options_init(&opt);
    opt.threads = po->threads;
    opt.device = po->device;
    if (po->fp16) opt.precision = KILN_PRECISION_FP16;
    kiln_engine *engine = NULL;
    kiln_context *ctx = NULL;
    float *input = NULL, *output = NULL;
    int64_t *best = NULL;
    char **names = NULL;
    int rc = cli_open_engine(model, &opt, &engine);
    kiln_tensor_info in, out;
    if (rc == CLI_OK) rc = image_input(engine, &in);
    if (rc == CLI_OK && kiln_engine_output_info(engine, 0, &out) != KILN_OK) rc = cli_fail_library(KILN_ERR_INTERNAL);
    if (rc != CLI_OK) goto done;

    const int H = (int)in.dims[1], W = (int)in.dims[2], C = (int)in.dims[3];
    const int64_t sample = (int64_t)H * W * C, classes = cli_sample_numel(out.rank, out.dims);
    /* Images go through in groups of up to batch_max; a group smaller than batch_min is padded with copies. */
    const int group = in.batch_max, pad_to = in.batch_min;
    const int k = po->top < classes ? po->top : (int)classes;
    kiln_status st = kiln_context_create(engine, &ctx);
    if (st != KILN_OK) {
        rc = cli_fail_library(st);
        goto done;
    }
    input = malloc(sizeof(float) * (size_t)(sample * group));
    output = malloc(sizeof(float) * (size_t)(classes * group));
    best = malloc(sizeof(int64_t) * (size_t)(k > 0 ? k : 1));
    names = malloc(sizeof(char *) * (size_t)group);
    if (!input || !output || !best || !names) {
        rc = cli_fail("out of memory for a batch of %d", group);
        goto done;
    }
    if (labels.n == 0)
        fprintf(stderr, "kiln: no label file found (--labels FILE, $KILN_LABELS, or <dir of kiln>/share/kiln/"
                        "synset_words.txt from 'make labels'); printing class indices\n");
    else if (!cli_label(&labels, classes, 0))
        fprintf(stderr, "kiln: %s has %d labels but the model has %lld classes; printing class indices\n", labels.path,
                labels.n, (long long)classes);

    int printed = 0;
    for (int next = 0; next < n_images;) {
        int n = 0;
        while (n < group && next < n_images) {
            const char *path = images[next++];
            kiln_image img;
            st = kiln_image_load(path, &img);
            if (st == KILN_OK)
                st = kiln_image_to_tensor(&img, H, W, C, po->resize, po->preprocess, input + (size_t)(n * sample));
            kiln_image_free(&img);
            if (st != KILN_OK) {
                fflush(stdout);
                rc = cli_fail_library(st);
                continue;
            }
            names[n++] = (char *)path;
        }
        if (n == 0) continue;
        int batch = n < pad_to ? pad_to : n;
        for (int b = n; b < batch; b++) memcpy(input + (size_t)(b * sample), input, sizeof(float) * (size_t)sample);
        if ((st = kiln_context_bind_input(ctx, 0, input)) != KILN_OK ||
            (st = kiln_context_bind_output(ctx, 0, output)) != KILN_OK || (st = kiln_context_run(ctx, batch)) != KILN_OK) {
            rc = cli_fail_library(st);
            goto done;
        }
        for (int b = 0; b < n; b++) {
            if (n_images > 1) printf("%s==> %s <==\n", printed++ ? "\n" : "", names[b]);
            const float *s = output + (size_t)(b * classes);
            cli_top_k(s, classes, k, best);
            for (int j = 0; j < k; j++) {
                const char *label = cli_label(&labels, classes, best[j]);
                if (label) printf("%5.2f   %s\n", s[best[j]], label);
                else printf("%5.2f   %lld\n", s[best[j]], (long long)best[j]);
            }
        }
        fflush(stdout);
    }
done:
    free(input);
    free(output);
    free(best);
    free(names);
    kiln_context_free(ctx);
    kiln_engine_free(engine);
    cli_labels_free(&labels);
    return rc;
}

static int run(int argc, char **argv)
{
    cli_args a;
    cli_args_init(&a, "predict", argc, argv);
    predict_options po = {5, KILN_PREPROCESS_TF, KILN_RESIZE_SQUASH, NULL, 1, KILN_DEVICE_CPU, 0};
    const char *model = NULL;
    char **images = malloc(sizeof(char *) * (size_t)argc);
    int n_images = 0, rc = CLI_OK;
    long v;
    if (!images) return cli_fail("out of memory");
    while (rc == CLI_OK && cli_args_next(&a)) {
        if (cli_positional(&a)) {
            if (!model) model = a.arg;
            else images[n_images++] = (char *)a.arg;
        } else if (cli_option(&a, "--top", NULL)) {
            if (!a.error && cli_parse_int(a.value, 1, 1000000, &v) != 0)
                rc = cli_usage("predict", "--top wants a positive number, not '%s'", a.value);
            po.top = (int)v;
        } else if (cli_option(&a, "--labels", NULL)) {
            po.labels_path = a.value;
        } else if (cli_option(&a, "--preprocess", NULL)) {
            if (!a.error && kiln_preprocess_mode_parse(a.value, &po.preprocess) != 0)
                rc = cli_usage("predict", "--preprocess is one of tf, caffe, torch, raw; not '%s'", a.value);
        } else if (cli_option(&a, "--resize", NULL)) {
            if (!a.error && kiln_resize_mode_parse(a.value, &po.resize) != 0)
                rc = cli_usage("predict", "--resize is squash or crop; not '%s'", a.value);
        } else if (cli_option(&a, "--threads", NULL)) {
            if (!a.error && cli_parse_int(a.value, 1, 4096, &v) != 0)
                rc = cli_usage("predict", "--threads wants a number from 1 to 4096, not '%s'", a.value);
            po.threads = (int)v;
        } else if (cli_option(&a, "--device", NULL)) {
            if (!a.error && strcmp(a.value, "cpu") && strcmp(a.value, "cuda"))
                rc = cli_usage("predict", "--device wants cpu or cuda, not '%s'", a.value);
            else if (!a.error) po.device = strcmp(a.value, "cuda") ? KILN_DEVICE_CPU : KILN_DEVICE_CUDA;
        } else if (cli_flag(&a, "--fp16", NULL)) {
            po.fp16 = 1;
        } else {
            rc = cli_unknown(&a);
        }
        if (a.error) rc = CLI_USAGE;
    }
    if (rc == CLI_OK && !model) rc = cli_usage("predict", "missing MODEL_OR_ENGINE and IMAGE");
    if (rc == CLI_OK && n_images == 0) rc = cli_usage("predict", "missing IMAGE (one or more photos)");
    if (rc == CLI_OK) rc = predict(model, images, n_images, &po);
    free(images);
    return rc;
}

const cli_command cli_predict_command = {"predict", "classify photos: top-K classes per image", help, run};
