/*
 * The installation's config, <state>/config, in git-config syntax (SPEC
 * section 9).  Read and written with libgit2's config API, so
 * `git config -f <state>/config --list` reads it too.  Every key is in
 * the table below with its type; a key not in the table, or a value its
 * type refuses, is an error (TIER_EUSAGE) both when it is set and when
 * the file is read, naming the key and the file.
 */
#ifndef TIER_CONFIG_H
#define TIER_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "tier/common.h"

/** How a key's value is spelled and checked. */
typedef enum {
	TIER_CONFIG_STRING = 0, /**< any text */
	TIER_CONFIG_MULTI, /**< any text, the key may be given many times */
	TIER_CONFIG_BOOL, /**< git's booleans: true/false, yes/no, on/off, 1/0 */
	TIER_CONFIG_INT,  /**< a decimal integer >= 0 */
	/** bytes: a number with an optional K, M, G or T suffix (powers of
	 *  1024, an optional trailing "B" or "iB"): "10M", "512K", "1G" */
	TIER_CONFIG_SIZE,
	/** bytes per second: spelled as a size ("1M" = 1 MiB/s) */
	TIER_CONFIG_RATE,
	/** seconds: a bare number, or a sum of 500ms, 30s, 5m, 2h, 1d */
	TIER_CONFIG_DURATION,
	/** restic's --keep-within: a sum of Ny Nm (months) Nd Nh, "2y5m7d3h" */
	TIER_CONFIG_SPAN,
	TIER_CONFIG_PERCENT, /**< 0..100, with or without a trailing "%" */
} tier_config_type;

/** One known key.  Per-tier keys are spelled "tier.*.limitUpload". */
typedef struct {
	const char *name; /**< as git prints it: "push.excludelargerthan" is
	                       matched case-insensitively */
	tier_config_type type;
	const char *help; /**< one line, lowercase */
} tier_config_key;

/** The table of known keys (static); *count gets its length. */
TIER_EXTERN const tier_config_key *tier_config_keys(size_t *count);

/** The entry of a key ("tier.fast.limitUpload" finds "tier.*.limitUpload"),
 *  or NULL when the key is unknown. */
TIER_EXTERN const tier_config_key *tier_config_key_find(const char *name);

/** The name of a type: "string", "multi", "bool", "int", "size"... */
TIER_EXTERN const char *tier_config_type_name(tier_config_type type);

/**
 * Check one value against a key's type.  Returns 0, or TIER_EUSAGE with
 * "config key 'K': bad size 'V' ..." (unknown key: "unknown config key").
 */
TIER_EXTERN int tier_config_check(const char *name, const char *value);

typedef struct tier_config tier_config;

/**
 * Read <state_dir>/config (a missing file is an empty config) and check
 * every entry.  Returns 0; TIER_EUSAGE for a syntax error (libgit2's
 * message, with the file and line), an unknown key or a bad value (naming
 * the key and the file); TIER_ERROR when it cannot be read.
 */
TIER_EXTERN int tier_config_open(tier_config **out, const char *state_dir);
TIER_EXTERN void tier_config_free(tier_config *cfg);

/** The path of the file read (borrowed). */
TIER_EXTERN const char *tier_config_path(const tier_config *cfg);

/*
 * Typed reads.  Each returns 0 with *out set, TIER_ENOTFOUND when the key
 * is not set (*out untouched: the caller's default stays), TIER_EUSAGE for
 * a key of another type.  For a key given many times the last value wins.
 * Strings are borrowed from cfg.
 */
TIER_EXTERN int tier_config_get_string(const char **out, const tier_config *cfg,
                                       const char *name);
TIER_EXTERN int tier_config_get_bool(int *out, const tier_config *cfg,
                                     const char *name);
TIER_EXTERN int tier_config_get_int(int64_t *out, const tier_config *cfg,
                                    const char *name);
/** SIZE, RATE (bytes or bytes/s) and PERCENT keys. */
TIER_EXTERN int tier_config_get_size(uint64_t *out, const tier_config *cfg,
                                     const char *name);
/** DURATION and SPAN keys, in seconds (a month is 30 days, a year 365). */
TIER_EXTERN int tier_config_get_seconds(uint64_t *out, const tier_config *cfg,
                                        const char *name);

/** Called for each value of a multi-valued key, in file order; non-zero
 *  stops the walk and is returned. */
typedef int (*tier_config_value_cb)(const char *value, void *payload);
/** Every value of a key (TIER_ENOTFOUND when none). */
TIER_EXTERN int tier_config_get_multi(const tier_config *cfg, const char *name,
                                      tier_config_value_cb cb, void *payload);

/** Called for each entry, in file order. */
typedef int (*tier_config_entry_cb)(const char *name, const char *value,
                                    void *payload);
/** Every entry of the file, names as git normalises them (lowercase
 *  section and key, subsection kept). */
TIER_EXTERN int tier_config_foreach(const tier_config *cfg,
                                    tier_config_entry_cb cb, void *payload);

/*
 * Writes.  Each checks the key and value first (nothing is written on an
 * error), creates the file when missing, and leaves it mode 0600.
 */
/** Set a key, replacing every value it had. */
TIER_EXTERN int tier_config_set(const char *state_dir, const char *name,
                                const char *value);
/** Add one more value to a multi-valued key (TIER_EUSAGE for others). */
TIER_EXTERN int tier_config_add(const char *state_dir, const char *name,
                                const char *value);
/** Remove every value of a key; TIER_ENOTFOUND when it was not set. */
TIER_EXTERN int tier_config_unset(const char *state_dir, const char *name);

/* Parsers of the value syntaxes, for tools whose flags take the same. */
/** "10M" -> 10485760; TIER_EUSAGE (no message) when malformed. */
TIER_EXTERN int tier_config_parse_size(uint64_t *out, const char *text);
/** "5m" -> 300, "90" -> 90. */
TIER_EXTERN int tier_config_parse_duration(uint64_t *out, const char *text);
/** "2y5m7d3h" -> seconds. */
TIER_EXTERN int tier_config_parse_span(uint64_t *out, const char *text);

#endif
