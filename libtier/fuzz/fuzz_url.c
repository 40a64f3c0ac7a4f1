/*
 * tier_url_parse (url.c): a tier URL as a user, a config file or a
 * foreign installation's state gives it.  Parsing (libcurl's URL API, no
 * network) returns 0 or TIER_EUSAGE/TIER_ERROR; a parsed URL is complete,
 * its redacted text never shows the password and parses again, and a
 * copy is equal.
 */
#include "fuzz.h"

#include "driver/curl_impl.h"
#include "driver/s3_impl.h"
#include "tier/location.h"
#include "util/error.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	return 0;
}

static size_t count(const char *hay, const char *needle)
{
	size_t c = 0;
	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		c++;
	return c;
}

/* v as the shown URL spells part: libcurl's encoding (a malloc'd copy). */
static char *spelled(CURLUPart part, const char *v)
{
	CURLU *h = curl_url();
	char *s = NULL, *out;
	if (!h)
		abort();
	if (v && !curl_url_set(h, part, v, CURLU_URLENCODE))
		curl_url_get(h, part, &s, 0);
	curl_url_cleanup(h);
	out = strdup(s ? s : "");
	curl_free(s);
	if (!out)
		abort();
	return out;
}

static int same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

static void same_url(const tier_url *a, const tier_url *b)
{
	FUZZ_CHECK(same(a->name, b->name) && same(a->scheme, b->scheme) &&
	           same(a->user, b->user) && same(a->password, b->password) &&
	           same(a->host, b->host) && a->port == b->port &&
	           same(a->path, b->path) && same(a->query, b->query) &&
	           same(a->fault_control, b->fault_control));
	FUZZ_CHECK(!a->inner == !b->inner);
	if (a->inner)
		same_url(a->inner, b->inner);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *spec = fuzz_cstr(data, size);
	tier_url *u = NULL, *copy = NULL, *again = NULL;
	int rc = tier_url_parse(&u, spec);

	FUZZ_CHECK(rc == 0 || rc == TIER_EUSAGE || rc == TIER_ERROR);
	FUZZ_CHECK((rc == 0) == (u != NULL));
	if (rc < 0)
		FUZZ_CHECK(strlen(tier_error_last()) > 0);
	if (u) {
		char *shown = tier_url_redacted(u);
		FUZZ_CHECK(u->name && u->scheme);
		FUZZ_CHECK(!strcmp(u->scheme, "fault") == (u->inner != NULL));
		/* a fault+ URL's path is its inner URL's */
		FUZZ_CHECK(u->inner ? u->inner->path != NULL : u->path != NULL);
		FUZZ_CHECK(shown != NULL);
		if (u->password && strlen(u->password) >= 4 &&
		    strspn(u->password,
		           "abcdefghijklmnopqrstuvwxyz"
		           "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") ==
		            strlen(u->password)) {
			/* the password shows only where another part, as is
			 * or as the shown URL encodes it ("%20Fileice" holds
			 * "0Fileice"), holds the same letters */
			const tier_url *in = u->inner ? u->inner : u;
			char *euser = spelled(CURLUPART_USER, in->user);
			char *epath = spelled(CURLUPART_PATH, in->path);
			size_t n = strlen(shown) * 2 + strlen(euser) +
			           strlen(epath) + 8;
			char *others = malloc(n);
			if (!others)
				abort();
			snprintf(others, n, "%s\1%s\1%s\1%s\1%s\1%s",
			         in->user ? in->user : "",
			         in->host ? in->host : "",
			         in->path ? in->path : "",
			         in->query ? in->query : "", euser, epath);
			free(euser);
			free(epath);
			FUZZ_CHECK(count(shown, in->password) <=
			           count(others, in->password) +
			                   count(u->fault_control
			                                 ? u->fault_control
			                                 : "",
			                         in->password));
			free(others);
		}
		/* the drivers' own options, as they read them at open */
		const tier_url *in = u->inner ? u->inner : u;
		if (in->query && !strcmp(in->scheme, "s3")) {
			s3_query q;
			if (s3_query_parse(&q, in->query, "fuzz") == 0)
				s3_query_dispose(&q);
		} else if (in->query) {
			curl_query q;
			if (curl_query_parse(&q, in->query,
			                     !strcmp(in->scheme, "sftp"),
			                     "fuzz") == 0)
				curl_query_dispose(&q);
		}
		FUZZ_CHECK(tier_url_dup(&copy, u) == 0);
		same_url(u, copy);
		/* what we show can be given back (a password as '***') */
		rc = tier_url_parse(&again, shown);
		if (rc != 0) {
			fprintf(stderr,
			        "redacted '%s' of '%s' does not parse: %s\n",
			        shown, spec, tier_error_last());
			FUZZ_CHECK(rc == 0);
		}
		tier_url_free(again);
		tier_url_free(copy);
		free(shown);
		tier_url_free(u);
	}
	tier_error_clear();
	free(spec);
	return 0;
}
