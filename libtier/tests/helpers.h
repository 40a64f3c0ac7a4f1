/* Shared helpers for the Criterion unit tests: a fresh temp dir per test. */
#ifndef TIER_TEST_HELPERS_H
#define TIER_TEST_HELPERS_H

#include <stddef.h>

/** Create a fresh empty directory under $TMPDIR (or /tmp); static storage. */
const char *tt_tmpdir(void);
/** Remove a tree (rm -rf). */
void tt_rmrf(const char *path);
/** Join into a static rotating buffer: tt_path("%s/x", dir). */
const char *tt_path(const char *fmt, ...);
int tt_write_file(const char *path, const void *data, size_t len);
/** Read a whole file; caller frees; NULL if missing. */
char *tt_read_file(const char *path, size_t *len);
/** Run a shell command, return its exit status (or -1). */
int tt_sh(const char *fmt, ...);

#endif
