/* ONNX importer (protobuf ModelProto, opsets 7 and up, external data) -> kiln graph in kiln's NHWC layout. */
#ifndef KILN_IMPORT_ONNX_IMPORT_H
#define KILN_IMPORT_ONNX_IMPORT_H

#include <stddef.h>

#include "../../core/graph.h"

/* 1 when the first bytes look like a serialized ModelProto (field 1 ir_version, varint: byte 0x08, then a small
 * version number), 0 otherwise. A cheap test for format detection; the parse decides. */
int kiln_onnx_sniff(const unsigned char *head, size_t n);

/* Import the ONNX model at path. On success *out is a new graph owned by the caller (kiln_graph_free): NHWC
 * activations, batch placeholder 1, node names = ONNX node names. On failure *out is NULL and the diagnostic names
 * the file, the node(s) and the reason; every unsupported operator is listed in one message. */
kiln_status kiln_onnx_import(const char *path, kiln_graph **out /* caller owns */);

#endif
