/* ONNX importer on hand-built models (written with the same protobuf-c code kiln reads them with):
 *   - external data: missing file -> KILN_ERR_IO naming it; short file -> KILN_ERR_TRUNCATED; present -> exact numbers;
 *   - an NCHW Conv + Flatten model: the engine input is NHWC, the output is in ONNX's (CHW) order, numbers exact;
 *   - Conv + Flatten + Gemm: the same numbers with the weight rows permuted instead of the data transposed;
 *   - every unsupported operator listed in ONE message (name, op type, opset, domain);
 *   - every prefix of a valid model and a garbage file: a clean error, never a crash (run under ASan by `make asan`).
 * References are computed here by plain loops. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kiln.h"
#include "onnx.pb-c.h"

static int failures;
#define CHECK(cond, ...)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);       \
            fprintf(stderr, __VA_ARGS__);                                                  \
            fprintf(stderr, "\n");                                                         \
            failures++;                                                                    \
        }                                                                                  \
    } while (0)

static char dir[256];

/* ---- tiny model builder (static storage: every test builds and packs one model at a time) ---- */
typedef struct {
    Onnx__ModelProto m;
    Onnx__GraphProto g;
    Onnx__OperatorSetIdProto opset, *opsets[1];
    Onnx__NodeProto nodes[8], *pnodes[8];
    Onnx__TensorProto inits[4], *pinits[4];
    Onnx__ValueInfoProto vis[4], *pin[2], *pout[2];
    Onnx__TypeProto types[4];
    Onnx__TypeProto__Tensor ttypes[4];
    Onnx__TensorShapeProto shapes[4];
    Onnx__TensorShapeProto__Dimension dims[4][6], *pdims[4][6];
    Onnx__AttributeProto attrs[8], *pattrs[8][2];
    Onnx__StringStringEntryProto ext[3], *pext[3];
    int n_vis, n_attrs;
} builder;

static void b_init(builder *b)
{
    memset(b, 0, sizeof *b);
    onnx__model_proto__init(&b->m);
    onnx__graph_proto__init(&b->g);
    onnx__operator_set_id_proto__init(&b->opset);
    b->opset.domain = (char *)"";
    b->opset.has_version = 1;
    b->opset.version = 13;
    b->opsets[0] = &b->opset;
    b->m.has_ir_version = 1;
    b->m.ir_version = 8;
    b->m.n_opset_import = 1;
    b->m.opset_import = b->opsets;
    b->m.graph = &b->g;
    b->g.name = (char *)"test";
    b->g.node = b->pnodes;
    b->g.initializer = b->pinits;
    b->g.input = b->pin;
    b->g.output = b->pout;
}

/* A float tensor value_info; dims[0] < 0 = symbolic batch "N". */
static Onnx__ValueInfoProto *b_vi(builder *b, const char *name, int rank, const int64_t *d)
{
    int k = b->n_vis++;
    Onnx__ValueInfoProto *v = &b->vis[k];
    onnx__value_info_proto__init(v);
    onnx__type_proto__init(&b->types[k]);
    onnx__type_proto__tensor__init(&b->ttypes[k]);
    onnx__tensor_shape_proto__init(&b->shapes[k]);
    v->name = (char *)name;
    v->type = &b->types[k];
    b->types[k].value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    b->types[k].tensor_type = &b->ttypes[k];
    b->ttypes[k].has_elem_type = 1;
    b->ttypes[k].elem_type = 1;
    b->ttypes[k].shape = &b->shapes[k];
    b->shapes[k].n_dim = (size_t)rank;
    b->shapes[k].dim = b->pdims[k];
    for (int i = 0; i < rank; i++) {
        Onnx__TensorShapeProto__Dimension *dm = &b->dims[k][i];
        onnx__tensor_shape_proto__dimension__init(dm);
        if (d[i] < 0) {
            dm->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            dm->dim_param = (char *)"N";
        } else {
            dm->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            dm->dim_value = d[i];
        }
        b->pdims[k][i] = dm;
    }
    return v;
}

