#include "tier.h"

const char *tier_version(void)
{
	return TIER_VERSION;
}
