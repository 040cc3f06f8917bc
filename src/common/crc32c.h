/* CRC-32C (Castagnoli), the checksum of every record of the embedded log. */
#ifndef SSEB_COMMON_CRC32C_H
#define SSEB_COMMON_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extends crc (0 to start) over p[0..n). */
uint32_t crc32c(uint32_t crc, const void *p, size_t n);

#endif
