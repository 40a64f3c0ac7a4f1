/* A data pack from a tier into a local file, checked by its hash (packfetch.h). */
#include "packfetch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "snapshot.h"
#include "tier/errors.h"
#include "util/error.h"
#include "util/posix.h"

struct fetch_sink {
	int fd;
	tier_sha256_ctx sha;
	uint64_t got;
	tier_fetch_stop_fn stop;
	void *payload;
	int rc;
};

static int fetch_sink_cb(const void *data, size_t len, void *payload)
{
	struct fetch_sink *c = payload;
	if (c->stop && (c->got & ((1u << 20) - 1)) + len >= (1u << 20) &&
	    (c->rc = c->stop(c->payload)) < 0)
		return -1; /* checked every MiB: well within a second */
	if ((c->rc = tier_write_all(c->fd, data, len, "temporary pack file")) <
	            0 ||
	    (c->rc = tier_sha256_update(&c->sha, data, len)) < 0)
		return -1;
	c->got += len;
	return 0;
}

int tier_pack_fetch(tier_location *src, const unsigned char id[TIER_HASH_LEN],
                    uint64_t size, const char *tmpdir, const char *prefix,
                    tier_fetch_stop_fn stop, void *payload, int *fd,
                    char *tmppath, size_t cap, uint64_t *got)
{
	char path[80];
	unsigned char sum[TIER_HASH_LEN];
	int rc;

	if (got)
		*got = 0;
	tier_data_pack_path(path, id);
	snprintf(tmppath, cap, "%s/%s-XXXXXX", tmpdir, prefix);
	*fd = mkstemp(tmppath);
	if (*fd < 0)
		return tier_error_set_errno(
		        TIER_ERROR, errno,
		        "cannot create a temporary file in '%s'", tmpdir);
	struct fetch_sink c = {*fd, TIER_SHA256_CTX_INIT, 0, stop, payload, 0};
	if ((rc = tier_sha256_init(&c.sha)) < 0)
		goto fail;
	rc = tier_location_get(src, path, 0, UINT64_MAX, fetch_sink_cb, &c);
	if (got)
		*got = c.got;
	if (rc == TIER_EABORTED && c.rc < 0)
		rc = tier_error_set(c.rc, "%s", tier_error_last());
	if (rc < 0) {
		tier_sha256_dispose(&c.sha);
		goto fail;
	}
	if ((rc = tier_sha256_final(&c.sha, sum)) < 0)
		goto fail;
	tier_sha256_dispose(&c.sha);
	if (memcmp(sum, id, TIER_HASH_LEN) != 0 || (size && c.got != size)) {
		rc = tier_error_set(
		        TIER_ECORRUPT,
		        "tier '%s': pack %s is damaged (its hash does not match)",
		        tier_location_name(src), path);
		goto fail;
	}
	return 0;
fail:
	close(*fd);
	*fd = -1;
	unlink(tmppath);
	return rc;
}
