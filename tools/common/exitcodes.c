#include "exitcodes.h"

#include <stddef.h>

#include "tier/errors.h"

int tool_exit_from_error(int tier_code)
{
	switch (tier_code) {
	case TIER_OK:
		return TOOL_EXIT_OK;
	case TIER_EUSAGE:
		return TOOL_EXIT_USAGE;
	case TIER_EFOREIGN:
		return TOOL_EXIT_FOREIGN;
	case TIER_EROLLEDBACK:
		return TOOL_EXIT_ROLLEDBACK;
	case TIER_EABORTED:
		return TOOL_EXIT_INTERRUPTED;
	case TIER_ETIMEOUT:
		return TOOL_EXIT_TIMEOUT;
	default:
		/* Includes TIER_ECORRUPT: damage is tier-fsck's verdict. */
		return TOOL_EXIT_ERROR;
	}
}

const char *tool_exit_meaning(int exit_code)
{
	switch (exit_code) {
	case TOOL_EXIT_OK:
		return "success";
	case TOOL_EXIT_ERROR:
		return "error (the message on stderr says what)";
	case TOOL_EXIT_USAGE:
		return "bad command line, tier URL or configuration";
	case TOOL_EXIT_FOREIGN:
		return "another installation is writing to this vault";
	case TOOL_EXIT_ROLLEDBACK:
		return "a tier was rolled back behind this installation";
	case TOOL_EXIT_DAMAGE:
		return "damage found";
	case TOOL_EXIT_INTERRUPTED:
		return "interrupted; run again to resume";
	case TOOL_EXIT_DEGRADED:
		return "a tier is offline or behind";
	case TOOL_EXIT_PARTIAL:
		return "revision written, some source files could not be read";
	case TOOL_EXIT_TIMEOUT:
		return "gave up waiting for a tier (--wait-timeout)";
	}
	return NULL;
}
