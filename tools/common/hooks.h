/*
 * Pre/post scripts of a tool (SPEC section 9): hooks.prePush and
 * hooks.postPush of <state>/config, run with /bin/sh -c in a process group
 * of their own, their output (stdout too) on the tool's stderr, killed
 * with their whole group at hooks.timeout.
 */
#ifndef TOOL_HOOKS_H
#define TOOL_HOOKS_H

#include <stdint.h>

/** Default of hooks.timeout, in seconds (docs/hooks.md). */
#define TOOL_HOOK_TIMEOUT_S 3600

struct tool_hooks {
	char *pre;  /**< hooks.prePush, or NULL */
	char *post; /**< hooks.postPush, or NULL */
	uint64_t timeout_s;
	char *vault_id;  /**< vault.id of the config, for TIER_VAULT */
	char *state_dir; /**< for TIER_STATE_DIR */
};

/**
 * Read the hooks of the installation at state_dir (NULL: none).  Returns
 * 0, or the exit code after printing the config's error (2: bad config).
 */
int tool_hooks_load(struct tool_hooks *h, const char *state_dir);
void tool_hooks_dispose(struct tool_hooks *h);

/**
 * Run one hook (key "hooks.prePush", its command cmd) with TIER_VAULT,
 * TIER_STATE_DIR, TIER_HOOK and, when not NULL, TIER_REVISION and
 * TIER_RESULT in its environment.  Returns 0 when it exited 0, else the
 * tool's exit code after a one-line error: 1 (non-zero exit, killed by a
 * signal, timed out), 6 (the tool was interrupted: the hook is killed).
 */
int tool_hook_run(const struct tool_hooks *h, const char *key, const char *cmd,
                  const char *revision, const char *result);

#endif
