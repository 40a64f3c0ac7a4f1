/*
 * tier_snap_name_decode / _encode: a tree entry name from a tier.  Every
 * name decode accepts is one path component (no '/', NUL, '.', '..',
 * never empty) and is the canonical encoding of what it decodes to; and
 * any byte string without '/' and NUL encodes to a name that decodes back
 * to it.
 */
#include "fuzz.h"

#include "snapshot.h"
#include "util/error.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *entry = fuzz_cstr(data, size);
	tier_buf dec = TIER_BUF_INIT, enc = TIER_BUF_INIT, back = TIER_BUF_INIT;
	int rc;

	/* as an entry name (up to the first NUL, as git stores it) */
	rc = tier_snap_name_decode(&dec, NULL, entry);
	FUZZ_CHECK(rc == 0 || rc == TIER_ECORRUPT || rc == TIER_ERROR);
	if (rc == 0) {
		FUZZ_CHECK(dec.size > 0);
		FUZZ_CHECK(!memchr(dec.ptr, '/', dec.size));
		FUZZ_CHECK(!memchr(dec.ptr, '\0', dec.size));
		FUZZ_CHECK(strcmp(dec.ptr, ".") && strcmp(dec.ptr, ".."));
		FUZZ_CHECK(tier_snap_name_encode(&enc, NULL, dec.ptr,
		                                 dec.size) == 0);
		FUZZ_CHECK(!strcmp(tier_buf_cstr(&enc), entry));
	} else {
		FUZZ_CHECK(dec.size == 0);
	}

	/* as a file name: every byte string but '/' and NUL round-trips */
	if (size && !memchr(data, '/', size) && !memchr(data, '\0', size) &&
	    !(size == 1 && data[0] == '.') &&
	    !(size == 2 && data[0] == '.' && data[1] == '.')) {
		FUZZ_CHECK(tier_snap_name_encode(&enc, NULL, (const char *)data,
		                                 size) == 0);
		FUZZ_CHECK(strlen(enc.ptr) == enc.size);
		FUZZ_CHECK(tier_snap_name_decode(&back, NULL, enc.ptr) == 0);
		FUZZ_CHECK(back.size == size && !memcmp(back.ptr, data, size));
	}
	tier_buf_dispose(&dec);
	tier_buf_dispose(&enc);
	tier_buf_dispose(&back);
	tier_error_clear();
	free(entry);
	return 0;
}
