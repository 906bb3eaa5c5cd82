/* Format detection from content: HDF5 (Keras .h5), zip (Keras 3 .keras), ONNX protobuf, kiln engine, or refused. */
#include "import.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "../core/status.h"
#include "keras/keras_import.h"
#include "onnx/onnx_import.h"

static const unsigned char hdf5_sig[8] = { 0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n' };

/* HDF5 puts its superblock at 0, 512, 1024, 2048, ... (a user block may precede it). */
static int is_hdf5(FILE *f)
{
    unsigned char buf[8];
    for (long off = 0; off <= (1L << 30); off = off ? off * 2 : 512) {
        if (fseek(f, off, SEEK_SET) || fread(buf, 1, 8, f) != 8) return 0;
        if (!memcmp(buf, hdf5_sig, 8)) return 1;
    }
    return 0;
}

static void set_format(char *format, size_t cap, const char *name)
{
    if (format && cap) snprintf(format, cap, "%s", name);
}

kiln_status kiln_import_file(const char *path, kiln_graph **out, char *format, size_t format_cap)
{
    if (out) *out = NULL;
    set_format(format, format_cap, "");
    if (!path || !out) return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "import: path and out must not be NULL");
    FILE *f = fopen(path, "rb");
    if (!f) return kiln_fail(KILN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char head[8] = { 0 };
    size_t n = fread(head, 1, sizeof head, f);
    int hdf5 = n == sizeof head && is_hdf5(f);
    int readable = !ferror(f);
    fclose(f);
    if (!readable) return kiln_fail(KILN_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
    if (hdf5) {
        set_format(format, format_cap, "keras-h5");
        return kiln_keras_import_h5(path, out);
    }
    if (n >= 4 && !memcmp(head, "PK\3\4", 4)) {
        set_format(format, format_cap, "keras-zip");
        return kiln_keras_import_zip(path, out);
    }
    if (kiln_onnx_sniff(head, n)) {
        set_format(format, format_cap, "onnx");
        return kiln_onnx_import(path, out);
    }
    if (n >= 7 && !memcmp(head, "KILNENG", 7))
        return kiln_fail(KILN_ERR_INVALID_ARGUMENT, "%s: this is a kiln engine file, not a model: load it "
                         "(kiln_engine_load) instead of importing it", path);
    if (n == 0) return kiln_fail(KILN_ERR_FORMAT, "%s: unrecognized format (the file is empty)", path);
    return kiln_fail(KILN_ERR_FORMAT, "%s: unrecognized format (not a Keras .h5/HDF5 file, a Keras .keras zip or an ONNX model)", path);
}
