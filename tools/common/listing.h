/*
 * What tier-ls and tier-find print of a snapshot entry: the ls -l line
 * and the JSON object (docs/schema/tier-ls.json, "entry"), and opening a
 * revision for browsing with its damage warnings on stderr.
 */
#ifndef TOOL_LISTING_H
#define TOOL_LISTING_H

#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "tier.h"

/** Open revision rev (0: the newest) of v; warnings go to stderr. */
int tool_browse_open(tier_browse **out, tier_vault *v, uint64_t rev);

/** "drwxr-xr-x", "-rw-r--r--", "lrwxrwxrwx"...; "d?????????" without metadata. */
const char *tool_mode_string(const tier_browse_entry *e, char buf[11]);

/**
 * One ls -l line on stdout: mode, uid, gid, size, mtime (TZ), then shown
 * (quoted as tool_q quotes) and for a symlink " -> target".
 */
void tool_entry_line(const tier_browse_entry *e, const char *shown);

/** {"path", "name", "type", "mode", "uid", "gid", "size", "mtime", ...}. */
json_t *tool_json_entry(const tier_browse_entry *e);

/** Parse a revision number argument; 0 and a usage message on failure. */
int tool_parse_revision(const char *s, uint64_t *out);

#endif
