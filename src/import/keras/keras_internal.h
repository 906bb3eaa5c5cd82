/* Shared state of one Keras .h5 import: the context, one layer call, weight pools, JSON number helpers.
 *
 * Files: keras_import.c (entry: open file, read attributes, drive), keras_model.c (Sequential / functional walking,
 * nesting, inbound nodes), keras_layers.c (class_name -> converter table), keras_activation.c (activation names),
 * keras_weights.c (finding a layer's weights in the file), keras_json.c (config value helpers). */
#ifndef KILN_IMPORT_KERAS_INTERNAL_H
#define KILN_IMPORT_KERAS_INTERNAL_H

#include <cJSON.h>
#include <hdf5.h>

#include "../../core/graph.h"
#include "../../core/status.h"
#include "keras_h5.h"

/* The weights a layer may draw from: one layer group of model_weights and its weight_names. A top-level layer owns
 * its whole pool; layers inside a nested model share the nested model's pool and are matched by name. */
typedef struct {
    hid_t group;          /* owned (closed by kk_pool_free) */
    kiln_strlist names;   /* owned; dataset paths relative to group */
    unsigned char *claimed; /* owned; one flag per name */
    int single_owner;     /* 1: every weight belongs to the one layer using the pool */
    kiln_strlist kinds;   /* owned; Keras 3 .keras only: the kind of each name ("0" -> "kernel"), else empty */
} kk_pool;

/* Constants already made for a layer definition (a layer called twice reuses them: weights are shared). */
typedef struct {
    const cJSON *layer;   /* identity of the layer definition */
    char kind[32];        /* "kernel", "bias", "gamma", ... */
    int value;            /* graph value id */
} kk_cached_weight;

typedef struct {
    const char *path;     /* file name for messages */
    kiln_graph *g;
    int keras_major;      /* 2 for tf.keras 2 / Keras 2.x, 3 for Keras 3 */
    kk_cached_weight *cache;
    int n_cache, cap_cache;
    const char **layer_names; /* every layer name of the whole config (nested included); borrowed from the JSON */
    int n_layer_names, cap_layer_names;
    /* Keras 3 .keras (zip) only: weights live in <group>/vars/<i>, one group per layer named after its class. */
    int k3_zip;
    hid_t k3_root;        /* borrowed: the weights file's root group */
    struct kk_k3_path *k3_paths; /* owned: layer JSON -> group path */
    int n_k3_paths, cap_k3_paths;
} kk_ctx;

/* Keras 3 .keras: where one layer's weights are. */
typedef struct kk_k3_path {
    const cJSON *layer;   /* borrowed */
    char *path;           /* owned, e.g. "layers/functional/layers/conv2d_3" */
} kk_k3_path;

/* One call of one layer. */
typedef struct {
    const cJSON *json;        /* the layer object {class_name, config, ...} */
    const cJSON *cfg;         /* its config object */
    const char *class_name;
    const char *name;         /* the Keras layer name */
    char node_name[256];      /* unique graph name for this call: the layer name, made unique if needed */
    kk_pool *pool;            /* where its weights are; may be NULL (no weights) */
    const cJSON *kwargs;      /* keyword arguments of this call (tf_keras TFOpLambda's constant y); may be NULL */
    const cJSON *args;        /* Keras 3: positional arguments of this call (x + 3.0 on a KerasTensor becomes an
                               * "Add" op whose args hold the 3.0); may be NULL */
    int nhwc_wrapped;         /* 1: a channels_first layer given its input already transposed to NHWC (keras_layout.c) */
} kk_layer;

/* ---- keras_json.c: config values. Numbers may come wrapped ({"value": x}, {"class_name": "__tuple__",
 * "items": [...]}); these helpers unwrap them. */
const cJSON *kk_unwrap(const cJSON *v);
const char *kk_str(const cJSON *obj, const char *key);   /* NULL when absent or not a string */
/* Number at key; returns 1 when found, 0 when absent or null (then *out = dflt). */
int kk_num(const cJSON *obj, const char *key, double dflt, double *out);
int kk_bool(const cJSON *obj, const char *key, int dflt);
/* An int or a list of ints at key, expanded to n values (an int is repeated). Returns 0, -1 when malformed,
 * 1 when absent (out filled with dflt). */
