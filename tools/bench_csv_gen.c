/*
 * bench_csv_gen.c -- writes the CSV of tools/bench_csv.py to stdout, fast: ROWS rows of
 * id, x1..x8 (uniform in [-1, 1], 6 decimals), y (linear in the features plus noise,
 * 6 decimals) and c (a noisy linear rule), about 93 bytes a row. The same arguments
 * give the same bytes (splitmix64 from the seed; numbers formatted from integers, so
 * no locale or printf rounding enters). Compiled and run by tools/bench_csv.py.
 *
 *   bench_csv_gen ROWS [SEED]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

static uint64_t state;

static uint64_t
next(void)
{
	uint64_t	z = (state += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

/* A whole number of millionths as decimal text ("-0.123456"); returns the end. */
static char *
micro(char *p, int64_t v)
{
	char		digits[24];
	int			n = 0;
	uint64_t	u;

	if (v < 0)
	{
		*p++ = '-';
		u = (uint64_t) (-v);
	}
	else
		u = (uint64_t) v;
	do
	{
		digits[n++] = (char) ('0' + u % 10);
		u /= 10;
	} while (u > 0 || n < 7);
	while (n > 6)
		*p++ = digits[--n];
	*p++ = '.';
	while (n > 0)
		*p++ = digits[--n];
	return p;
}

static char *
integer(char *p, uint64_t u)
{
	char		digits[24];
	int			n = 0;

	do
	{
		digits[n++] = (char) ('0' + u % 10);
		u /= 10;
	} while (u > 0);
	while (n > 0)
		*p++ = digits[--n];
	return p;
}

int
main(int argc, char **argv)
{
	static const double w[8] = {1.5, -2, 0.5, 1, -1, 0.25, 0.1, -0.3};
	static char buffer[1 << 20];
	uint64_t	rows;
	char	   *p = buffer;

	if (argc < 2 || argc > 3)
	{
		fprintf(stderr, "usage: bench_csv_gen ROWS [SEED]\n");
		return 2;
	}
	rows = strtoull(argv[1], NULL, 10);
	state = argc == 3 ? strtoull(argv[2], NULL, 10) : 17;
	for (uint64_t g = 1; g <= rows; g++)
	{
		int64_t		x[8];
		double		lin = 0;
		double		noise;

		p = integer(p, g);
		for (int j = 0; j < 8; j++)
		{
			x[j] = (int64_t) (next() % 2000001) - 1000000;
			lin += w[j] * (double) x[j];
			*p++ = ',';
			p = micro(p, x[j]);
		}
		noise = (double) (next() >> 11) / 9007199254740992.0 - 0.5;
		*p++ = ',';
		p = micro(p, llround(lin + 0.5 * noise * 1e6));
		*p++ = ',';
		*p++ = (x[0] - x[1] + 0.5 * x[2] + 0.5 * noise * 1e6 > 0) ? 't' : 'f';
		*p++ = '\n';
		if (p - buffer > (long) sizeof(buffer) - 256)
		{
			if (fwrite(buffer, 1, p - buffer, stdout) != (size_t) (p - buffer))
				return 1;
			p = buffer;
		}
	}
	if (fwrite(buffer, 1, p - buffer, stdout) != (size_t) (p - buffer))
		return 1;
	return fflush(stdout) != 0;
}
