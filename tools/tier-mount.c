/*
 * tier-mount: every kept revision of the vault as a read-only file system
 * (FUSE 3), over the library's virtual drive (tier/drive.h).  This file is
 * the FUSE glue alone: paths to drive calls, libtier codes to errno.
 */
#define FUSE_USE_VERSION 31

#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "exitcodes.h"
#include "opt.h"
#include "output.h"
#include "session.h"

static int opt_foreground, opt_allow_other;
static uint64_t opt_cache_size;
static const char *opt_cache_dir;

static const struct tool_opt options[] = {
        TOOL_FLAG('f', "foreground", &opt_foreground,
                  "stay in the foreground (messages on stderr) until "
                  "unmounted or interrupted; else detach once mounted "
                  "(messages to syslog)"),
        TOOL_FLAG(0, "allow-other", &opt_allow_other,
                  "let other users read the drive (FUSE allow_other: root, "
                  "or user_allow_other in /etc/fuse.conf); the modes and "
                  "owners backed up decide who may read what"),
        TOOL_SIZE(0, "cache-size", "SIZE", &opt_cache_size, 1024 * 1024, 0,
                  "bytes of chunks to keep on disk (256M, 2G); default: "
                  "mount.cacheSize, else 256M"),
        TOOL_STRING(0, "cache-dir", "DIR", &opt_cache_dir,
                    "make the chunk cache in DIR (default: $TMPDIR or /tmp); "
                    "it is removed at unmount"),
        TOOL_OPTS_END,
};

static const struct tool_exit_doc exits[] = {
        {TOOL_EXIT_OK, "unmounted (fusermount3 -u, SIGINT or SIGTERM)"},
        {TOOL_EXIT_ERROR,
         "error, e.g. the history cannot be read from any tier, FUSE "
         "cannot mount on MOUNTPOINT, or the cache cannot be made"},
        {TOOL_EXIT_FOREIGN, NULL},
        {TOOL_EXIT_ROLLEDBACK, NULL},
        TOOL_EXITS_END,
};

static const struct tool_def def = {
        .name = "tier-mount",
        .args = "MOUNTPOINT",
        .description =
                "Show the vault as a read-only file system on MOUNTPOINT (an empty "
                "directory): revisions/N/<the paths as backed up> for every push revision "
                "not forgotten, latest -> revisions/N for the newest, archive/NAME for each "
                "archive in force, tags/TAG/N for each tag.  Modes, owners, sizes, mtimes "
                "and symlinks are those backed up.  A file's bytes are read when read, chunk "
                "by chunk, from the first online tier that holds them (R2, per chunk: damage "
                "or a tier that fails is read around and reported), through a bounded chunk "
                "cache, with readahead for readers in order.  The history is read once, at "
                "mount.  Unmount with fusermount3 -u MOUNTPOINT, or SIGINT/SIGTERM.  Works "
                "with an installation (-s) or with only -t URL.",
        .options = options,
        .min_args = 1,
        .max_args = 1,
        .exits = exits,
};

static tier_drive *drive;
static int detached;

/* A message from inside the mount: stderr while in the foreground, else
 * syslog (stderr is /dev/null once detached). */
static void say(int prio, const char *fmt, ...) TOOL_PRINTF(2, 3);
static void say(int prio, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (detached)
		syslog(prio, "%s", msg);
	else if (prio <= LOG_ERR)
		tool_error("%s", msg);
	else
		tool_warning("%s", msg);
}

static void on_warning(const char *msg, void *payload)
{
	(void)payload;
	say(LOG_WARNING, "%s", msg);
}

/* libtier code -> errno; conflict is what the call says it is. */
static int to_errno(int rc, int conflict)
{
	switch (rc) {
	case TIER_ENOTFOUND:
		return -ENOENT;
	case TIER_ECONFLICT:
		return -conflict;
	case TIER_EUSAGE:
		return -EINVAL;
	default: /* offline, damaged everywhere, out of memory */
		return -EIO;
	}
}

static void fill_stat(struct stat *out, const tier_drive_stat *st)
{
	static const mode_t types[] = {S_IFREG, S_IFDIR, S_IFLNK, S_IFIFO,
	                               S_IFCHR, S_IFBLK, S_IFSOCK};
	memset(out, 0, sizeof(*out));
	out->st_mode = ((unsigned)st->type < sizeof(types) / sizeof(types[0])
	                        ? types[st->type]
	                        : S_IFREG) |
	               (st->mode & 07777);
	out->st_nlink = st->type == TIER_ENTRY_DIR ? 2 : 1;
	out->st_uid = st->uid;
	out->st_gid = st->gid;
	out->st_size = (off_t)st->size;
	out->st_blocks = (blkcnt_t)((st->size + 511) / 512);
	out->st_blksize = 128 * 1024;
	out->st_rdev = (dev_t)st->rdev;
	out->st_mtim.tv_sec = (time_t)st->mtime_sec;
	out->st_mtim.tv_nsec = (long)st->mtime_nsec;
	out->st_atim = out->st_mtim;
	out->st_ctim = out->st_mtim;
}

