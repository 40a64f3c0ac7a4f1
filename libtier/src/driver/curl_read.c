/*
 * The reading operations of the libcurl driver (ftp, ftps, sftp): ping,
 * stat, get (ranged, for R2's reads) and list.
 */
#include "driver/drivers.h"
#include "driver/curl_impl.h"
#include "driver/listing.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/posix.h"

/* ---- small operations ------------------------------------------------- */
int tier_curl_ping(tier_driver *drv)
{
	curl_driver *d = tier_curl_of(drv);
	int rc = tier_curl_dir_probe(d, "", "reach", NULL);
	if (rc == TIER_ENOTFOUND)
		return tier_error_set(TIER_ENOTFOUND,
		                      "tier root of %s does not exist",
		                      d->where);
	return rc;
}

int tier_curl_stat(tier_driver *drv, const char *path, tier_stat *out)
{
	curl_driver *d = tier_curl_of(drv);
	curl_off_t size = -1, mtime = -1;
	int rc = tier_driver_check_path(path, 1);
	CURLcode c;

	memset(out, 0, sizeof(*out));
	if (rc < 0)
		return rc;
	if (!*path) {
		if ((rc = tier_curl_dir_probe(d, "", "stat", NULL)) < 0)
			return rc;
		out->is_dir = 1;
		return 0;
	}
	/* FTP: SIZE + MDTM; SFTP: open + fstat (a directory opens too) */
	if ((rc = tier_curl_set_common(d)) < 0 ||
	    (rc = tier_curl_set_url(d, path, 0)) < 0 ||
	    (rc = tier_curl_opt(
	             d, curl_easy_setopt(d->h, CURLOPT_NOBODY, 1L))) < 0 ||
	    (rc = tier_curl_opt(
	             d, curl_easy_setopt(d->h, CURLOPT_FILETIME, 1L))) < 0)
		return rc;
	c = tier_curl_perform(d);
	if (c == CURLE_OK) {
		curl_easy_getinfo(d->h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T,
		                  &size);
		curl_easy_getinfo(d->h, CURLINFO_FILETIME_T, &mtime);
		out->size = size > 0 ? (uint64_t)size : 0;
		out->mtime = mtime > 0 ? (int64_t)mtime : 0;
		if (d->proto != PROTO_SFTP)
			return 0;
		/* SFTP opened it: a file, or a directory.  Any status the
		 * server answers opendir with means a file (OpenSSH: "No such
		 * file", rclone: "Operation failed"); only a lost connection
		 * leaves the question open. */
		rc = tier_curl_dir_probe(d, path, "stat", NULL);
		if (rc == 0)
			out->is_dir = 1;
		else if (rc == TIER_EOFFLINE)
			return rc;
		tier_error_clear();
		return 0;
	}
	rc = tier_curl_fail(d, c, "stat", path);
	if (rc != TIER_ENOTFOUND || d->proto == PROTO_SFTP)
		return rc;
	/* FTP has no SIZE for a directory */
	rc = tier_curl_dir_probe(d, path, "stat", NULL);
	if (rc < 0)
		return rc;
	out->is_dir = 1;
	return 0;
}

/* ---- get ------------------------------------------------------------- */

static size_t on_get_data(char *p, size_t size, size_t n, void *ud)
{
	curl_driver *d = ud;
	size_t len = size * n;
	d->moved = 1;
	if (d->get_left != UINT64_MAX && len > d->get_left) {
		/* past the range: drop the rest of the file while that is
		 * cheaper than a new login, else take what was asked and stop */
		uint64_t extra = len - d->get_left;
		if (extra <= d->get_tail_left)
			d->get_tail_left -= extra;
		else
			d->get_enough = 1;
		len = (size_t)d->get_left;
	}
	if (len > 0 && d->get_sink(p, len, d->get_payload)) {
		d->get_stopped = 1;
		return 0;
	}
	d->get_delivered += len;
	if (d->get_left != UINT64_MAX)
		d->get_left -= len;
	return d->get_enough ? 0 : size * n;
}

