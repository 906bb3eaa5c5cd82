/* Public kiln_network API: import a model file into the graph IR. */
#include <stdlib.h>
#include <string.h>

#include "../core/status.h"
#include "../import/import.h"
#include "../runtime/engine_internal.h"

kiln_status kiln_network_import(const char *path, kiln_network **out)
{
    kiln_diag_clear();
    if (!out) return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "kiln_network_import: out must not be NULL");
    *out = NULL;
    if (!path) return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "kiln_network_import: path must not be NULL");
    kiln_network *net = calloc(1, sizeof *net);
    size_t len = strlen(path) + 1;
    char *src = malloc(len);
    if (!net || !src) {
        free(net);
        free(src);
        return kiln_fail(KILN_ERR_NO_MEMORY, "%s: out of memory", path);
    }
    memcpy(src, path, len);
    kiln_status st = kiln_import_file(path, &net->g, net->format, sizeof net->format);
    if (st != KILN_OK) {
        free(src);
        free(net);
        return st;
    }
    net->source_path = src;
    *out = net;
    return KILN_OK;
}

void kiln_network_free(kiln_network *net)
{
    if (!net) return;
    kiln_graph_free(net->g);
    free(net->source_path);
    free(net);
}

const char *kiln_network_format(const kiln_network *net) { return net ? net->format : ""; }

const char *kiln_network_fixed_shape(const kiln_network *net)
{
    return net && net->g && net->g->fixed_shape ? net->g->fixed_note : NULL;
}