static Onnx__NodeProto *b_node(builder *b, const char *op, const char *name, const char *domain, char **in, int n_in,
                               char **out)
{
    int k = (int)b->g.n_node++;
    Onnx__NodeProto *n = &b->nodes[k];
    onnx__node_proto__init(n);
    n->op_type = (char *)op;
    n->name = (char *)name;
    n->domain = (char *)domain;
    n->n_input = (size_t)n_in;
    n->input = in;
    n->n_output = 1;
    n->output = out;
    b->pnodes[k] = n;
    return n;
}

static void b_attr_int(builder *b, Onnx__NodeProto *n, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = &b->attrs[b->n_attrs];
    onnx__attribute_proto__init(a);
    a->name = (char *)name;
    a->has_type = 1;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    a->has_i = 1;
    a->i = v;
    b->pattrs[b->n_attrs][0] = a;
    n->n_attribute = 1;
    n->attribute = b->pattrs[b->n_attrs++];
}

static Onnx__TensorProto *b_init_tensor(builder *b, const char *name, int rank, int64_t *dims, float *data)
{
    int k = (int)b->g.n_initializer++;
    Onnx__TensorProto *t = &b->inits[k];
    onnx__tensor_proto__init(t);
    t->name = (char *)name;
    t->has_data_type = 1;
    t->data_type = 1;
    t->n_dims = (size_t)rank;
    t->dims = dims;
    if (data) {
        int64_t n = 1;
        for (int i = 0; i < rank; i++) n *= dims[i];
        t->n_float_data = (size_t)n;
        t->float_data = data;
    }
    b->pinits[k] = t;
    return t;
}

static size_t b_write(builder *b, const char *file, uint8_t **bytes_out)
{
    size_t len = onnx__model_proto__get_packed_size(&b->m);
    uint8_t *buf = malloc(len);
    onnx__model_proto__pack(&b->m, buf);
    FILE *f = fopen(file, "wb");
    fwrite(buf, 1, len, f);
    fclose(f);
    if (bytes_out) *bytes_out = buf;
    else free(buf);
    return len;
}

/* Build an engine for batch 1..2 from path, run `batch` samples. Returns 0 on success. */
static int run_model(const char *path, int batch, const float *x, float *y, kiln_tensor_info *in_info)
{
    kiln_network *net = NULL;
    kiln_engine *e = NULL;
    kiln_context *ctx = NULL;
    kiln_build_options o;
    kiln_build_options_init(&o);
    o.batch_min = 1;
    o.batch_max = 2;
    int rc = -1;
    if (kiln_network_import(path, &net) || kiln_engine_build(net, &o, &e) || kiln_context_create(e, &ctx)) {
        fprintf(stderr, "run_model %s: %s\n", path, kiln_last_error());
        goto done;
    }
    if (in_info) kiln_engine_input_info(e, 0, in_info);
    if (kiln_context_bind_input(ctx, 0, x) || kiln_context_bind_output(ctx, 0, y) || kiln_context_run(ctx, batch)) {
        fprintf(stderr, "run_model %s: %s\n", path, kiln_last_error());
        goto done;
    }
    rc = 0;
done:
    kiln_context_free(ctx);
    kiln_engine_free(e);
    kiln_network_free(net);
    return rc;
}

