/* Keras .h5 import entry: open the file, read model_config / keras_version / backend, find the weights, check that
 * every layer is supported (one message listing all that are not), then convert (kk_import_config, shared with the
 * Keras 3 .keras reader in keras_zip.c). */
#include "keras_import.h"

#include <stdlib.h>
#include <string.h>

#include "keras_internal.h"

static int major_version(const char *v)
{
    return v && v[0] >= '0' && v[0] <= '9' ? atoi(v) : 2;
}

kiln_status kiln_keras_import_h5(const char *path, kiln_graph **out)
{
    *out = NULL;
    kiln_h5_quiet();
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0)
        return kiln_fail(KILN_ERR_TRUNCATED, "%s: cannot open as HDF5 (the file is truncated or corrupt)", path);
    kiln_status st = KILN_OK;
    char *config_text = NULL, *version = NULL, *backend = NULL;
    hid_t root = -1;
    kk_ctx c;
    memset(&c, 0, sizeof c);
    c.path = path;

    const char *why = kiln_h5_read_string_attr(file, "model_config", &config_text);
    if (why) {
        if (!kiln_h5_has_attr(file, "model_config"))
            st = kiln_fail(KILN_ERR_UNSUPPORTED, "%s: HDF5 file without a model_config attribute: not a Keras model "
                           "saved with model.save() (a save_weights() file holds weights only)", path);
        else
            st = kiln_fail(KILN_ERR_FORMAT, "%s: cannot read attribute model_config: %s", path, why);
        goto done;
    }
    if (kiln_h5_has_attr(file, "keras_version")) kiln_h5_read_string_attr(file, "keras_version", &version);
    if (kiln_h5_has_attr(file, "backend")) kiln_h5_read_string_attr(file, "backend", &backend);
    c.keras_major = major_version(version);
    if (backend && !strcmp(backend, "theano")) {
        /* Theano stores convolution kernels flipped; converting them is not implemented. */
        st = kiln_fail(KILN_ERR_UNSUPPORTED, "%s: saved with the Theano backend (flipped convolution kernels); "
                       "re-save it with TensorFlow", path);
        goto done;
    }
    root = H5Lexists(file, "model_weights", H5P_DEFAULT) > 0 ? H5Gopen2(file, "model_weights", H5P_DEFAULT)
                                                               : H5Gopen2(file, "/", H5P_DEFAULT);
    if (root < 0) {
        st = kiln_fail(KILN_ERR_FORMAT, "%s: cannot open the model_weights group", path);
        goto done;
    }
    st = kk_import_config(&c, config_text, root, out);
done:
    free(config_text);
    free(version);
    free(backend);
    if (root >= 0) H5Gclose(root);
    H5Fclose(file);
    return st;
}

kiln_status kk_import_config(kk_ctx *c, const char *config_text, hid_t weights_root, kiln_graph **out)
{
    *out = NULL;
    kiln_status st = KILN_OK;
    cJSON *config = cJSON_Parse(config_text);
    if (!config || !cJSON_IsObject(config)) {
        st = kiln_fail(KILN_ERR_FORMAT, "%s: the model config is not valid JSON", c->path);
        goto done;
    }
    if ((st = kk_check_support(c, config))) goto done;
    if (c->k3_zip && (st = kk_k3_map(c, config))) goto done;
    c->g = kiln_graph_new();
    if (!c->g) {
        st = kiln_fail(KILN_ERR_NO_MEMORY, "%s: out of memory", c->path);
        goto done;
    }
    if ((st = kk_convert_root(c, config, weights_root))) goto done;
    if ((st = kiln_graph_check(c->g, "keras import"))) goto done;
    *out = c->g;
    c->g = NULL;
done:
    kiln_graph_free(c->g);
    c->g = NULL;
    free(c->cache);
    free(c->layer_names);
    for (int i = 0; i < c->n_k3_paths; i++) free(c->k3_paths[i].path);
    free(c->k3_paths);
    cJSON_Delete(config);
    return st;
}
