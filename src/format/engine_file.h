/* Engine file v3: constants shared by the writer (engine_write.c) and the reader (engine_read.c).
 * The full grammar is in docs/ENGINE_FORMAT.md; keep the two in step. */
#ifndef KILN_FORMAT_ENGINE_FILE_H
#define KILN_FORMAT_ENGINE_FILE_H

#define KILN_ENGINE_MAGIC "KILNENG\0"      /* 8 bytes, the NUL included */
#define KILN_ENGINE_FORMAT_VERSION 7u /* v2: attrs act2, plan value_pitch, build report; v3: layer precision, range;
                                        * v4: header flag KILN_EF_FLAG_FIXED_SHAPE; v5: options pass_batch;
                                        * v6: layer stream (CPU row streaming); v7: same grammar, new meanings a v6
                                        * reader would run wrongly: a conv's output planned over its residual, stream
                                        * 1 on stems */
#define KILN_EF_FLAG_FIXED_SHAPE 1u   /* header flags bit 0: fixed-shape engine (kiln_graph.fixed_shape) */
#define KILN_ENGINE_ENDIAN_MARKER 0x01020304u

/* Fixed header: byte offsets of its fields. */
#define KILN_EF_OFF_VERSION 8
#define KILN_EF_OFF_ENDIAN 12
#define KILN_EF_OFF_FILE_BYTES 16
#define KILN_EF_OFF_TARGET 24
#define KILN_EF_OFF_FLAGS 28
#define KILN_EF_OFF_WEIGHTS_OFFSET 32
#define KILN_EF_OFF_WEIGHTS_BYTES 40
#define KILN_EF_HEADER_BYTES 48
#define KILN_EF_CHECKSUM_BYTES 4       /* u32 CRC-32 trailer over every byte before it */
#define KILN_EF_WEIGHTS_ALIGN 64

/* Sanity limits a reader enforces before trusting a count (a valid file never comes near them). */
#define KILN_EF_MAX_BATCH 65536
#define KILN_EF_MAX_THREADS 4096
#define KILN_EF_MAX_NUMEL ((int64_t)1 << 40)
#define KILN_EF_ATTRS_BYTES 220        /* the attrs record on disk (v2: act2 added) */
#define KILN_EF_MAX_PASS_STATS 16      /* build report: optimizer passes listed */
#define KILN_EF_LAYER_BYTES 28         /* one layer record (v3: precision and range added; v6: stream) */

#endif