/*
 * FTP has no way to end a download early but ABOR, after which libcurl
 * drops the login (0.4 s on ProFTPD): so a range is read on to the end of
 * the file while the rest is smaller than what the server sends in the
 * time of a new login.  Bounds: 1 MiB when nothing is measured yet (or a
 * login is cheap), 64 MiB.
 */
#define TAIL_MIN   (1ull << 20)
#define GET_BUFFER (512L << 10)
#define TAIL_MAX   (64ull << 20)

static uint64_t tail_budget(const curl_driver *d)
{
	if (d->login_bytes < TAIL_MIN)
		return TAIL_MIN;
	return d->login_bytes > TAIL_MAX ? TAIL_MAX : d->login_bytes;
}

/* Learn what a login costs from a transfer that made one. */
static void measure_login(curl_driver *d)
{
	long connects = 0;
	curl_off_t pre = 0, total = 0, bytes = 0;
	if (curl_easy_getinfo(d->h, CURLINFO_NUM_CONNECTS, &connects) !=
	            CURLE_OK ||
	    curl_easy_getinfo(d->h, CURLINFO_PRETRANSFER_TIME_T, &pre) !=
	            CURLE_OK ||
	    curl_easy_getinfo(d->h, CURLINFO_TOTAL_TIME_T, &total) !=
	            CURLE_OK ||
	    curl_easy_getinfo(d->h, CURLINFO_SIZE_DOWNLOAD_T, &bytes) !=
	            CURLE_OK)
		return;
	/* a new connection's pretransfer time is its login; the rest of
	 * the transfer its rate (from 1 MiB on: a rate worth the name) */
	if (connects > 0 && bytes >= (curl_off_t)TAIL_MIN && total > pre)
		d->login_bytes = (uint64_t)((double)bytes * (double)pre /
		                            (double)(total - pre));
}

int tier_curl_get(tier_driver *drv, const char *path, uint64_t offset,
                  uint64_t len, tier_sink_cb sink, void *payload)
{
	curl_driver *d = tier_curl_of(drv);
	char range[64];
	int rc = tier_driver_check_path(path, 0);
	CURLcode c;

	if (rc < 0)
		return rc;
	if (len == 0)
		return 0;
	if (offset > (uint64_t)INT64_MAX ||
	    (len != UINT64_MAX && (len > (uint64_t)INT64_MAX - offset)))
		return tier_error_set(TIER_EUSAGE,
		                      "cannot get '%s' on %s: range too large",
		                      path, d->where);
	d->get_sink = sink;
	d->get_payload = payload;
	d->get_left = len;
	d->get_delivered = 0;
	d->get_stopped = 0;
	d->get_enough = 0;
	if ((rc = tier_curl_set_common(d)) < 0 ||
	    (rc = tier_curl_set_url(d, path, 0)) < 0 ||
	    (rc = tier_curl_opt(d, curl_easy_setopt(d->h, CURLOPT_WRITEFUNCTION,
	                                            on_get_data))) < 0 ||
	    (rc = tier_curl_opt(
	             d, curl_easy_setopt(d->h, CURLOPT_WRITEDATA, d))) < 0 ||
	    /* libssh2 keeps as many SFTP reads in flight as this buffer
	     * holds: libcurl's 16 KiB default makes a download wait for
	     * each round trip (the curl tool uses 100 KiB) */
	    (rc = tier_curl_opt(d, curl_easy_setopt(d->h, CURLOPT_BUFFERSIZE,
	                                            GET_BUFFER))) < 0)
		return rc;
	d->get_tail_left = 0;
	if (len != UINT64_MAX && d->proto != PROTO_SFTP) {
		d->get_tail_left = tail_budget(d);
		if (offset)
			rc = tier_curl_opt(
			        d, curl_easy_setopt(d->h,
			                            CURLOPT_RESUME_FROM_LARGE,
			                            (curl_off_t)offset));
	} else if (len != UINT64_MAX) {
		snprintf(range, sizeof(range), "%llu-%llu",
		         (unsigned long long)offset,
		         (unsigned long long)(offset + len - 1));
		rc = tier_curl_opt(
		        d, curl_easy_setopt(d->h, CURLOPT_RANGE, range));
	} else if (offset) {
		rc = tier_curl_opt(
		        d, curl_easy_setopt(d->h, CURLOPT_RESUME_FROM_LARGE,
		                            (curl_off_t)offset));
	}
	if (rc < 0)
		return rc;
	c = tier_curl_perform(d);
	if (c == CURLE_OK && d->proto != PROTO_SFTP)
		measure_login(d);
	if (d->get_stopped)
		return tier_error_set(TIER_EABORTED,
		                      "get '%s' on %s stopped by the receiver",
		                      path, d->where);
	if (c != CURLE_OK && !(c == CURLE_WRITE_ERROR && d->get_enough))
		return tier_curl_fail(d, c, "get", path);
	/* objects are written whole: a short range means a different object */
	if (len != UINT64_MAX && d->get_left > 0)
		return tier_error_set(
		        TIER_ECORRUPT,
		        "'%s' on %s is shorter than the %llu bytes asked for at "
		        "offset %llu (got %llu)",
		        path, d->where, (unsigned long long)len,
		        (unsigned long long)offset,
		        (unsigned long long)d->get_delivered);
	return 0;
}