static int op_getattr(const char *path, struct stat *out,
                      struct fuse_file_info *fi)
{
	tier_drive_stat st;
	int rc;
	(void)fi;
	if ((rc = tier_drive_stat_path(drive, path, &st)) < 0) {
		if (rc != TIER_ENOTFOUND)
			say(LOG_ERR, "%s", tier_error_last());
		return to_errno(rc, EIO);
	}
	fill_stat(out, &st);
	return 0;
}

static int op_readlink(const char *path, char *buf, size_t size)
{
	int rc = tier_drive_readlink(drive, path, buf, size);
	return rc < 0 ? to_errno(rc, EINVAL) : 0;
}

/* A listing, taken whole before any of it goes to FUSE: the filler may
 * call back into getattr (READDIRPLUS), which takes the drive's lock. */
struct listing {
	char **names;
	struct stat *st;
	size_t n, cap;
};

static int on_dirent(const char *name, const tier_drive_stat *st, void *payload)
{
	struct listing *l = payload;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->names = tool_xrealloc(l->names, l->cap * sizeof(*l->names));
		l->st = tool_xrealloc(l->st, l->cap * sizeof(*l->st));
	}
	l->names[l->n] = tool_xmalloc(strlen(name) + 1);
	strcpy(l->names[l->n], name);
	fill_stat(&l->st[l->n], st);
	l->n++;
	return 0;
}

static void listing_free(struct listing *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		free(l->names[i]);
	free(l->names);
	free(l->st);
	free(l);
}

/* The listing is taken whole at opendir, then served by offset: readdir
 * hands entries with offsets, so libfuse sends each with its attributes
 * and a lookup entry the kernel keeps (du, ls -l: no lookup per name). */
static int op_opendir(const char *path, struct fuse_file_info *fi)
{
	struct listing *l = tool_xmalloc(sizeof(*l));
	int rc;

	memset(l, 0, sizeof(*l));
	if ((rc = tier_drive_list(drive, path, on_dirent, l)) < 0) {
		if (rc != TIER_ENOTFOUND && rc != TIER_ECONFLICT)
			say(LOG_ERR, "%s", tier_error_last());
		listing_free(l);
		return to_errno(rc, ENOTDIR);
	}
	fi->fh = (uint64_t)(uintptr_t)l;
	/* the kernel may keep the listing: no directory ever changes */
	fi->cache_readdir = 1;
	fi->keep_cache = 1;
	return 0;
}

static int op_readdir(const char *path, void *buf, fuse_fill_dir_t filler,
                      off_t off, struct fuse_file_info *fi,
                      enum fuse_readdir_flags flags)
{
	struct listing *l = (struct listing *)(uintptr_t)fi->fh;
	(void)path;
	/* offset k: entry k is next; 0 and 1 are "." and ".." */
	for (size_t k = (size_t)off; k < l->n + 2; k++) {
		int full;
		if (k < 2)
			full = filler(buf, k ? ".." : ".", NULL, (off_t)(k + 1),
			              0);
		else
			full = filler(buf, l->names[k - 2], &l->st[k - 2],
			              (off_t)(k + 1),
			              (flags & FUSE_READDIR_PLUS)
			                      ? FUSE_FILL_DIR_PLUS
			                      : 0);
		if (full)
			break;
	}
	return 0;
}

static int op_releasedir(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	listing_free((struct listing *)(uintptr_t)fi->fh);
	return 0;
}

static int op_open(const char *path, struct fuse_file_info *fi)
{
	tier_drive_file *f;
	int rc;
	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		return -EROFS;
	if ((rc = tier_drive_file_open(&f, drive, path)) < 0) {
		if (rc != TIER_ENOTFOUND && rc != TIER_ECONFLICT)
			say(LOG_ERR, "%s", tier_error_last());
		return to_errno(rc, EISDIR);
	}
	fi->fh = (uint64_t)(uintptr_t)f;
	fi->keep_cache = 1; /* a revision never changes */
	return 0;
}

static int op_read(const char *path, char *buf, size_t size, off_t off,
                   struct fuse_file_info *fi)
{
	tier_drive_file *f = (tier_drive_file *)(uintptr_t)fi->fh;
	int64_t n = tier_drive_file_read(f, buf, size, (uint64_t)off);
	if (n < 0) {
		say(LOG_ERR, "cannot read '%s': %s", path, tier_error_last());
		return -EIO;
	}
	return (int)n;
}

