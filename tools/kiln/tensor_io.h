/* Named float tensors for kiln bench / compare: seeded random inputs, and the outputs file format shared by
 * `bench --exportOutput` and `compare --save-outputs/--load-outputs` (docs/BENCH.md):
 *   one iteration:   trtexec's --exportOutput array  [{"name": "y", "dimensions": "1x1000", "values": [...]}, ...]
 *   N iterations:    an array of such arrays          [[{...}, ...], [{...}, ...]]
 *   .npy:            one iteration of a one-output model (the tensor itself) */
#ifndef KILN_TOOLS_TENSOR_IO_H
#define KILN_TOOLS_TENSOR_IO_H

#include <stddef.h>
#include <stdint.h>

#include "kiln.h"

typedef struct {
    char *name;                         /* owned */
    int rank;
    int64_t dims[KILN_TENSOR_MAX_RANK]; /* dims[0] = the batch of the run */
    float *data;                        /* owned; prod(dims) floats */
} cli_tensor;

typedef struct {
    cli_tensor *t;  /* owned; n tensors */
    int n;
} cli_tensor_list;

int64_t cli_tensor_numel(const cli_tensor *t);
void cli_tensor_list_free(cli_tensor_list *l);
/* Uniform floats in [lo, hi] from a splitmix64 stream: the same seed gives the same numbers on every machine. */
void cli_fill_uniform(float *x, size_t n, uint64_t seed, float lo, float hi);

/* Write `iters` iterations (each a list of outputs) to path: .npy when the name ends in .npy (1 iteration, 1 output),
 * else JSON as above. Returns 0, or reports ("kiln: PATH: ...") and returns -1. */
int cli_outputs_save(const char *path, const cli_tensor_list *iters, int n_iters);
/* Read a file written by cli_outputs_save or by trtexec --exportOutput (JSON, detected from the content) or a .npy
 * (one tensor named `npy_name`). *iters is a malloc'd array of *n_iters lists owned by the caller
 * (cli_tensor_list_free each, then free). Returns 0, or reports and returns -1. */
int cli_outputs_load(const char *path, const char *npy_name, cli_tensor_list **iters, int *n_iters);
/* Is the file an outputs file (JSON or .npy content), as opposed to a model or engine? */
int cli_is_outputs_file(const char *path);

#endif
