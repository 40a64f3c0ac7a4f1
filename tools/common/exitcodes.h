/*
 * Exit codes of the tier-* tools: exactly SPEC section 5, documented for
 * users in docs/exit-codes.md.  Scripts depend on these numbers: never
 * renumber one, only add.
 */
#ifndef TOOL_EXITCODES_H
#define TOOL_EXITCODES_H

/** Success (a push that skipped offline tiers is still a success). */
#define TOOL_EXIT_OK 0
/** Any error not listed below; the message on stderr says what. */
#define TOOL_EXIT_ERROR 1
/** Bad command line, bad URL or bad configuration. */
#define TOOL_EXIT_USAGE 2
/** Another installation is writing to this vault (R8). */
#define TOOL_EXIT_FOREIGN 3
/** A tier is behind what this installation wrote there (R8). */
#define TOOL_EXIT_ROLLEDBACK 4
/** tier-fsck found damage. */
#define TOOL_EXIT_DAMAGE 5
/** Interrupted; running the tool again resumes (e.g. a sync aborted by a write). */
#define TOOL_EXIT_INTERRUPTED 6
/** tier-status found a tier offline or behind. */
#define TOOL_EXIT_DEGRADED 7
/** tier-push: the revision was written, but some source files could not
 *  be read (each is named on stderr and in --json). */
#define TOOL_EXIT_PARTIAL 8
/** Gave up waiting for a tier (--wait-timeout); EX_TEMPFAIL of sysexits.h. */
#define TOOL_EXIT_TIMEOUT 75

/**
 * The exit code for a negative TIER_E* code from libtier (0 for 0).
 * TIER_ECORRUPT maps to 1, not 5: only tier-fsck decides that what it
 * found is "damage" and returns TOOL_EXIT_DAMAGE itself.
 */
int tool_exit_from_error(int tier_code);

/**
 * A short description of an exit code, as printed in the EXIT STATUS
 * section of --help ("another installation is writing to this vault").
 * NULL for a code that is not in the table above.
 */
const char *tool_exit_meaning(int exit_code);

#endif
