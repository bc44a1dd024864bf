/* SPDX-License-Identifier: MIT */
/* Python's random module (MT19937, random.seed(int), randint, random,
 * uniform), so that the ported article programs draw exactly the numbers the
 * Python originals draw for the same seed and their outputs can be compared
 * line for line.  One generator per process, not thread-safe. */
#ifndef CIO_EXAMPLES_PYRANDOM_H
#define CIO_EXAMPLES_PYRANDOM_H

#include <stdint.h>

void py_seed(uint64_t seed);
uint32_t py_genrand(void);
/* random.randint(a, b): a + _randbelow(b - a + 1), by rejection sampling. */
int py_randint(int a, int b);
/* random.random(): 53 random bits in [0, 1). */
double py_random(void);
/* random.uniform(a, b) */
double py_uniform(double a, double b);

#endif
