#include "driver/curl_util.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "tier/errors.h"
#include "util/error.h"
#include "util/posix.h"

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int tier_curl_global_init(void)
{
	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK)
		return tier_error_set(TIER_ERROR, "libcurl cannot start: %s",
		                      curl_easy_strerror(global_rc));
	return 0;
}

void tier_curl_upload_start(tier_curl_upload *u, const tier_source *src,
                            uint64_t base, uint64_t len)
{
	memset(u, 0, sizeof(*u));
	u->src = src;
	u->base = base;
	u->len = len;
}

size_t tier_curl_on_read(char *p, size_t size, size_t n, void *upload)
{
	tier_curl_upload *u = upload;
	const tier_source *src = u->src;
	size_t want = size * n;
	u->moved = 1;
	if (u->pos >= u->len)
		return 0;
	if (want > u->len - u->pos)
		want = (size_t)(u->len - u->pos);
	if (src->data) {
		memcpy(p, (const char *)src->data + u->base + u->pos, want);
	} else {
		size_t got = 0;
		if (tier_pread_all(src->fd, p, want, u->base + u->pos, &got,
		                   "upload source") < 0 ||
		    got == 0) {
			u->read_errno = errno ? errno : EIO;
			return CURL_READFUNC_ABORT;
		}
		want = got;
	}
	u->pos += want;
	return want;
}

int tier_curl_on_seek(void *upload, curl_off_t off, int origin)
{
	tier_curl_upload *u = upload;
	if (origin != SEEK_SET || off < 0 || (uint64_t)off > u->len)
		return CURL_SEEKFUNC_CANTSEEK;
	u->pos = (uint64_t)off;
	return CURL_SEEKFUNC_OK;
}
