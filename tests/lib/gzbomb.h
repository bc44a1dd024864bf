/* SPDX-License-Identifier: MIT */
/* gzip bombs for the HTTP client's and the crawler's body-limit tests: a
 * gzip member (RFC 1952) of zero bytes compressed with deflate's fixed
 * Huffman codes (RFC 1951), one literal 0 and then matches of 258 bytes at
 * distance 1: 13 bits on the wire for 258 bytes decompressed (about 160:1),
 * written by hand so the tests need no zlib.
 *
 *   gz_zeros(n, &len): the whole member for n zero bytes (checksummed).
 *   gz_begin(&b) then gz_runs(&b, k) repeatedly: an endless member, taken
 *   from b.buf[0..b.len) after each call (the caller empties b.len). */
#ifndef CIO_TESTS_GZBOMB_H
#define CIO_TESTS_GZBOMB_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct gzbomb {
    unsigned char *buf;
    size_t len, cap;
    uint32_t acc; /* bits not yet written out, LSB first */
    int nbits;
} gzbomb;

static void gz_byte(gzbomb *b, unsigned char c)
{
    if (b->len == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 4096;
        b->buf = realloc(b->buf, b->cap);
        if (!b->buf)
            abort();
    }
    b->buf[b->len++] = c;
}

/* n bits of v, least significant first (deflate's order for fields). */
static void gz_bits(gzbomb *b, uint32_t v, int n)
{
    b->acc |= v << b->nbits;
    b->nbits += n;
    while (b->nbits >= 8) {
        gz_byte(b, (unsigned char)b->acc);
        b->acc >>= 8;
        b->nbits -= 8;
    }
}

/* A Huffman code: most significant bit first. */
static void gz_code(gzbomb *b, uint32_t code, int n)
{
    for (int i = n - 1; i >= 0; i--)
        gz_bits(b, (code >> i) & 1, 1);
}

#define GZ_LIT0() 0x30, 8  /* literal 0: 00110000 */
#define GZ_RUN258() 0xC5, 8 /* length 258: symbol 285, 11000101 (then distance code 0: 5 zero bits) */

/* The gzip header, a final fixed-Huffman block and one literal 0. */
static void gz_begin(gzbomb *b)
{
    static const unsigned char hdr[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff};
    for (int i = 0; i < 10; i++)
        gz_byte(b, hdr[i]);
    gz_bits(b, 1, 1); /* BFINAL */
    gz_bits(b, 1, 2); /* BTYPE 01: fixed codes */
    gz_code(b, GZ_LIT0());
}

/* k more matches: 258 * k more zero bytes decompressed. */
static void gz_runs(gzbomb *b, size_t k)
{
    for (size_t i = 0; i < k; i++) {
        gz_code(b, GZ_RUN258());
        gz_bits(b, 0, 5);
    }
}

static uint32_t gz_crc_zeros(size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0xedb88320u : c >> 1;
    return c ^ 0xffffffffu;
}

/* A whole gzip member of n >= 1 zero bytes (malloc'd, *len bytes). */
static unsigned char *gz_zeros(size_t n, size_t *len)
{
    gzbomb b = {0};
    gz_begin(&b);
    size_t runs = (n - 1) / 258;
    gz_runs(&b, runs);
    for (size_t i = 1 + runs * 258; i < n; i++)
        gz_code(&b, GZ_LIT0());
    gz_code(&b, 0, 7); /* end of block */
    if (b.nbits)
        gz_bits(&b, 0, 8 - b.nbits);
    uint32_t crc = gz_crc_zeros(n), isize = (uint32_t)n;
    for (int i = 0; i < 4; i++)
        gz_byte(&b, (unsigned char)(crc >> (8 * i)));
    for (int i = 0; i < 4; i++)
        gz_byte(&b, (unsigned char)(isize >> (8 * i)));
    *len = b.len;
    return b.buf;
}

#endif
