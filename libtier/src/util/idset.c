#include "util/idset.h"

#include <stdlib.h>
#include <string.h>

#include "tier/errors.h"
#include "util/buf.h"
#include "util/error.h"

static size_t hash_of(const unsigned char *id)
{
	uint64_t h;
	memcpy(&h, id,
	       sizeof(h)); /* the ids are hashes: their bytes are uniform */
	return (size_t)h;
}

static int grow_slots(tier_idset *s)
{
	size_t nslots = s->mask ? (s->mask + 1) * 2 : 1024;
	uint32_t *slot = tier_calloc(nslots, sizeof(*slot));
	if (!slot)
		return TIER_ERROR;
	for (size_t i = 0; i < s->n; i++) {
		size_t k = hash_of(tier_idset_at(s, i)) & (nslots - 1);
		while (slot[k])
			k = (k + 1) & (nslots - 1);
		slot[k] = (uint32_t)(i + 1);
	}
	free(s->slot);
	s->slot = slot;
	s->mask = nslots - 1;
	return 0;
}

int tier_idset_has(const tier_idset *s, const void *id)
{
	if (!s->slot)
		return 0;
	for (size_t k = hash_of(id) & s->mask; s->slot[k];
	     k = (k + 1) & s->mask)
		if (!memcmp(tier_idset_at(s, s->slot[k] - 1), id, s->len))
			return 1;
	return 0;
}

int tier_idset_add(tier_idset *s, const void *id)
{
	/* a zeroed set (len 0) would find every id present */
	if (s->len < sizeof(uint64_t))
		return tier_error_set(TIER_ERROR,
		                      "id set used without TIER_IDSET_INIT");
	if (s->n >= UINT32_MAX - 1)
		return tier_error_set(TIER_ERROR, "too many ids in one set");
	if ((s->n + 1) * 2 > s->mask + 1 && grow_slots(s) < 0)
		return TIER_ERROR;
	size_t k = hash_of(id) & s->mask;
	for (; s->slot[k]; k = (k + 1) & s->mask)
		if (!memcmp(tier_idset_at(s, s->slot[k] - 1), id, s->len))
			return 0;
	if (s->n == s->ids_cap) {
		size_t cap = s->ids_cap ? s->ids_cap * 2 : 1024, bytes;
		if (tier_mul_overflow(&bytes, cap, s->len) < 0)
			return TIER_ERROR;
		unsigned char *ids = tier_realloc(s->ids, bytes);
		if (!ids)
			return TIER_ERROR;
		s->ids = ids;
		s->ids_cap = cap;
	}
	memcpy(s->ids + s->n * s->len, id, s->len);
	s->slot[k] = (uint32_t)++s->n;
	return 1;
}

unsigned char *tier_idset_detach(tier_idset *s)
{
	unsigned char *ids = s->ids;
	s->ids = NULL;
	tier_idset_dispose(s);
	return ids;
}

void tier_idset_dispose(tier_idset *s)
{
	free(s->ids);
	free(s->slot);
	s->ids = NULL;
	s->slot = NULL;
	s->n = s->ids_cap = s->mask = 0;
}
