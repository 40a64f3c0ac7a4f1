#include "driver/listing.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
	char *name;
	tier_stat st;
} item;

static int cmp_items(const void *a, const void *b)
{
	const item *x = *(item *const *)a, *y = *(item *const *)b;
	return strcmp(x->name, y->name);
}

static void free_item(void *p)
{
	item *it = p;
	if (it)
		free(it->name);
	free(it);
}

int tier_listing_add(tier_listing *l, const char *name, size_t n,
                     const tier_stat *st)
{
	item *it = tier_calloc(1, sizeof(*it));
	if (!it || !(it->name = tier_strndup(name, n)) ||
	    tier_vec_push(&l->items, it) < 0) {
		free_item(it);
		return TIER_ERROR;
	}
	it->st = *st;
	return 0;
}

int tier_listing_deliver(tier_listing *l, tier_list_cb cb, void *payload,
                         const char *dir, const char *where)
{
	tier_vec_sort(&l->items, cmp_items);
	for (size_t i = 0; i < l->items.length; i++) {
		item *it = l->items.ptr[i];
		if (cb(it->name, &it->st, payload))
			return tier_error_set(
			        TIER_EABORTED,
			        "listing '%s' on %s was cancelled",
			        *dir ? dir : ".", where);
	}
	return 0;
}

void tier_listing_dispose(tier_listing *l)
{
	tier_vec_dispose(&l->items, free_item);
}