/* y[N,3] = x[N,4] @ W[4,3], W in an external file. */
static void test_external_data(void)
{
    builder b;
    b_init(&b);
    static char *in[] = { (char *)"x", (char *)"W" }, *out[] = { (char *)"y" };
    int64_t xd[2] = { -1, 4 }, yd[2] = { -1, 3 }, wd[2] = { 4, 3 };
    b.pin[0] = b_vi(&b, "x", 2, xd);
    b.pout[0] = b_vi(&b, "y", 2, yd);
    b.g.n_input = b.g.n_output = 1;
    b_node(&b, "MatMul", "fc", "", in, 2, out);
    Onnx__TensorProto *t = b_init_tensor(&b, "W", 2, wd, NULL);
    static const char *keys[3] = { "location", "offset", "length" }, *vals[3] = { "w.data", "0", "48" };
    for (int i = 0; i < 3; i++) {
        onnx__string_string_entry_proto__init(&b.ext[i]);
        b.ext[i].key = (char *)keys[i];
        b.ext[i].value = (char *)vals[i];
        b.pext[i] = &b.ext[i];
    }
    t->n_external_data = 3;
    t->external_data = b.pext;
    t->has_data_location = 1;
    t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    char model[300], data[300];
    snprintf(model, sizeof model, "%s/ext.onnx", dir);
    snprintf(data, sizeof data, "%s/w.data", dir);
    b_write(&b, model, NULL);
    unlink(data);

    kiln_network *net = NULL;
    kiln_status st = kiln_network_import(model, &net);
    CHECK(st == KILN_ERR_IO && strstr(kiln_last_error(), "w.data") && strstr(kiln_last_error(), "'W'"),
          "missing external data: status %d, message: %s", st, kiln_last_error());
    CHECK(net == NULL, "no network on failure");

    float w[12];
    for (int i = 0; i < 12; i++) w[i] = 0.25f * (float)(i - 5);
    FILE *f = fopen(data, "wb");
    fwrite(w, 1, 20, f); /* short */
    fclose(f);
    st = kiln_network_import(model, &net);
    CHECK(st == KILN_ERR_TRUNCATED && strstr(kiln_last_error(), "too short"), "short external data: %d %s", st,
          kiln_last_error());
    kiln_network_free(net);
    net = NULL;

    f = fopen(data, "wb");
    fwrite(w, sizeof(float), 12, f);
    fclose(f);
    float x[8] = { 1, 2, 3, 4, -1, 0.5f, 0, 2 }, y[6] = { 0 };
    CHECK(run_model(model, 2, x, y, NULL) == 0, "external data model runs");
    for (int n = 0; n < 2; n++)
        for (int j = 0; j < 3; j++) {
            float r = 0;
            for (int k = 0; k < 4; k++) r += x[n * 4 + k] * w[k * 3 + j];
            CHECK(fabsf(y[n * 3 + j] - r) < 1e-5f, "y[%d,%d] = %g, expected %g", n, j, y[n * 3 + j], r);
        }
    unlink(data);
    unlink(model);
}

/* NCHW: x[N,2,3,3] -> Conv(W[2,2,1,1], b[2]) -> Flatten -> y[N,18] in C,H,W order. */
static size_t build_conv(builder *b, const char *path, uint8_t **bytes, float *w, float *bias)
{
    b_init(b);
    static char *cin[] = { (char *)"x", (char *)"W", (char *)"B" }, *cout[] = { (char *)"c" };
    static char *fin[] = { (char *)"c" }, *fout[] = { (char *)"y" };
    static int64_t xd[4] = { -1, 2, 3, 3 }, yd[2] = { -1, 18 }, wd[4] = { 2, 2, 1, 1 }, bd[1] = { 2 };
    b->pin[0] = b_vi(b, "x", 4, xd);
    b->pout[0] = b_vi(b, "y", 2, yd);
    b->g.n_input = b->g.n_output = 1;
    b_node(b, "Conv", "conv", "", cin, 3, cout);
    Onnx__NodeProto *fl = b_node(b, "Flatten", "flatten", "", fin, 1, fout);
    b_attr_int(b, fl, "axis", 1);
    b_init_tensor(b, "W", 4, wd, w);
    b_init_tensor(b, "B", 1, bd, bias);
    return b_write(b, path, bytes);
}

static void test_nchw_conv_flatten(void)
{
    builder b;
    float w[4] = { 1, -2, 0.5f, 3 }, bias[2] = { 0.25f, -1 };
    char model[300];
    snprintf(model, sizeof model, "%s/conv.onnx", dir);
    build_conv(&b, model, NULL, w, bias);
    float x_nchw[36], x_nhwc[36], y[36];
    for (int i = 0; i < 36; i++) x_nchw[i] = 0.1f * (float)((i * 7) % 11) - 0.4f;
    for (int n = 0; n < 2; n++)
        for (int c = 0; c < 2; c++)
            for (int p = 0; p < 9; p++) x_nhwc[(n * 9 + p) * 2 + c] = x_nchw[(n * 2 + c) * 9 + p];
    kiln_tensor_info ti;
    memset(&ti, 0, sizeof ti);
    CHECK(run_model(model, 2, x_nhwc, y, &ti) == 0, "conv model runs");
    CHECK(ti.rank == 4 && ti.dims[1] == 3 && ti.dims[2] == 3 && ti.dims[3] == 2, "engine input is NHWC [N,3,3,2], "
          "got rank %d [%lld,%lld,%lld]", ti.rank, (long long)ti.dims[1], (long long)ti.dims[2], (long long)ti.dims[3]);
    for (int n = 0; n < 2; n++)
        for (int co = 0; co < 2; co++)
            for (int p = 0; p < 9; p++) {
                float r = bias[co];
                for (int ci = 0; ci < 2; ci++) r += w[co * 2 + ci] * x_nchw[(n * 2 + ci) * 9 + p];
                float got = y[n * 18 + co * 9 + p];
                CHECK(fabsf(got - r) < 1e-5f, "y[%d,%d] = %g, expected %g", n, co * 9 + p, got, r);
            }
    unlink(model);
}

