/*
 * Internals of the file:// driver, shared by file.c (open, free, errors,
 * paths, the operations) and file_put.c (the atomic put).
 */
#ifndef TIER_DRIVER_FILE_INT_H
#define TIER_DRIVER_FILE_INT_H

#include <stddef.h>
#include <sys/types.h>

#include "driver/drivers.h"
#include "util/buf.h"

typedef struct {
	tier_driver base;
	char *root; /* absolute, no trailing '/' (except "/" itself) */
	int shared; /* -1 not known yet, 0 private, 1 root is set-group-ID */
	uint64_t max_send, max_recv; /* bytes/s per transfer, 0: no cap */
} file_driver;

#define PRIVATE_DIR_MODE  0700
#define PRIVATE_FILE_MODE 0600
#define SHARED_DIR_MODE   02750 /* keeps the set-group-ID bit going down */
#define SHARED_FILE_MODE  0640

static inline file_driver *tier_file_of(tier_driver *drv)
{
	return (file_driver *)drv;
}

/** Whether the root says "shared with my group"; asked once per driver. */
int tier_file_is_shared(file_driver *f);
/** The mode of a new object: 0600, or 0640 in a shared vault. */
mode_t tier_file_mode(file_driver *f);
/**
 * The tier code of errno e after a failed call on rel, with the message
 * "cannot <verb> '<rel>' in '<root>'": only the transient ones are
 * TIER_EOFFLINE, and ENOENT is TIER_EOFFLINE when the root is gone.
 */
int tier_file_fail(file_driver *f, int e, const char *verb, const char *rel);
/** The local path of rel (root itself for ""). */
int tier_file_path(tier_buf *out, file_driver *f, const char *rel);
/** Create the directories of rel below the root (prefix_len bytes of rel). */
int tier_file_make_dirs(file_driver *f, const char *rel, size_t prefix_len);
/** Length of the directory part of rel ("a/b/c" -> 3), 0 for a bare name. */
size_t tier_file_dir_len(const char *rel);
/** fsync the directory that holds rel. */
int tier_file_sync_dir_of(file_driver *f, const char *rel);

/** The driver's put (file_put.c). */
int tier_file_put(tier_driver *drv, const char *path, const tier_source *src,
                  unsigned int flags);

#endif