static int op_release(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	tier_drive_file_close((tier_drive_file *)(uintptr_t)fi->fh);
	return 0;
}

static int op_statfs(const char *path, struct statvfs *st)
{
	(void)path;
	memset(st, 0, sizeof(*st));
	st->f_bsize = 4096;
	st->f_frsize = 4096;
	st->f_namemax = 255;
	return 0;
}

static void *op_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	/* every listing with its attributes, not only the first: du and
	 * ls -l then cost no lookup per name */
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	conn->want &= ~(unsigned)FUSE_CAP_READDIRPLUS_AUTO;
	/* nothing on the drive ever changes while it is mounted */
	cfg->entry_timeout = 3600;
	cfg->attr_timeout = 3600;
	cfg->negative_timeout = 3600;
	cfg->kernel_cache = 1;
	return NULL;
}

static const struct fuse_operations ops = {
        .getattr = op_getattr,
        .readlink = op_readlink,
        .open = op_open,
        .read = op_read,
        .release = op_release,
        .statfs = op_statfs,
        .opendir = op_opendir,
        .readdir = op_readdir,
        .releasedir = op_releasedir,
        .init = op_init,
};

/* FUSE installs its own SIGINT/SIGTERM/SIGHUP handlers (they end the
 * loop, then we unmount) only over the default ones. */
static void default_signals(void)
{
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
}

static int serve(const char *mountpoint)
{
	char opts[128];
	char *argv[] = {(char *)"tier-mount", (char *)"-o", opts, NULL};
	struct fuse_args args = FUSE_ARGS_INIT(3, argv);
	struct fuse *fuse;
	int rc = TOOL_EXIT_ERROR;
	size_t nrevs;

	tier_drive_revisions(drive, &nrevs);
	snprintf(opts, sizeof(opts),
	         "ro,default_permissions,fsname=tier,subtype=tier%s",
	         opt_allow_other ? ",allow_other" : "");
	if (!(fuse = fuse_new(&args, &ops, sizeof(ops), NULL))) {
		tool_error("cannot set up FUSE (is /dev/fuse there?)");
		return TOOL_EXIT_ERROR;
	}
	if (fuse_mount(fuse, mountpoint) != 0) {
		tool_error("cannot mount on '%s' (see the message above)",
		           mountpoint);
		goto out;
	}
	default_signals();
	if (fuse_set_signal_handlers(fuse_get_session(fuse)) != 0) {
		tool_error("cannot install the signal handlers");
		goto unmount;
	}
	tool_info("mounted %zu revisions on %s (chunk cache in %s)", nrevs,
	          mountpoint, tier_drive_cache_dir(drive));
	if (!opt_foreground) {
		openlog("tier-mount", LOG_PID, LOG_USER);
		detached = 1;
	}
	if (fuse_daemonize(opt_foreground) != 0) {
		detached = 0;
		tool_error("cannot detach from the terminal");
		goto signals;
	}
	/* >= 0: unmounted, or the number of the signal that ended the loop */
	rc = fuse_loop_mt(fuse, 0 /* no clone_fd */) >= 0 ? TOOL_EXIT_OK
	                                                  : TOOL_EXIT_ERROR;
      signals:
	fuse_remove_signal_handlers(fuse_get_session(fuse));
unmount:
	fuse_unmount(fuse);
out:
	fuse_destroy(fuse);
	fuse_opt_free_args(&args);
	return rc;
}

int main(int argc, char **argv)
{
	tier_drive_options o = TIER_DRIVE_OPTIONS_INIT;
	struct tool_common c;
	const char *mnt;
	tier_vault *v = NULL;
	struct stat st;
	int rc;

	tool_init(&c, &def, argc, argv);
	mnt = c.args.items[0];
	if (stat(mnt, &st) != 0 || !S_ISDIR(st.st_mode)) {
		tool_usage_error("mount point '%s' is not a directory", mnt);
		return tool_finish(&c, TOOL_EXIT_USAGE);
	}
	o.cache_dir = opt_cache_dir;
	o.cache_size = opt_cache_size;
	o.warning = on_warning;
	if ((rc = tool_vault_open(&v, &c, TOOL_READ, 1)) < 0 ||
	    (rc = tier_drive_open(&drive, v, &o)) < 0) {
		tier_vault_free(v);
		return tool_finish(&c, tool_fail(rc));
	}
	rc = serve(mnt);
	tier_drive_free(drive);
	tier_vault_free(v);
	if (detached)
		closelog();
	return tool_finish(&c, rc);
}
