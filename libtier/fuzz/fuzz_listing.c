/*
 * An FTP/SFTP directory listing as a server sends it, parsed by the curl
 * driver's own curl_parse_listing (curl_parse.c, line by line with
 * curl_parse_ls_line), then sorted by listing.c: "ls -l" lines of
 * vsftpd, pure-ftpd, ProFTPD and OpenSSH, or names only.  Every name
 * handed on is never empty, and the listing comes out sorted.
 */
#include "fuzz.h"

#include "driver/curl_impl.h"
#include "driver/listing.h"
#include "util/error.h"
#include "util/posix.h"

/* a fixed "now": a date without a year resolves the same every run */
#define NOW ((time_t)1700000000)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	return 0;
}

typedef struct {
	char *last;
	size_t n;
} seen;

static int on_item(const char *name, const tier_stat *st, void *payload)
{
	seen *s = payload;
	FUZZ_CHECK(name && *name);
	FUZZ_CHECK(!s->last || strcmp(s->last, name) <= 0);
	free(s->last);
	s->last = strdup(name);
	s->n++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* one byte more: the driver's listing buffer is NUL-terminated */
	char *buf = fuzz_cstr(data, size);
	tier_listing items = TIER_LISTING_INIT;
	seen s = {NULL, 0};
	int unparsed = curl_parse_listing(buf, size, 0, NOW, &items);
	FUZZ_CHECK(unparsed >= 0);

	if (unparsed) {
		/* the driver asks again for names only (NLST) */
		tier_listing_dispose(&items);
		items = (tier_listing)TIER_LISTING_INIT;
		memcpy(buf, data, size);
		FUZZ_CHECK(curl_parse_listing(buf, size, 1, NOW, &items) == 0);
	}
	FUZZ_CHECK(tier_listing_deliver(&items, on_item, &s, "dir", "fuzz") ==
	           0);
	FUZZ_CHECK(s.n == items.items.length);
	free(s.last);
	tier_listing_dispose(&items);
	tier_error_clear();
	free(buf);
	return 0;
}
