/*
 * An FTP/SFTP directory listing as a server sends it, parsed line by line
 * the way the curl driver's list does (curl_parse_ls_line in
 * curl_parse.c, then the sorted listing of listing.c): "ls -l" lines of
 * vsftpd, pure-ftpd, ProFTPD and OpenSSH, or names only.  Every name
 * handed on is inside its line, never empty, and the listing comes out
 * sorted.
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

/* As cd_list: returns 1 when a line is in no known format. */
static int list(char *buf, size_t size, int names_only, tier_listing *items)
{
	char *p = buf, *end = buf + size;
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char *line_end = nl ? nl : end;
		char *next = nl ? nl + 1 : end;
		const char *name = NULL;
		tier_stat st;
		if (line_end > p && line_end[-1] == '\r')
			line_end--;
		*line_end = '\0';
		memset(&st, 0, sizeof(st));
		if (!*p || (!names_only && !strncmp(p, "total ", 6))) {
			p = next;
			continue;
		}
		if (names_only)
			name = p;
		else if (curl_parse_ls_line(p, &name, &st, NOW) < 0)
			return 1;
		FUZZ_CHECK(name >= p && name < line_end + 1);
		FUZZ_CHECK(strlen(name) <= (size_t)(line_end - name));
		if (!names_only)
			FUZZ_CHECK(*name);
		if (*name && strcmp(name, ".") && strcmp(name, "..") &&
		    !tier_is_temp_name(name))
			FUZZ_CHECK(tier_listing_add(items, name, strlen(name),
			                            &st) == 0);
		p = next;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* one byte more: the driver's listing buffer is NUL-terminated */
	char *buf = fuzz_cstr(data, size);
	tier_listing items = TIER_LISTING_INIT;
	seen s = {NULL, 0};
	int unparsed = list(buf, size, 0, &items);

	if (unparsed) {
		/* the driver asks again for names only (NLST) */
		tier_listing_dispose(&items);
		items = (tier_listing)TIER_LISTING_INIT;
		memcpy(buf, data, size);
		list(buf, size, 1, &items);
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
