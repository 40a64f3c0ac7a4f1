/*
 * Small POSIX helpers for local files: the state directory, the file://
 * driver, tests.
 *
 * Every function returns 0 or a negative TIER_E* code with the message set
 * (tier_error_set_errno: "cannot write 'state/tiers': no space left on
 * device").  On failure errno still holds the cause, so a caller with its
 * own idea of what an errno means (the file:// driver: ENOENT under a
 * vanished root is "offline") can classify again.
 */
#ifndef TIER_UTIL_POSIX_H
#define TIER_UTIL_POSIX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/buf.h"

/**
 * Write all of data to fd, going on after short writes and EINTR.
 * what names the file in the message (NULL: "file descriptor N").
 */
int tier_write_all(int fd, const void *data, size_t len, const char *what);

/**
 * Read len bytes at offset off, going on after short reads and EINTR;
 * stops early only at the end of the file.  *got receives the number of
 * bytes read (may be NULL when the caller only accepts a full read, in
 * which case a short read is TIER_ECORRUPT "'what' is truncated").
 */
int tier_pread_all(int fd, void *buf, size_t len, uint64_t off, size_t *got,
                   const char *what);

/** Milliseconds of CLOCK_MONOTONIC: for deadlines and durations, never dates. */
int64_t tier_now_ms(void);

/** fsync() a directory so that a rename or create in it is durable. */
int tier_fsync_dir(const char *dir);

/** fsync() the directory holding path. */
int tier_fsync_parent(const char *path);

/**
 * mkdir -p: create path and any missing parents with mode (before umask).
 * An existing directory is fine; an existing non-directory is
 * TIER_ECONFLICT.  The parent of each created directory is fsynced.
 */
int tier_mkdir_p(const char *path, mode_t mode);

/**
 * rm -rf: remove path and everything under it, never following symlinks.
 * A missing path is success.
 */
int tier_rm_rf(const char *path);

/**
 * Replace path with data atomically: write a temp file in the same
 * directory, fsync it, rename it over path, fsync the directory.  Readers
 * see the old content or the new one, never a part.  The new file gets
 * mode 0666 minus umask (tier_atomic_write_mode for anything else, e.g.
 * 0600 for a file holding credentials).  The directory must exist.
 */
int tier_atomic_write(const char *path, const void *data, size_t len);
int tier_atomic_write_mode(const char *path, const void *data, size_t len,
                           mode_t mode);

/**
 * Read a whole file into out (replacing its content).  A file longer than
 * max_len (0: no limit) is TIER_ECORRUPT; a missing one TIER_ENOTFOUND.
 */
int tier_read_file(tier_buf *out, const char *path, size_t max_len);

/**
 * A temp name beside path: "<path>.tmp-<pid>-<16 hex digits>".  The random
 * part makes a clash unlikely; callers still create with O_EXCL.
 */
int tier_temp_name(tier_buf *out, const char *path);

/** Whether a file name (no directory) looks like one made by tier_temp_name. */
int tier_is_temp_name(const char *name);

/** Sleep ms milliseconds (restarting after signals). */
void tier_sleep_ms(unsigned int ms);

#endif
