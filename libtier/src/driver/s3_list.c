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

int tier_s3_list(tier_driver *drv, const char *dir, tier_list_cb cb,
                 void *payload)
{
	s3_driver *d = tier_s3_of(drv);
	tier_listing items = TIER_LISTING_INIT;
	tier_buf prefix = TIER_BUF_INIT, token = TIER_BUF_INIT,
	         text = TIER_BUF_INIT, val = TIER_BUF_INIT;
	char maxk[16];
	int rc = tier_driver_check_path(dir, 1), truncated = 1, seen = 0;

	if (rc < 0)
		return rc;
	if ((rc = tier_s3_dir_prefix(d, &prefix, dir)) < 0)
		goto out;
	snprintf(maxk, sizeof(maxk), "%u", d->max_keys);
	while (truncated) {
		s3_param p[5] = {{"delimiter", "/"},
		                 {"list-type", "2"},
		                 {"prefix", prefix.ptr}};
		size_t np = 3;
		if (d->max_keys)
			p[np++] = (s3_param){"max-keys", maxk};
		if (token.size)
			p[np++] = (s3_param){"continuation-token", token.ptr};
		s3_req r = {.method = "GET", .params = p, .nparams = np};
		if ((rc = tier_s3_request(d, &r, "list", *dir ? dir : ".")) < 0)
			goto out;

		s3_xml x = {d->body.ptr,
		            d->body.ptr ? d->body.ptr + d->body.size : NULL},
		       in;
		truncated = s3_xml_text(&x, "IsTruncated", &val) &&
		            !strcmp(val.ptr, "true");
		if (truncated &&
		    (!s3_xml_text(&x, "NextContinuationToken", &token) ||
		     !token.size)) {
			rc = tier_error_set(
			        TIER_EOFFLINE,
			        "cannot list '%s' on %s: the store cut the listing short "
			        "without a continuation token",
			        *dir ? dir : ".", d->where);
			goto out;
		}
		s3_xml scan = x;
		while (s3_xml_next(&scan, "Contents", &in)) {
			tier_stat st = {0};
			if (!s3_xml_text(&in, "Key", &text))
				continue;
			if (s3_xml_text(&in, "Size", &val))
				st.size = strtoull(val.ptr, NULL, 10);
			if (s3_xml_text(&in, "LastModified", &val)) {
				int64_t t = s3_parse_time(val.ptr);
				st.mtime = t > 0 ? t : 0;
			}
			seen = 1;
			if (text.size < prefix.size ||
			    memcmp(text.ptr, prefix.ptr, prefix.size))
				continue;
			if ((rc = add_item(&items, text.ptr + prefix.size,
			                   text.size - prefix.size, &st)) < 0)
				goto out;
		}
		scan = x;
		while (s3_xml_next(&scan, "CommonPrefixes", &in)) {
			tier_stat st = {0};
			st.is_dir = 1;
			if (!s3_xml_text(&in, "Prefix", &text))
				continue;
			seen = 1;
			if (text.size <= prefix.size ||
			    memcmp(text.ptr, prefix.ptr, prefix.size))
				continue;
			size_t n = text.size - prefix.size;
			if (text.ptr[text.size - 1] == '/')
				n--;
			if ((rc = add_item(&items, text.ptr + prefix.size, n,
			                   &st)) < 0)
				goto out;
		}
	}
	/* no key under the prefix: the directory does not exist (the root always does) */
	if (!seen && *dir) {
		rc = tier_error_set(TIER_ENOTFOUND,
		                    "cannot list '%s' on %s: not found", dir,
		                    d->where);
		goto out;
	}

	rc = tier_listing_deliver(&items, cb, payload, dir, d->where);
out:
	tier_listing_dispose(&items);
	tier_buf_dispose(&prefix);
	tier_buf_dispose(&token);
	tier_buf_dispose(&text);
	tier_buf_dispose(&val);
	tier_buf_clear(&d->body);
	return rc;
}
