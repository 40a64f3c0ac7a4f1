#include "util/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tier_add_overflow(size_t *out, size_t a, size_t b)
{
	if (a > SIZE_MAX - b) {
		/* a constant return, so that inlined callers see *out set on 0 */
		tier_error_set(TIER_ERROR, "size overflow");
		return TIER_ERROR;
	}
	*out = a + b;
	return 0;
}

int tier_mul_overflow(size_t *out, size_t a, size_t b)
{
	if (a && b > SIZE_MAX / a) {
		/* a constant return, so that inlined callers see *out set on 0 */
		tier_error_set(TIER_ERROR, "size overflow");
		return TIER_ERROR;
	}
	*out = a * b;
	return 0;
}

void *tier_malloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		tier_error_set(TIER_ERROR, "out of memory");
	return p;
}

void *tier_calloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		tier_error_set(TIER_ERROR, "out of memory");
	return p;
}

void *tier_realloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		tier_error_set(TIER_ERROR, "out of memory");
	return q;
}

char *tier_strdup(const char *s)
{
	return tier_strndup(s, strlen(s));
}

char *tier_strndup(const char *s, size_t n)
{
	char *p = tier_malloc(n + 1);
	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

int tier_buf_grow(tier_buf *b, size_t extra)
{
	size_t need, cap;
	if (tier_add_overflow(&need, b->size, extra) < 0 ||
	    tier_add_overflow(&need, need, 1) < 0)
		return TIER_ERROR;
	if (need <= b->asize)
		return 0;
	cap = b->asize ? b->asize : 64;
	while (cap < need) {
		if (cap > SIZE_MAX / 2) {
			cap = need;
			break;
		}
		cap *= 2;
	}
	char *p = tier_realloc(b->ptr, cap);
	if (!p)
		return TIER_ERROR;
	b->ptr = p;
	b->asize = cap;
	return 0;
}

int tier_buf_put(tier_buf *b, const void *data, size_t len)
{
	if (tier_buf_grow(b, len) < 0)
		return TIER_ERROR;
	if (len)
		memcpy(b->ptr + b->size, data, len);
	b->size += len;
	b->ptr[b->size] = '\0';
	return 0;
}

int tier_buf_puts(tier_buf *b, const char *s)
{
	return tier_buf_put(b, s, strlen(s));
}

int tier_buf_putc(tier_buf *b, char c)
{
	return tier_buf_put(b, &c, 1);
}

int tier_buf_vprintf(tier_buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	va_copy(cp, ap);
	int n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0)
		return tier_error_set(TIER_ERROR, "bad format string");
	if (tier_buf_grow(b, (size_t)n) < 0)
		return TIER_ERROR;
	vsnprintf(b->ptr + b->size, (size_t)n + 1, fmt, ap);
	b->size += (size_t)n;
	return 0;
}

int tier_buf_printf(tier_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = tier_buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

int tier_buf_sets(tier_buf *b, const char *s)
{
	tier_buf_clear(b);
	return tier_buf_puts(b, s);
}

void tier_buf_clear(tier_buf *b)
{
	b->size = 0;
	if (b->ptr)
		b->ptr[0] = '\0';
}

char *tier_buf_detach(tier_buf *b)
{
	char *p = b->ptr;
	if (!p)
		p = tier_strdup("");
	b->ptr = NULL;
	b->size = b->asize = 0;
	return p;
}

void tier_buf_dispose(tier_buf *b)
{
	free(b->ptr);
	b->ptr = NULL;
	b->size = b->asize = 0;
}

const char *tier_buf_cstr(const tier_buf *b)
{
	return b->ptr ? b->ptr : "";
}

int tier_vec_push(tier_vec *v, void *item)
{
	if (v->length == v->alloc) {
		size_t n = v->alloc ? v->alloc * 2 : 8, bytes;
		if (tier_mul_overflow(&bytes, n, sizeof(void *)) < 0)
			return TIER_ERROR;
		void **p = tier_realloc(v->ptr, bytes);
		if (!p)
			return TIER_ERROR;
		v->ptr = p;
		v->alloc = n;
	}
	v->ptr[v->length++] = item;
	return 0;
}

void tier_vec_dispose(tier_vec *v, void (*free_item)(void *))
{
	if (free_item)
		for (size_t i = 0; i < v->length; i++)
			free_item(v->ptr[i]);
	free(v->ptr);
	v->ptr = NULL;
	v->length = v->alloc = 0;
}

void tier_vec_sort(tier_vec *v, int (*cmp)(const void *, const void *))
{
	if (v->length > 1)
		qsort(v->ptr, v->length, sizeof(void *), cmp);
}
