/* CPU tactic registry: per op, the kernels that can compute it. Tactic 0 is always the reference kernel; the
 * index of a tactic in its op's list is what the engine file stores (layers[i].tactic), so lists are append-only.
 *
 * A tactic states the ISA it needs and a fallback (another tactic of the same op, lower ISA, same results up to
 * rounding) used when the running CPU lacks that ISA: an engine built on an AVX-512 machine runs on an AVX2-only one
 * (or under KILN_ISA=avx2), each fallback chain ending in the portable build and then the reference kernel.
 *
 * Weight packing is done when an engine is built or loaded, for the tactic that actually runs (panel widths differ
 * per ISA), so engine files stay ISA-neutral. */
#ifndef KILN_CPU_TACTICS_H
#define KILN_CPU_TACTICS_H

#include <stddef.h>

#include "cpu_features.h"
#include "opt_kernels.h"

typedef struct {
    const char *name;       /* "conv_gemm_avx512_8x32": family, ISA, tile */
    kiln_isa isa;           /* level the code needs */
    int fallback;           /* tactic index of the same op to use when `isa` is not available here */
    int gemm_nr;            /* > 0: weights packed into NR-wide panels (kiln_pack_gemm) */
    int gemm_mr;            /* rows of the register tile (gemm tactics) */
    int (*supports)(const kiln_graph *g, const kiln_node *n);
    kiln_tactic_run_fn run; /* NULL for the reference (tactic 0 calls kiln_ref_kernel) and on other architectures */
} kiln_cpu_tactic;

/* The tactics of `op` (count in *n). Never NULL for a valid op: at least the reference. */
const kiln_cpu_tactic *kiln_cpu_tactics(kiln_op op, int *n);
/* Tactic `t` of the node's op, or NULL when out of range. */
const kiln_cpu_tactic *kiln_cpu_tactic_get(kiln_op op, int t);
/* Index of the tactic of op called `name`, or -1. */
int kiln_cpu_tactic_find(kiln_op op, const char *name);
/* Printable name of tactic t of op ("ref" for 0, "?" out of range). */
const char *kiln_cpu_tactic_name(kiln_op op, int t);
/* The tactic that runs here for a recorded one: follows fallbacks until its ISA is available and it supports the
 * node (0 at worst). */
int kiln_cpu_tactic_resolve(const kiln_graph *g, const kiln_node *n, int t);
/* 1 when tactic t computes the node (a conv with a residual, input 3) correctly with its output in the residual's
 * bytes: the gemm tactics (gemm_variant.inc starts from the residual as the output's partial sums), whose ISA
 * fallbacks are gemm tactics too. The memory planner may then give the output the residual's buffer. */
int kiln_cpu_tactic_writes_over_residual(const kiln_graph *g, const kiln_node *n, int t);
/* 1 when tactic t may be chosen for the node on this machine (supports it, ISA available). */
int kiln_cpu_tactic_usable(const kiln_graph *g, const kiln_node *n, int t);
/* Deterministic choice from the node alone (shapes, attributes, batch_max) and this machine's ISA. */
/* 1 when tactic t of op has a float32 error well above the gemm's (Winograd F(4x4)): builds choose it only with
 * kiln_build_options.fast_math; engines that have it still run it. */
int kiln_cpu_tactic_fast_math(kiln_op op, int t);
int kiln_cpu_tactic_heuristic(const kiln_graph *g, const kiln_node *n, int batch_max, int fast_math);
/* Workspace bytes of tactic t for the node at `batch` (64-byte multiple). */
size_t kiln_cpu_tactic_workspace(const kiln_graph *g, const kiln_node *n, int t, int batch);
/* Packed-weights bytes of tactic t for the node (0: nothing to pack). */
size_t kiln_cpu_tactic_packed_bytes(const kiln_graph *g, const kiln_node *n, int t);
/* Multiply-adds per sample that tactic t performs for a conv node where they differ from the direct convolution's
 * (Winograd: tiles x points x Cin x Cout, the transformed products; the transforms' additions not counted), or -1
 * where they do not. `kiln bench --dumpProfile` divides by these for "% peak" and its multiply floor. */
double kiln_cpu_tactic_mults(const kiln_graph *g, const kiln_node *n, int t);
/* Pack the node's weights for tactic t into dst (kiln_cpu_tactic_packed_bytes bytes, 64-byte aligned). */
void kiln_cpu_tactic_pack(const kiln_graph *g, const kiln_node *n, int t, void *dst);
/* Run tactic t (already resolved) for one node. Before a gemm tactic, fills the workspace's zero row. */
void kiln_cpu_tactic_run(int t, const kiln_kernel_args *a, const void *packed, kiln_threadpool *pool);

#endif