/* Conv -> Flatten -> Gemm(transB): the flattened NCHW features feed a Dense whose weight rows kiln permutes instead
 * of transposing the data; the numbers must be those of ONNX's C,H,W flattening order. */
static void test_flatten_gemm(void)
{
    builder b;
    b_init(&b);
    static char *cin[] = { (char *)"x", (char *)"W", (char *)"B" }, *cout[] = { (char *)"c" };
    static char *fin[] = { (char *)"c" }, *fout[] = { (char *)"f" };
    static char *gin[] = { (char *)"f", (char *)"FC", (char *)"FB" }, *gout[] = { (char *)"y" };
    static int64_t xd[4] = { -1, 2, 3, 3 }, yd[2] = { -1, 3 }, wd[4] = { 2, 2, 1, 1 }, bd[1] = { 2 },
                   fcd[2] = { 3, 18 }, fbd[1] = { 3 };
    float w[4] = { 1, -2, 0.5f, 3 }, bias[2] = { 0.25f, -1 }, fc[54], fb[3] = { 0.1f, -0.2f, 0.3f };
    for (int i = 0; i < 54; i++) fc[i] = 0.05f * (float)((i * 5) % 13) - 0.3f;
    b.pin[0] = b_vi(&b, "x", 4, xd);
    b.pout[0] = b_vi(&b, "y", 2, yd);
    b.g.n_input = b.g.n_output = 1;
    b_node(&b, "Conv", "conv", "", cin, 3, cout);
    b_node(&b, "Flatten", "flatten", "", fin, 1, fout);
    Onnx__NodeProto *g = b_node(&b, "Gemm", "fc", "", gin, 3, gout);
    b_attr_int(&b, g, "transB", 1);
    b_init_tensor(&b, "W", 4, wd, w);
    b_init_tensor(&b, "B", 1, bd, bias);
    b_init_tensor(&b, "FC", 2, fcd, fc);
    b_init_tensor(&b, "FB", 1, fbd, fb);
    char model[300];
    snprintf(model, sizeof model, "%s/gemm.onnx", dir);
    b_write(&b, model, NULL);
    float x_nchw[36], x_nhwc[36], y[6], flat[18];
    for (int i = 0; i < 36; i++) x_nchw[i] = 0.1f * (float)((i * 7) % 11) - 0.4f;
    for (int n = 0; n < 2; n++)
        for (int c = 0; c < 2; c++)
            for (int p = 0; p < 9; p++) x_nhwc[(n * 9 + p) * 2 + c] = x_nchw[(n * 2 + c) * 9 + p];
    CHECK(run_model(model, 2, x_nhwc, y, NULL) == 0, "flatten + gemm model runs");
    for (int n = 0; n < 2; n++) {
        for (int co = 0; co < 2; co++)
            for (int p = 0; p < 9; p++) {
                flat[co * 9 + p] = bias[co];
                for (int ci = 0; ci < 2; ci++) flat[co * 9 + p] += w[co * 2 + ci] * x_nchw[(n * 2 + ci) * 9 + p];
            }
        for (int j = 0; j < 3; j++) {
            float r = fb[j];
            for (int i = 0; i < 18; i++) r += fc[j * 18 + i] * flat[i];
            CHECK(fabsf(y[n * 3 + j] - r) < 1e-5f, "y[%d,%d] = %g, expected %g", n, j, y[n * 3 + j], r);
        }
    }
    unlink(model);
}

