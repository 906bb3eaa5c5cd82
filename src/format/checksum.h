/* CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320, init and final xor 0xFFFFFFFF): the same number as zlib's
 * crc32() and Python's zlib.crc32(), so an engine file can be checked with one line of Python. */
#ifndef KILN_FORMAT_CHECKSUM_H
#define KILN_FORMAT_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

/* Continue a CRC: start with crc = 0, feed the bytes in any number of pieces. */
uint32_t kiln_crc32(uint32_t crc, const void *data, size_t n);

#endif