int kk_ints(const cJSON *obj, const char *key, int n, int dflt, int *out);
/* A list (unwrapped) at key or the value itself when it is a list; NULL otherwise. */
const cJSON *kk_list(const cJSON *v);

/* ---- keras_activation.c ---- */
/* Parse an activation given as a string, a {"class_name", "config"} dict or null. Sets *act, and *softmax = 1 for
 * softmax (which is a separate op). Returns NULL or a reason for unsupported names. */
const char *kk_parse_activation(const kk_ctx *c, const cJSON *act, kiln_act *out, int *softmax);

/* ---- keras_weights.c ---- */
void kk_pool_free(kk_pool *p);
/* Open layer group `name` under root with its weight_names (missing group: empty pool). Returns NULL or a reason. */
const char *kk_pool_open(hid_t root, const char *name, int single_owner, kk_pool *p);
/* Find weight `kind` (or `alt_kind`) of layer L, check its file shape against expect[] (-1 = any), add it as a
 * constant with the IR shape as_dims (NULL = file shape), cache it. *id = value id, or -1 when the weight is absent
 * and !required. Returns KILN_OK or fails with a message naming the file and layer. */
kiln_status kk_weight(kk_ctx *c, const kk_layer *L, const char *kind, const char *alt_kind, int required,
                      int rank, const int64_t *expect, const int64_t *as_dims, int *id);
/* A constant of n copies of `value` (BatchNormalization with center/scale off, Average's 1/n), cached like a
 * weight of L under `kind`. */
kiln_status kk_fill(kk_ctx *c, const kk_layer *L, const char *kind, int64_t n, float value, int *id);

/* ---- keras_layers.c ---- */
typedef kiln_status (*kk_convert_fn)(kk_ctx *c, const kk_layer *L, const int *in, int n_in, int *out);
typedef const char *(*kk_check_fn)(const kk_ctx *c, const cJSON *cfg);
/* 1 and the converter + optional config check when class_name is supported, else 0. */
int kk_layer_lookup(const char *class_name, kk_convert_fn *convert, kk_check_fn *check);
/* Reason why this layer cannot be imported, or NULL when it can (class known, config acceptable). */
const char *kk_layer_unsupported(const kk_ctx *c, const char *class_name, const cJSON *cfg);
/* Run converter `conv` for L, wrapping it in NCHW <-> NHWC transposes when the layer is channels_first
 * (data_format, or BatchNormalization axis 1 of a 4-D tensor). keras_layout.c */
kiln_status kk_convert_layout(kk_ctx *c, kk_layer *L, kk_convert_fn conv, const int *in, int n_in, int *out);
/* 1 when a layer of this class with data_format channels_first can be imported through kk_convert_layout. */
int kk_layout_wrappable(const char *class_name);
/* Add a node; on a shape error fail with a message naming the file and the layer. */
kiln_status kk_add(kk_ctx *c, const kk_layer *L, kiln_op op, const char *name, const int *in, int n_in,
                   const kiln_attrs *a, int *out);

/* ---- keras_zip.c: Keras 3 .keras archives ---- */
/* Compute the weight group of every layer (nested included) of the Keras 3 config `model` into c->k3_paths. */
kiln_status kk_k3_map(kk_ctx *c, const cJSON *model);
/* Open the pool of one layer of a .keras file: <group>/vars with kinds named after the class's variable order.
 * Returns NULL or a reason. A layer without a group or variables gets an empty pool. */
const char *kk_k3_pool_open(kk_ctx *c, const cJSON *layer, kk_pool *p);
/* Import a .keras file (zip of config.json + model.weights.h5). */
kiln_status kiln_keras_import_zip(const char *path, kiln_graph **out);
/* The shared second half of an import: support check, conversion, graph check. c->path and c->keras_major set. */
kiln_status kk_import_config(kk_ctx *c, const char *config_text, hid_t weights_root, kiln_graph **out);

/* ---- keras_model.c ---- */
/* Convert the top-level model object (with class_name and config) into c->g; weights under root. */
kiln_status kk_convert_root(kk_ctx *c, const cJSON *model, hid_t root);
/* Check every layer (nested included) and fail once listing every unsupported one. */
kiln_status kk_check_support(kk_ctx *c, const cJSON *model);
int kk_is_model_class(const char *class_name);

#endif
