/* Shared state of one ONNX import.
 *
 * Files: onnx_import.c (entry: load, check support, walk the nodes, outputs), onnx_load.c (file + protobuf + tensor
 * data, external data), onnx_values.c (name -> value table, node emission), onnx_layout.c (logical vs physical axis
 * order, transposes), onnx_fold.c (constant folding of shape subgraphs), onnx_attr.c (attributes),
 * onnx_ops.c (op_type -> converter table and support check), onnx_op_*.c (the converters).
 *
 * Layout model. Every ONNX tensor is either a host constant (initializers, Constant nodes, anything computed from
 * constants only: folded here, never a kiln node) or an activation, a kiln value whose PHYSICAL axis order may differ
 * from the ONNX (logical) order: perm[p] is the logical axis stored at physical axis p. PyTorch's NCHW tensors are
 * kept NHWC physically (perm {0,2,3,1}); ONNX Transpose nodes only relabel perm (no data moves), so tf2onnx's
 * NHWC<->NCHW transpose pairs cost nothing. A real TRANSPOSE node is emitted only where an op needs a physical order
 * the data is not in (e.g. Flatten of an NCHW tensor with H,W > 1).
 *
 * Fixed-shape mode (c->fixed). kiln's physical axis 0 is a run-time batch, so the normal import refuses ONNX nodes that
 * use the first axis as data (the "batch rule"). When every graph input has a fully static shape, such a model is
 * imported again with c->fixed = 1: physical axis 0 of every activation is then a VIRTUAL size-1 axis that is no ONNX
 * axis (perm[0] = OX_VIRTUAL) and the ONNX axes sit at physical 1..r (kiln rank = ONNX rank + 1), so "the batch"
 * checks never fire and the same code computes physical axes. The engine runs batch 1 only (kiln_graph.fixed_shape).
 * Ops whose kiln kernel needs the real batch first (Conv, pooling, Resize) drop the virtual axis around the kernel
 * (ox_to_batched / ox_set_batched), which needs ONNX axis 0 of size 1. */
#ifndef KILN_IMPORT_ONNX_INTERNAL_H
#define KILN_IMPORT_ONNX_INTERNAL_H

#include <stdint.h>

#include "onnx.pb-c.h"

#include "../../core/graph.h"
#include "../../core/status.h"

#define OX_MAX_RANK 8 /* host constants; activations are limited to KILN_MAX_RANK */

enum { OX_UNSET = 0, OX_CONST = 1, OX_ACT = 2 };

/* perm[0] of an activation in fixed-shape mode: physical axis 0 is the virtual batch of size 1, no ONNX axis. */
#define OX_VIRTUAL (-1)

/* ONNX TensorProto.DataType values used here. */
enum { OX_FLOAT = 1, OX_UINT8 = 2, OX_INT8 = 3, OX_INT32 = 6, OX_INT64 = 7, OX_BOOL = 9, OX_FLOAT16 = 10,
       OX_DOUBLE = 11 };

typedef struct {
    const char *name;     /* borrowed from the model */
    int kind;             /* OX_CONST / OX_ACT */
    /* OX_CONST: a host tensor. Integer and bool types are held as int64 (i), floating types as float (f). */
    int is_int;
    int rank;
    int64_t dims[OX_MAX_RANK];
    int64_t numel;
    float *f;             /* owned */
    int64_t *i;           /* owned */
    /* OX_ACT */
    int vid;              /* kiln value id; its dims are the PHYSICAL dims */
    int perm[KILN_MAX_RANK]; /* physical axis p holds logical axis perm[p] */
    /* Only for the 2-D [N, K] result of a Flatten/Reshape whose sole consumer is Gemm/MatMul with constant weights:
     * the features are left in physical order and rowperm[j] is the logical feature at physical position j; the
     * consumer permutes its weight rows instead of a TRANSPOSE moving the data. NULL otherwise. Owned. */
    int64_t *rowperm;
} ox_val;

typedef struct {
    const char *path;     /* file name for messages */
    char *dir;            /* owned: directory of the model file (external data lives there) */
    Onnx__ModelProto *model; /* owned (protobuf-c) */
    int64_t opset;        /* version of the default ("" / "ai.onnx") domain */
    kiln_graph *g;
    ox_val *vals;         /* owned */
    int n_vals, cap_vals;
    int *hash;            /* owned: open addressing over vals by name, -1 = empty */
    int hash_cap;
    int64_t batch;        /* the declared batch (dim 0 of the inputs) when fixed, else 1 */
    int fixed;            /* fixed-shape mode (see the top of this file) */
    /* Set by the refusal sites of the batch rule (ox_fail_batch): the normal import failed only because a node uses
     * the first axis as data; the importer then retries in fixed-shape mode when every input shape is static. */
    int batch_refused;
    char batch_node[300]; /* the first such node, "'name' (Op)", for the build-time note */
    const Onnx__NodeProto *node; /* node being converted (messages) */
    char node_name[256];  /* its display name: the node name, or its first output when unnamed */
} ox_ctx;

