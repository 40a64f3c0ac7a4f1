#include "driver/drivers.h"

#include <string.h>

#include "util/error.h"

/*
 * Paths come from the engine, but a ".." would escape the tier, an empty
 * part would name a key no other tier kind can name, and a CR or LF would
 * inject a command into an FTP control connection: every driver refuses them.
 */
int tier_driver_check_path(const char *rel, int allow_root)
{
	if (!rel || (!*rel && !allow_root))
		return tier_error_set(TIER_EUSAGE, "empty tier path");
	if (rel[0] == '/')
		return tier_error_set(TIER_EUSAGE,
		                      "tier path '%s' is not relative", rel);
	for (const char *p = rel; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return tier_error_set(
			        TIER_EUSAGE,
			        "tier path has a control character");
	for (const char *p = rel; *p;) {
		size_t n = strcspn(p, "/");
		if (n == 0 || (n == 1 && p[0] == '.') ||
		    (n == 2 && p[0] == '.' && p[1] == '.'))
			return tier_error_set(TIER_EUSAGE, "bad tier path '%s'",
			                      rel);
		p += n;
		if (*p == '/' && !*++p)
			return tier_error_set(TIER_EUSAGE, "bad tier path '%s'",
			                      rel);
	}
	return 0;
}
