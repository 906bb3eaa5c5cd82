#include "checksum.h"

/* Table for one byte at a time, built on the stack per call (256 x 8 steps: negligible next to the data). */
static void make_table(uint32_t t[256])
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        t[i] = c;
    }
}

uint32_t kiln_crc32(uint32_t crc, const void *data, size_t n)
{
    uint32_t t[256];
    make_table(t);
    const uint8_t *p = data;
    crc = ~crc;
    for (size_t i = 0; i < n; i++) crc = t[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
    return ~crc;
}