int tier_curl_exists(curl_driver *d, const char *rel)
{
	tier_stat st;
	int rc = tier_curl_stat(&d->base, rel, &st);
	if (rc == 0)
		return 1;
	if (rc == TIER_ENOTFOUND) {
		tier_error_clear();
		return 0;
	}
	return rc;
}

/* ---- list ------------------------------------------------------------ */

static size_t on_list_data(char *p, size_t size, size_t n, void *ud)
{
	curl_driver *d = ud;
	d->moved = 1;
	if (tier_buf_put(&d->listing, p, size * n) < 0)
		return 0;
	return size * n;
}

static int fetch_listing(curl_driver *d, const char *dir, int names_only)
{
	int rc = tier_curl_set_common(d);
	CURLcode c;
	tier_buf_clear(&d->listing);
	if (rc < 0 || (rc = tier_curl_set_url(d, dir, 1)) < 0 ||
	    (rc = tier_curl_opt(d, curl_easy_setopt(d->h, CURLOPT_WRITEFUNCTION,
	                                            on_list_data))) < 0 ||
	    (rc = tier_curl_opt(
	             d, curl_easy_setopt(d->h, CURLOPT_WRITEDATA, d))) < 0 ||
	    (rc = tier_curl_opt(d, curl_easy_setopt(d->h, CURLOPT_DIRLISTONLY,
	                                            names_only ? 1L : 0L))) < 0)
		return rc;
	c = tier_curl_perform(d);
	if (c != CURLE_OK)
		return tier_curl_fail(d, c, "list", dir);
	return 0;
}

int tier_curl_list(tier_driver *drv, const char *dir, tier_list_cb cb,
                   void *payload)
{
	curl_driver *d = tier_curl_of(drv);
	tier_listing items = TIER_LISTING_INIT;
	int rc = tier_driver_check_path(dir, 1), names_only = 0;
	if (rc < 0)
		return rc;
	if ((rc = fetch_listing(d, dir, 0)) < 0)
		goto out;

	for (;;) {
		rc = curl_parse_listing(d->listing.ptr, d->listing.size,
		                        names_only, time(NULL), &items);
		if (rc < 0)
			goto out;
		if (rc == 0)
			break;
		/* a listing format we do not know: names only (sizes unknown) */
		tier_listing_dispose(&items);
		items = (tier_listing)TIER_LISTING_INIT;
		names_only = 1;
		if ((rc = fetch_listing(d, dir, 1)) < 0)
			goto out;
	}

	rc = tier_listing_deliver(&items, cb, payload, dir, d->where);
out:
	tier_listing_dispose(&items);
	tier_buf_clear(&d->listing);
	return rc;
}
