/*
 * The one growable byte buffer and the one vector.  Sizes are checked for
 * overflow; allocation failure sets TIER_ERROR "out of memory".
 * A tier_buf is always NUL-terminated when ptr != NULL, so it doubles as a
 * string builder.
 */
#ifndef TIER_UTIL_BUF_H
#define TIER_UTIL_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

typedef struct {
	char *ptr;
	size_t size;  /* bytes used, not counting the NUL */
	size_t asize; /* bytes allocated */
} tier_buf;

#define TIER_BUF_INIT      \
	{                  \
		NULL, 0, 0 \
	}

int tier_buf_grow(tier_buf *b, size_t extra);
int tier_buf_put(tier_buf *b, const void *data, size_t len);
int tier_buf_puts(tier_buf *b, const char *s);
int tier_buf_putc(tier_buf *b, char c);
int tier_buf_printf(tier_buf *b, const char *fmt, ...) TIER_PRINTF(2, 3);
int tier_buf_vprintf(tier_buf *b, const char *fmt, va_list ap);
int tier_buf_sets(tier_buf *b, const char *s);
void tier_buf_clear(tier_buf *b);
/** Give the memory to the caller (free() it); the buffer is reset. */
char *tier_buf_detach(tier_buf *b);
void tier_buf_dispose(tier_buf *b);
/** Returns the string or "" if the buffer was never written. */
const char *tier_buf_cstr(const tier_buf *b);

/** a + b without overflow, else TIER_ERROR. */
int tier_add_overflow(size_t *out, size_t a, size_t b);
int tier_mul_overflow(size_t *out, size_t a, size_t b);

/** Allocation wrappers that set the error message on failure. */
void *tier_malloc(size_t n);
void *tier_calloc(size_t n, size_t size);
void *tier_realloc(void *p, size_t n);
char *tier_strdup(const char *s);
char *tier_strndup(const char *s, size_t n);

/* Vector of pointers (owner decides what the pointers mean). */
typedef struct {
	void **ptr;
	size_t length;
	size_t alloc;
} tier_vec;

#define TIER_VEC_INIT      \
	{                  \
		NULL, 0, 0 \
	}

int tier_vec_push(tier_vec *v, void *item);
/** Free the array only; with free_item, free each item first. */
void tier_vec_dispose(tier_vec *v, void (*free_item)(void *));
void tier_vec_sort(tier_vec *v, int (*cmp)(const void *, const void *));

#endif
