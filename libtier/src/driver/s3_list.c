/*
 * Listings of the s3:// driver: ListObjectsV2 with delimiter '/', page by
 * page; keys are the files, common prefixes the directories, and a
 * directory with no key under it does not exist.
 */
#include "driver/drivers.h"
#include "driver/s3_impl.h"
#include "driver/listing.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- list --------------------------------------------------------------- */

static int add_item(tier_listing *items, const char *name, size_t n,
                    const tier_stat *st)
{
	if (n == 0 ||
	    memchr(name, '/', n)) /* a "dir/" marker object, or odd keys */
		return 0;
	return tier_listing_add(items, name, n, st);
}

/* One listing on its way through the pages. */
struct s3_list_run {
	s3_driver *d;
	const char *dir;
	tier_listing items;
	tier_buf prefix; /* "prefix/dir/" */
	tier_buf token;  /* continuation token of the next page */
	tier_buf text, val;
	int seen; /* a key or prefix under the prefix was in an answer */
};

/* GET one page; whether more follow into *truncated. */
static int list_page(struct s3_list_run *l, int *truncated)
{
	s3_driver *d = l->d;
	char maxk[16];
	s3_param p[5] = {{"delimiter", "/"},
	                 {"list-type", "2"},
	                 {"prefix", l->prefix.ptr}};
	size_t np = 3;
	int rc;

	snprintf(maxk, sizeof(maxk), "%u", d->max_keys);
	if (d->max_keys)
		p[np++] = (s3_param){"max-keys", maxk};
	if (l->token.size)
		p[np++] = (s3_param){"continuation-token", l->token.ptr};
	s3_req r = {.method = "GET", .params = p, .nparams = np};
	if ((rc = tier_s3_request(d, &r, "list", *l->dir ? l->dir : ".")) < 0)
		return rc;
	s3_xml x = {d->body.ptr,
	            d->body.ptr ? d->body.ptr + d->body.size : NULL};
	*truncated = s3_xml_text(&x, "IsTruncated", &l->val) &&
	             !strcmp(l->val.ptr, "true");
	if (*truncated &&
	    (!s3_xml_text(&x, "NextContinuationToken", &l->token) ||
	     !l->token.size))
		return tier_error_set(
		        TIER_EOFFLINE,
		        "cannot list '%s' on %s: the store cut the listing short "
		        "without a continuation token",
		        *l->dir ? l->dir : ".", d->where);
	return 0;
}

/* The <Contents> of a page: the files. */
static int list_contents(struct s3_list_run *l, s3_xml scan)
{
	const tier_buf *prefix = &l->prefix;
	s3_xml in;
	int rc;
	while (s3_xml_next(&scan, "Contents", &in)) {
		tier_stat st = {0};
		if (!s3_xml_text(&in, "Key", &l->text))
			continue;
		if (s3_xml_text(&in, "Size", &l->val))
			st.size = strtoull(l->val.ptr, NULL, 10);
		if (s3_xml_text(&in, "LastModified", &l->val)) {
			int64_t t = s3_parse_time(l->val.ptr);
			st.mtime = t > 0 ? t : 0;
		}
		l->seen = 1;
		if (l->text.size < prefix->size ||
		    memcmp(l->text.ptr, prefix->ptr, prefix->size))
			continue;
		if ((rc = add_item(&l->items, l->text.ptr + prefix->size,
		                   l->text.size - prefix->size, &st)) < 0)
			return rc;
	}
	return 0;
}

/* The <CommonPrefixes> of a page: the directories. */
static int list_prefixes(struct s3_list_run *l, s3_xml scan)
{
	const tier_buf *prefix = &l->prefix;
	s3_xml in;
	int rc;
	while (s3_xml_next(&scan, "CommonPrefixes", &in)) {
		tier_stat st = {0};
		st.is_dir = 1;
		if (!s3_xml_text(&in, "Prefix", &l->text))
			continue;
		l->seen = 1;
		if (l->text.size <= prefix->size ||
		    memcmp(l->text.ptr, prefix->ptr, prefix->size))
			continue;
		size_t n = l->text.size - prefix->size;
		if (l->text.ptr[l->text.size - 1] == '/')
			n--;
		if ((rc = add_item(&l->items, l->text.ptr + prefix->size, n,
		                   &st)) < 0)
			return rc;
	}
	return 0;
}

static int list_pages(struct s3_list_run *l)
{
	s3_driver *d = l->d;
	int rc, truncated = 1;
	while (truncated) {
		if ((rc = list_page(l, &truncated)) < 0)
			return rc;
		s3_xml x = {d->body.ptr,
		            d->body.ptr ? d->body.ptr + d->body.size : NULL};
		if ((rc = list_contents(l, x)) < 0 ||
		    (rc = list_prefixes(l, x)) < 0)
			return rc;
	}
	return 0;
}

int tier_s3_list(tier_driver *drv, const char *dir, tier_list_cb cb,
                 void *payload)
{
	struct s3_list_run l = {.d = tier_s3_of(drv),
	                        .dir = dir,
	                        .items = TIER_LISTING_INIT,
	                        .prefix = TIER_BUF_INIT,
	                        .token = TIER_BUF_INIT,
	                        .text = TIER_BUF_INIT,
	                        .val = TIER_BUF_INIT};
	int rc = tier_driver_check_path(dir, 1);

	if (rc < 0)
		return rc;
	if ((rc = tier_s3_dir_prefix(l.d, &l.prefix, dir)) < 0 ||
	    (rc = list_pages(&l)) < 0)
		goto out;
	/* no key under the prefix: the directory does not exist (the root always does) */
	if (!l.seen && *dir)
		rc = tier_error_set(TIER_ENOTFOUND,
		                    "cannot list '%s' on %s: not found", dir,
		                    l.d->where);
	else
		rc = tier_listing_deliver(&l.items, cb, payload, dir,
		                          l.d->where);
out:
	tier_listing_dispose(&l.items);
	tier_buf_dispose(&l.prefix);
	tier_buf_dispose(&l.token);
	tier_buf_dispose(&l.text);
	tier_buf_dispose(&l.val);
	tier_buf_clear(&l.d->body);
	return rc;
}