/* ---- onnx_load.c ---- */
/* Read and parse path into c->model (and c->dir). Malformed protobuf -> KILN_ERR_FORMAT naming the file. */
kiln_status ox_load(ox_ctx *c, const char *path);
/* Decode a TensorProto (raw, typed fields or external data) into a host constant *v (name borrowed from t). */
kiln_status ox_tensor(ox_ctx *c, const Onnx__TensorProto *t, ox_val *v);

/* ---- onnx_values.c ---- */
ox_val *ox_find(ox_ctx *c, const char *name);
/* Record a value under name (copied struct; ownership of its arrays moves to the table). NULL when out of memory. */
ox_val *ox_put(ox_ctx *c, const ox_val *v);
void ox_vals_free(ox_ctx *c);
/* Input i of the current node: its value, or NULL (with a failure recorded) when missing. Empty names = absent. */
const ox_val *ox_in(ox_ctx *c, int i);
int ox_has_in(const ox_ctx *c, int i);
/* Input i as an activation / as a host constant, or fail naming the node and what was expected. */
kiln_status ox_act_in(ox_ctx *c, int i, const ox_val **v);
kiln_status ox_const_in(ox_ctx *c, int i, const char *what, const ox_val **v);
/* Number of nodes reading tensor `name` (+1 when it is a graph output); its only reader (and which input), or NULL. */
int ox_uses(const ox_ctx *c, const char *name);
const Onnx__NodeProto *ox_sole_consumer(const ox_ctx *c, const char *name, int *input_index);
/* Fail with "FILE: node 'NAME' (OP): reason". */
kiln_status ox_fail(ox_ctx *c, kiln_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* ox_fail(KILN_ERR_UNSUPPORTED) for a batch-rule refusal (an ONNX node using axis 0 as data): also sets
 * c->batch_refused so that the importer may retry in fixed-shape mode. */
kiln_status ox_fail_batch(ox_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Add a kiln node for the current node. suffix "" names it after the ONNX node; helper nodes get "/suffix".
 * Returns KILN_OK and *vid, or fails naming the node (shape errors from kiln's inference included). */
kiln_status ox_emit(ox_ctx *c, kiln_op op, const char *suffix, const int *in, int n_in, const kiln_attrs *a, int *vid);
/* Bind output i of the current node to activation vid with the given perm (NULL = identity). */
kiln_status ox_set_act(ox_ctx *c, int out_index, int vid, const int *perm);
/* Bind output i of the current node to a host constant (arrays move into the table). */
kiln_status ox_set_const(ox_ctx *c, int out_index, ox_val *v);
/* Make a kiln constant of n floats (copied) with the given dims. Returns KILN_OK and *id. */
kiln_status ox_kconst(ox_ctx *c, const char *suffix, int rank, const int64_t *dims, const float *data, int *id);
/* Host constant -> float array (converted from int when needed); caller frees. NULL when out of memory. */
float *ox_const_floats(const ox_val *v);

/* ---- onnx_layout.c ---- */
int ox_rank(const ox_ctx *c, const ox_val *v);              /* logical rank */
int64_t ox_dim(const ox_ctx *c, const ox_val *v, int axis); /* logical dim (batch axis: c->batch) */
/* 1 when activation v carries fixed-shape mode's virtual axis at physical 0 (its kiln rank is ox_rank + 1). */
int ox_virt(const ox_val *v);
/* Physical order "logical order" for a value of logical rank r: {0..r-1}, in fixed mode {OX_VIRTUAL, 0..r-1}. */
void ox_identity(const ox_ctx *c, int *perm, int r);
/* Physical position of logical axis `axis` (r = logical rank). */
int ox_phys_axis(const ox_val *v, int r, int axis);
/* Kiln dims of an activation of logical dims[rank]: a copy, in fixed mode with the virtual 1 in front. Returns the kiln
 * rank. */
int ox_kdims(const ox_ctx *c, int rank, const int64_t *dims, int64_t *kdims);
/* For kiln ops that need the run-time batch at physical 0 (Conv, pooling, Resize): activation v brought to physical
 * order `target` (a normal-mode perm, target[0] the axis kiln treats as the batch). In fixed mode the virtual axis is
 * dropped, which needs logical axis target[0] of size 1 (else refused naming the node). */
kiln_status ox_to_batched(ox_ctx *c, const ox_val *v, const int *target, int *vid);
/* The inverse: bind output i to kiln value vid whose physical order is `perm` with the batch first (normal-mode perm);
 * in fixed mode the virtual axis is added back. */
kiln_status ox_set_batched(ox_ctx *c, int out_index, int vid, const int *perm);
/* Bring activation v into physical order `target` (logical axis per physical axis); emits nothing when already
 * there, a RESHAPE when only size-1 axes move, else a TRANSPOSE. Fails when the batch would move. */
kiln_status ox_to_perm(ox_ctx *c, const ox_val *v, const int *target, int *vid);
/* 1 when v's data is already laid out in order `target` (kiln rank entries; only size-1 axes differ). */
int ox_same_memory_order(const ox_ctx *c, const ox_val *v, const int *target);
/* RESHAPE node of kiln value vid to physical dims (dims[0], the batch, ignored). */
kiln_status ox_reshape_phys(ox_ctx *c, int vid, int r, const int64_t *dims, const char *suffix, int *out);
/* Logical reshape of activation v to dims (dims[0] = the batch); the result has identity perm. */
kiln_status ox_reshape(ox_ctx *c, const ox_val *v, int rank, const int64_t *dims, int *vid);
/* Kiln constant for a host constant broadcast against activation `act` (logical rank r, perm): right-aligned to r,
 * permuted to act's physical order. Fails when it varies along the batch axis or has more axes than act. */
kiln_status ox_bcast_const(ox_ctx *c, const ox_val *k, const ox_val *act, int *id);
/* NCHW-style target perm {0,2,3,...,r-1,1}: channels (logical 1) last; in fixed mode with OX_VIRTUAL in front. */
void ox_channels_last(const ox_ctx *c, int *perm, int r);
/* The same without the virtual axis (the order of a value handed to a batched kiln op). */
void ox_channels_last_batched(int *perm, int r);

/* ---- onnx_attr.c ---- */
const Onnx__AttributeProto *ox_attr(const Onnx__NodeProto *n, const char *name);
int64_t ox_attr_i(const Onnx__NodeProto *n, const char *name, int64_t dflt);
float ox_attr_f(const Onnx__NodeProto *n, const char *name, float dflt);
/* String attribute copied into buf (NUL-terminated); dflt when absent. */
const char *ox_attr_s(const Onnx__NodeProto *n, const char *name, const char *dflt, char *buf, size_t cap);
/* Ints attribute: count, and up to cap values into out; -1 when absent. */
int ox_attr_ints(const Onnx__NodeProto *n, const char *name, int64_t *out, int cap);

/* ---- onnx_fold.c ---- */
/* 1 when every present input of the current node is a host constant (then ox_fold computes it). */
int ox_all_const(ox_ctx *c);
/* Evaluate the current node on host constants. Returns KILN_OK, or KILN_ERR_UNSUPPORTED via ox_fail. */
kiln_status ox_fold(ox_ctx *c);
int ox_can_fold(const char *op_type);
/* Shape (of an activation or a constant) as a host int64 constant. */
kiln_status ox_op_shape(ox_ctx *c);

/* ---- onnx_ops.c ---- */
typedef kiln_status (*ox_convert_fn)(ox_ctx *c);
/* Converter for op_type in the default domain, or NULL. */
ox_convert_fn ox_lookup(const char *op_type);
/* Why a node cannot be imported (static check of attributes), or NULL. */
const char *ox_unsupported(const ox_ctx *c, const Onnx__NodeProto *n);

/* ---- onnx_op_elem.c ---- */
/* Broadcasting binary kiln op of a and b (at least one an activation; constants are permuted into the activation's
 * physical order, a run-time b is brought to a's). *vid and *out_perm receive the result. */
kiln_status ox_binary(ox_ctx *c, kiln_op op, const ox_val *a, const ox_val *b, const char *suffix, int *vid,
                      int *out_perm);

/* ---- converters (onnx_op_conv.c, onnx_op_elem.c, onnx_op_shape.c, onnx_op_dense.c) ---- */
kiln_status ox_op_conv(ox_ctx *c);
kiln_status ox_op_pool(ox_ctx *c);
kiln_status ox_op_global_pool(ox_ctx *c);
kiln_status ox_op_batchnorm(ox_ctx *c);
kiln_status ox_op_resize(ox_ctx *c);
kiln_status ox_op_unary(ox_ctx *c);
kiln_status ox_op_binary(ox_ctx *c);
kiln_status ox_op_clip(ox_ctx *c);
kiln_status ox_op_prelu(ox_ctx *c);
kiln_status ox_op_softmax(ox_ctx *c);
kiln_status ox_op_pow(ox_ctx *c);
kiln_status ox_op_layernorm(ox_ctx *c);
kiln_status ox_op_slice(ox_ctx *c);
kiln_status ox_op_gather(ox_ctx *c);
kiln_status ox_op_identity(ox_ctx *c);
kiln_status ox_op_reshape(ox_ctx *c);
kiln_status ox_op_flatten(ox_ctx *c);
kiln_status ox_op_squeeze(ox_ctx *c);
kiln_status ox_op_transpose(ox_ctx *c);
kiln_status ox_op_concat(ox_ctx *c);
kiln_status ox_op_pad(ox_ctx *c);
kiln_status ox_op_reduce(ox_ctx *c);
kiln_status ox_op_gemm(ox_ctx *c);
kiln_status ox_op_matmul(ox_ctx *c);
kiln_status ox_op_cast(ox_ctx *c);

#endif
