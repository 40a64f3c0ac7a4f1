/*
 * Shared by the fuzz targets (fuzz_<name>.c): libFuzzer's entry point and
 * a check that aborts, so a broken invariant is a finding like a
 * sanitizer report (libFuzzer saves the input; the replay driver stops).
 */
#ifndef TIER_FUZZ_H
#define TIER_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_CHECK(cond)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
			        __LINE__, #cond);                              \
			abort();                                               \
		}                                                              \
	} while (0)

/* data as a NUL-terminated string (the parsers take C strings). */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		abort();
	if (size)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

#endif
