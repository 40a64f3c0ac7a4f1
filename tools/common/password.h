/*
 * Where a tool gets the vault's password (SPEC section 8), first found
 * wins: --password-file, --password-command, $TIER_PASSWORD_FILE,
 * $TIER_PASSWORD, else a prompt on the terminal without echo.  With none
 * and no terminal: TIER_EUSAGE (exit 2) with one line.
 */
#ifndef TOOL_PASSWORD_H
#define TOOL_PASSWORD_H

#include <stddef.h>

#include "opt.h"

/** tier_password_cb for tool_vault_open; payload: the tool_common. */
int tool_password(char **out, size_t *len, void *payload);

/**
 * A new password (tier-init, tier-key add/passwd): from file or cmd when
 * given, else (common=1) the common sources, else a terminal that asks
 * twice.  what names the options in the "no source" message.
 */
int tool_password_new(char **out, size_t *len, const char *file,
                      const char *cmd, const struct tool_common *common,
                      const char *what);

#endif