static void test_unsupported_listed(void)
{
    builder b;
    b_init(&b);
    static char *i0[] = { (char *)"x" }, *o0[] = { (char *)"r" }, *o1[] = { (char *)"l" }, *o2[] = { (char *)"m" },
                *o3[] = { (char *)"t" };
    int64_t xd[2] = { -1, 4 };
    b.pin[0] = b_vi(&b, "x", 2, xd);
    b.pout[0] = b_vi(&b, "t", 2, xd);
    b.g.n_input = b.g.n_output = 1;
    b_node(&b, "Relu", "relu_ok", "", i0, 1, o0);
    b_node(&b, "LSTM", "my_lstm", "", o0, 1, o1);
    b_node(&b, "MyOp", "custom_thing", "com.example", o1, 1, o2);
    b_node(&b, "TopK", "topk_node", "", o2, 1, o3);
    char model[300];
    snprintf(model, sizeof model, "%s/unsup.onnx", dir);
    b_write(&b, model, NULL);
    kiln_network *net = NULL;
    kiln_status st = kiln_network_import(model, &net);
    const char *m = kiln_last_error();
    CHECK(st == KILN_ERR_UNSUPPORTED, "status %d", st);
    CHECK(strstr(m, "3 unsupported operators") && strstr(m, "'my_lstm' (LSTM, opset 13, domain ai.onnx") &&
          strstr(m, "'custom_thing' (MyOp") && strstr(m, "domain com.example") &&
          strstr(m, "'topk_node' (TopK, opset 13") && !strstr(m, "relu_ok"),
          "one message listing the three: %s", m);
    CHECK(!strchr(m, '\n'), "a single line: %s", m);
    kiln_network_free(net);
    unlink(model);
}

static void test_truncated_and_garbage(void)
{
    builder b;
    float w[4] = { 1, 2, 3, 4 }, bias[2] = { 0, 0 };
    char model[300], cut[300];
    snprintf(model, sizeof model, "%s/full.onnx", dir);
    snprintf(cut, sizeof cut, "%s/cut.onnx", dir);
    uint8_t *bytes;
    size_t len = build_conv(&b, model, &bytes, w, bias);
    int refused = 0;
    for (size_t l = 0; l < len; l++) {
        FILE *f = fopen(cut, "wb");
        fwrite(bytes, 1, l, f);
        fclose(f);
        kiln_network *net = NULL;
        kiln_status st = kiln_network_import(cut, &net);
        if (st != KILN_OK) {
            refused++;
            CHECK(net == NULL && kiln_last_error()[0], "prefix %zu: no network and a message", l);
        }
        kiln_network_free(net);
    }
    CHECK(refused >= (int)len - 2, "prefixes of a %zu-byte model refused: %d", len, refused);
    FILE *f = fopen(cut, "wb");
    fwrite(bytes, 1, len / 2, f);
    fclose(f);
    kiln_network *net = NULL;
    kiln_status st = kiln_network_import(cut, &net);
    CHECK(st == KILN_ERR_FORMAT && strstr(kiln_last_error(), "truncated or corrupt"), "half a model: %d %s", st,
          kiln_last_error());
    unsigned char junk[64] = { 0x08, 0x07 };
    for (int i = 2; i < 64; i++) junk[i] = (unsigned char)(0xff - i * 3);
    f = fopen(cut, "wb");
    fwrite(junk, 1, sizeof junk, f);
    fclose(f);
    st = kiln_network_import(cut, &net);
    CHECK(st != KILN_OK && net == NULL && strstr(kiln_last_error(), "cut.onnx"), "garbage: %d %s", st,
          kiln_last_error());
    free(bytes);
    unlink(cut);
    unlink(model);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/kiln-onnx-unit-%d", (int)getpid());
    char cmd[300];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    if (system(cmd)) return 1;
    test_external_data();
    test_nchw_conv_flatten();
    test_flatten_gemm();
    test_unsupported_listed();
    test_truncated_and_garbage();
    rmdir(dir);
    if (failures) {
        fprintf(stderr, "test_onnx_import: %d check(s) failed\n", failures);
        return 1;
    }
    printf("test_onnx_import: all checks passed\n");
    return 0;
}
