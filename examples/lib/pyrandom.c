/* SPDX-License-Identifier: MIT */
/* Python's random module for the examples; see pyrandom.h. */
#include "pyrandom.h"

static uint32_t mt[624];
static int mti = 624;

void py_seed(uint64_t seed)
{
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    int klen = key[1] ? 2 : 1;
    mt[0] = 19650218u;
    for (int k = 1; k < 624; k++)
        mt[k] = 1812433253u * (mt[k - 1] ^ (mt[k - 1] >> 30)) + (uint32_t)k;
    int i = 1, j = 0;
    for (int k = 624; k; k--) {
        mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1664525u)) + key[j] + (uint32_t)j;
        if (++i >= 624)
            mt[0] = mt[623], i = 1;
        if (++j >= klen)
            j = 0;
    }
    for (int k = 623; k; k--) {
        mt[i] = (mt[i] ^ ((mt[i - 1] ^ (mt[i - 1] >> 30)) * 1566083941u)) - (uint32_t)i;
        if (++i >= 624)
            mt[0] = mt[623], i = 1;
    }
    mt[0] = 0x80000000u;
    mti = 624;
}

uint32_t py_genrand(void)
{
    if (mti >= 624) {
        for (int k = 0; k < 624; k++) {
            uint32_t y = (mt[k] & 0x80000000u) | (mt[(k + 1) % 624] & 0x7fffffffu);
            mt[k] = mt[(k + 397) % 624] ^ (y >> 1) ^ (y & 1 ? 0x9908b0dfu : 0);
        }
        mti = 0;
    }
    uint32_t y = mt[mti++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    return y ^ (y >> 18);
}

/* random.randint(a, b): a + _randbelow(b - a + 1), by rejection sampling. */
int py_randint(int a, int b)
{
    uint32_t n = (uint32_t)(b - a + 1), r;
    int k = 0;
    while (k < 32 && (n >> k))
        k++;
    do
        r = py_genrand() >> (32 - k);
    while (r >= n);
    return a + (int)r;
}

double py_random(void)
{
    uint32_t a = py_genrand() >> 5;
    uint32_t b = py_genrand() >> 6;
    return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0);
}

double py_uniform(double a, double b) { return a + (b - a) * py_random(); }
