/*
 * Opening the vault the way every tool does: from -s/TIER_STATE_DIR and
 * -t, with the common retry options, reporting each tier that is away.
 */
#ifndef TOOL_SESSION_H
#define TOOL_SESSION_H

#include <stdint.h>

#include <jansson.h>

#include "opt.h"
#include "tier.h"

/** What the tool needs of the vault. */
enum tool_access {
	TOOL_READ =
	        0, /**< an installation or -t tiers alone (restore, log, status, fsck) */
	TOOL_WRITE = 1, /**< an installation that may write (push, sync) */
};

/**
 * Open the vault and run the start-of-tool checks (R5 probe, R8).  Returns
 * 0, or a libtier code with the message set (tool_fail() prints it).  With
 * check=0 the R8 verdict is left to the caller (tier-status shows it).
 */
int tool_vault_open(tier_vault **out, const struct tool_common *c,
                    enum tool_access access, int check);

/**
 * For writing tools: how long a write waits for a tier when none can take
 * it (R3); -1 (TIER_DEFAULT_WAIT_TIMEOUT_MS, the default) for ever, as
 * --wait-timeout is absent.
 */
void tool_vault_set_wait(int64_t ms);

/** tier-push: announce the write before probing (a running sync stops at once, R7). */
void tool_vault_set_intend_write(int on);

/** Warn on stderr about every tier that is offline or not usable. */
void tool_vault_report(const tier_vault *v);

/** Human size: "1.2 MiB". */
const char *tool_size(uint64_t bytes, char buf[32]);

/** The per-tier outcome of a write as JSON ([{"name","result","error"?}]). */
json_t *tool_write_result_json(const tier_write_result *r);
/** Print "tier 'x' skipped (offline): ..." warnings for a write. */
void tool_write_result_report(const tier_write_result *r);

#endif
