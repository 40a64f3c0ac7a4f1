/*
 * The writing operations of the libcurl driver (ftp, ftps, sftp): put,
 * rename, remove, mkdir_p.  Besides the upload they are curl "quote"
 * commands: FTP post-quote commands on the tier root (or the object's
 * directory), SFTP commands with absolute paths (see curl.c).
 *
 * Atomic put = upload to ".<name>.tmp-<pid>-<hex>" in the same directory,
 * then rename in a post-quote of the same transfer.  FTP servers (vsftpd,
 * pure-ftpd) replace an existing target on RNTO; OpenSSH's SFTP rename
 * (protocol v3) refuses to, so there an existing target is removed first
 * and the caps say so (docs/remote-tiers.md).
 */
#include "driver/drivers.h"
#include "driver/curl_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/posix.h"

/* rel split into its directory ("" at the root) and its last name. */
static int split_rel(const char *rel, char **dir, const char **name)
{
	const char *slash = strrchr(rel, '/');
	*name = slash ? slash + 1 : rel;
	*dir = tier_strndup(rel, slash ? (size_t)(slash - rel) : 0);
	return *dir ? 0 : TIER_ERROR;
}

/*
 * Add the SFTP command "<cmd>"a"[ "b"]" to a quote list, the paths
 * absolute and quoted.  cmd ends with its space ("rename ", "*rm ").
 */
static int sftp_cmd(curl_driver *d, struct curl_slist **list, const char *cmd,
                    const char *a, const char *b)
{
	tier_buf q = TIER_BUF_INIT;
	int rc = tier_buf_puts(&q, cmd) < 0 ||
	                         tier_curl_sftp_quoted(d, &q, a) < 0 ||
	                         (b && (tier_buf_putc(&q, ' ') < 0 ||
	                                tier_curl_sftp_quoted(d, &q, b) < 0))
	                 ? TIER_ERROR
	                 : tier_curl_add_cmd(list, "%s", q.ptr);
	tier_buf_dispose(&q);
	return rc;
}

/* ---- put ------------------------------------------------------------- */

/* Remove a leftover temp object; best effort, the put has failed already. */
static void drop_temp(curl_driver *d, const char *tmp_rel)
{
	struct curl_slist *cmds = NULL;
	tier_error_saved err;
	tier_error_save(&err);
	if (d->proto == PROTO_SFTP) {
		if (sftp_cmd(d, &cmds, "rm ", tmp_rel, NULL) == 0)
			tier_curl_run_quote(d, cmds, "remove", tmp_rel);
	} else if (tier_curl_add_cmd(&cmds, "DELE %s", tmp_rel) == 0) {
		tier_curl_run_quote(d, cmds, "remove", tmp_rel);
	}
	curl_slist_free_all(cmds);
	tier_error_restore(&err);
}

/*
 * Upload src to tmp_rel in dir, then rename it to name (post-quote, same
 * connection, only when the upload completed).  Returns the CURLcode so
 * that the caller can tell a missing directory and a failed rename apart.
 */
static CURLcode upload(curl_driver *d, const char *tmp_rel,
                       const char *final_rel, const char *tmp_name,
                       const char *final_name, const tier_source *src,
                       int *setup_rc)
{
	struct curl_slist *post = NULL;
	CURLcode c = CURLE_FAILED_INIT;
	int rc;

	*setup_rc = 0;
	tier_curl_upload_start(&d->up, src, 0, src->size);
	if (d->proto == PROTO_SFTP) {
		rc = sftp_cmd(d, &post, "rename ", tmp_rel, final_rel);
	} else {
		/* relative to the object's directory, where the upload left us */
		rc = tier_curl_add_cmd(&post, "RNFR %s", tmp_name);
		if (rc == 0)
			rc = tier_curl_add_cmd(&post, "RNTO %s", final_name);
	}
	if (rc == 0)
		rc = tier_curl_set_common(d);
	if (rc == 0)
		rc = tier_curl_set_url(d, tmp_rel, 0);
	if (rc == 0)
		rc = tier_curl_opt(d,
		                   curl_easy_setopt(d->h, CURLOPT_UPLOAD, 1L));
	if (rc == 0)
		rc = tier_curl_opt(d, curl_easy_setopt(d->h,
		                                       CURLOPT_INFILESIZE_LARGE,
		                                       (curl_off_t)src->size));
	if (rc == 0)
		rc = tier_curl_opt(d,
		                   curl_easy_setopt(d->h, CURLOPT_READFUNCTION,
		                                    tier_curl_on_read));
	if (rc == 0)
		rc = tier_curl_opt(
		        d, curl_easy_setopt(d->h, CURLOPT_READDATA, &d->up));
	if (rc == 0)
		rc = tier_curl_opt(d,
		                   curl_easy_setopt(d->h, CURLOPT_SEEKFUNCTION,
		                                    tier_curl_on_seek));
	if (rc == 0)
		rc = tier_curl_opt(
		        d, curl_easy_setopt(d->h, CURLOPT_SEEKDATA, &d->up));
	if (rc == 0)
		rc = tier_curl_opt(
		        d, curl_easy_setopt(d->h, CURLOPT_POSTQUOTE, post));
	if (rc == 0)
		c = tier_curl_perform(d);
	*setup_rc = rc;
	curl_slist_free_all(post);
	return c;
}

/* One put on its way: the names it uses, and how far it got. */
struct curl_put {
	curl_driver *d;
	const char *path; /* the object */
	const tier_source *src;
	unsigned int flags;
	char *dir;         /* its directory, "" at the root */
	const char *name;  /* its last name, in path */
	tier_buf hidden;   /* ".<name>" */
	tier_buf tmp_name; /* ".<name>.tmp-<pid>-<hex>" */
	tier_buf tmp_rel;  /* <dir>/<tmp_name> */
	int made_dirs;     /* the directory was created once already */
};

static int put_conflict(const struct curl_put *p)
{
	return tier_error_set(TIER_ECONFLICT,
	                      "cannot create '%s' on %s: it exists", p->path,
	                      p->d->where);
}

/* The directory and temp names; an exclusive put looks first. */
static int put_prepare(struct curl_put *p)
{
	int rc = split_rel(p->path, &p->dir, &p->name);
	if (rc < 0)
		return rc;
	if (p->flags & TIER_PUT_EXCLUSIVE) {
		/* not atomic on FTP: see docs/remote-tiers.md */
		rc = tier_curl_exists(p->d, p->path);
		if (rc == 1)
			rc = put_conflict(p);
		if (rc < 0)
			return rc;
	}
	if (tier_buf_printf(&p->hidden, ".%s", p->name) < 0 ||
	    tier_temp_name(&p->tmp_name, p->hidden.ptr) < 0 ||
	    tier_buf_printf(&p->tmp_rel, "%s%s%s", p->dir, *p->dir ? "/" : "",
	                    p->tmp_name.ptr) < 0)
		return TIER_ERROR;
	return 0;
}

/* The upload stopped: the source could not be read, or it was cancelled. */
static int put_stopped(struct curl_put *p, CURLcode c)
{
	curl_driver *d = p->d;
	int rc;
	if (d->up.read_errno)
		rc = tier_error_set_errno(TIER_ERROR, d->up.read_errno,
		                          "cannot read the data for '%s'",
		                          p->path);
	else
		rc = tier_curl_fail(d, c, "put", p->path);
	drop_temp(d, p->tmp_rel.ptr);
	return rc;
}

/* SFTP v3: remove, then rename; not atomic, see docs/remote-tiers.md. */
static int put_replace(struct curl_put *p)
{
	struct curl_slist *cmds = NULL;
	int rc = sftp_cmd(p->d, &cmds, "*rm ", p->path, NULL);
	if (rc == 0)
		rc = sftp_cmd(p->d, &cmds, "rename ", p->tmp_rel.ptr, p->path);
	if (rc == 0)
		rc = tier_curl_run_quote(p->d, cmds, "put", p->path);
	curl_slist_free_all(cmds);
	return rc;
}

/* Uploaded whole, but the rename failed. */
static int put_rename_failed(struct curl_put *p, CURLcode c)
{
	int rc = tier_curl_fail(p->d, c, "put", p->path);
	if (p->d->proto == PROTO_SFTP && rc != TIER_EOFFLINE) {
		/* SFTP v3 rename never replaces: the target exists */
		if (p->flags & TIER_PUT_EXCLUSIVE) {
			rc = put_conflict(p);
		} else {
			rc = put_replace(p);
			if (rc == 0 || rc == TIER_EOFFLINE)
				return rc;
		}
	}
	if (rc != TIER_EOFFLINE)
		drop_temp(p->d, p->tmp_rel.ptr);
	return rc;
}

/* Upload and rename; a missing directory is made once and the put runs again. */
static int put_run(struct curl_put *p)
{
	for (;;) {
		int setup_rc = 0, rc;
		CURLcode c =
		        upload(p->d, p->tmp_rel.ptr, p->path, p->tmp_name.ptr,
		               p->name, p->src, &setup_rc);
		if (setup_rc < 0)
			return setup_rc;
		if (c == CURLE_OK)
			return 0;
		if (c == CURLE_ABORTED_BY_CALLBACK || p->d->up.read_errno)
			return put_stopped(p, c);
		if (c == CURLE_QUOTE_ERROR)
			return put_rename_failed(p, c);
		rc = tier_curl_fail(p->d, c, "put", p->path);
		/* a missing directory: FTP cannot CWD, SFTP cannot open the file */
		if (rc == TIER_ENOTFOUND && *p->dir && !p->made_dirs) {
			p->made_dirs = 1;
			if ((rc = tier_curl_mkdir_p(&p->d->base, p->dir)) < 0)
				return rc;
			continue;
		}
		if (rc != TIER_EOFFLINE && rc != TIER_ENOTFOUND)
			drop_temp(p->d, p->tmp_rel.ptr);
		return rc;
	}
}

int tier_curl_put(tier_driver *drv, const char *path, const tier_source *src,
                  unsigned int flags)
{
	struct curl_put p = {.d = tier_curl_of(drv),
	                     .path = path,
	                     .src = src,
	                     .flags = flags,
	                     .hidden = TIER_BUF_INIT,
	                     .tmp_name = TIER_BUF_INIT,
	                     .tmp_rel = TIER_BUF_INIT};
	int rc = tier_driver_check_path(path, 0);

	if (rc < 0)
		return rc;
	if (!src || (!src->data && src->fd < 0))
		return tier_error_set(TIER_EUSAGE, "put '%s': no source", path);
	rc = put_prepare(&p);
	if (rc == 0)
		rc = put_run(&p);
	free(p.dir);
	tier_buf_dispose(&p.tmp_name);
	tier_buf_dispose(&p.tmp_rel);
	tier_buf_dispose(&p.hidden);
	return rc;
}

/* ---- rename, remove, mkdir ------------------------------------------ */

int tier_curl_rename(tier_driver *drv, const char *from, const char *to)
{
	curl_driver *d = tier_curl_of(drv);
	struct curl_slist *cmds = NULL;
	int rc;

	if ((rc = tier_driver_check_path(from, 0)) < 0 ||
	    (rc = tier_driver_check_path(to, 0)) < 0)
		return rc;
	if (d->proto == PROTO_SFTP) {
		rc = sftp_cmd(d, &cmds, "rename ", from, to);
	} else {
		rc = tier_curl_add_cmd(&cmds, "RNFR %s", from);
		if (rc == 0)
			rc = tier_curl_add_cmd(&cmds, "RNTO %s", to);
	}
	if (rc == 0)
		rc = tier_curl_run_quote(d, cmds, "rename", from);
	curl_slist_free_all(cmds);
	if (rc == 0 || rc == TIER_EOFFLINE)
		return rc;

	if (d->proto != PROTO_SFTP) {
		if (d->saw_350) /* RNFR accepted: the target side failed */
			return tier_error_set(
			        rc == TIER_ENOTFOUND ? TIER_ENOTFOUND : rc,
			        "cannot rename '%s' to '%s' on %s (server said: %s)",
			        from, to, d->where, tier_buf_cstr(&d->reply));
		return rc;
	}
	if (rc == TIER_ERROR) {
		/* "Operation failed": SFTP v3 does not replace an existing target */
		int e = tier_curl_exists(d, to);
		if (e == 1)
			return tier_error_set(
			        TIER_ECONFLICT,
			        "cannot rename '%s' to '%s' on %s: the target exists",
			        from, to, d->where);
		if (e < 0)
			return e;
		return tier_error_set(TIER_ERROR,
		                      "cannot rename '%s' to '%s' on %s", from,
		                      to, d->where);
	}
	return rc;
}

int tier_curl_remove(tier_driver *drv, const char *path)
{
	curl_driver *d = tier_curl_of(drv);
	struct curl_slist *cmds = NULL;
	int rc = tier_driver_check_path(path, 0);
	if (rc < 0)
		return rc;

	/* a file first, then an empty directory */
	if (d->proto == PROTO_SFTP)
		rc = sftp_cmd(d, &cmds, "rm ", path, NULL);
	else
		rc = tier_curl_add_cmd(&cmds, "DELE %s", path);
	if (rc == 0)
		rc = tier_curl_run_quote(d, cmds, "remove", path);
	curl_slist_free_all(cmds);
	cmds = NULL;
	if (rc == 0 || rc == TIER_EOFFLINE || rc == TIER_EAUTH ||
	    rc == TIER_ENOSPC ||
	    (d->proto == PROTO_SFTP && rc == TIER_ENOTFOUND))
		goto out;

	if (d->proto == PROTO_SFTP)
		rc = sftp_cmd(d, &cmds, "rmdir ", path, NULL);
	else
		rc = tier_curl_add_cmd(&cmds, "RMD %s", path);
	if (rc == 0)
		rc = tier_curl_run_quote(d, cmds, "remove", path);
	if (rc == TIER_ENOTFOUND && d->proto != PROTO_SFTP) {
		/* FTP says 550 for "missing" and for "not empty" alike */
		int e = tier_curl_dir_probe(d, path, "remove", NULL);
		if (e == 0)
			rc = tier_error_set(
			        TIER_ECONFLICT,
			        "cannot remove directory '%s' on %s: not empty",
			        path, d->where);
		else if (e != TIER_ENOTFOUND)
			rc = e;
		else
			rc = tier_error_set(
			        TIER_ENOTFOUND,
			        "cannot remove '%s' on %s: not found", path,
			        d->where);
	} else if (rc == TIER_ERROR && d->proto == PROTO_SFTP) {
		rc = tier_error_set(
		        TIER_ECONFLICT,
		        "cannot remove directory '%s' on %s: not empty", path,
		        d->where);
	}
out:
	curl_slist_free_all(cmds);
	return rc;
}

/*
 * Each level below the root, "may fail" ('*': it may exist), then a check
 * that the last one is a directory.  The root itself is never created: a
 * missing root is a wrong URL or a server that lost its disk.
 */
int tier_curl_mkdir_p(tier_driver *drv, const char *path)
{
	curl_driver *d = tier_curl_of(drv);
	struct curl_slist *cmds = NULL;
	int rc = tier_driver_check_path(path, 1);
	if (rc < 0)
		return rc;
	if (!*path)
		return tier_curl_dir_probe(d, "", "mkdir", NULL);

	for (const char *p = path; rc == 0;) {
		p += strcspn(p, "/");
		char *sub = tier_strndup(path, (size_t)(p - path));
		if (!sub) {
			rc = TIER_ERROR;
			break;
		}
		if (d->proto == PROTO_SFTP)
			rc = sftp_cmd(d, &cmds, "*mkdir ", sub, NULL);
		else
			rc = tier_curl_add_cmd(&cmds, "*MKD %s", sub);
		free(sub);
		if (!*p)
			break;
		p++;
	}
	if (rc == 0) {
		if (d->proto == PROTO_SFTP) {
			rc = tier_curl_dir_probe(d, path, "mkdir", cmds);
		} else {
			/*
			 * Then a CWD proves it is a directory.  Not as a quote command:
			 * curl skips its own CWD when the next URL has the same
			 * directory, so the connection must stay where curl thinks.
			 */
			rc = tier_curl_run_quote(d, cmds, "mkdir", path);
			if (rc == 0)
				rc = tier_curl_dir_probe(d, path, "mkdir",
				                         NULL);
		}
	}
	curl_slist_free_all(cmds);
	if (rc == TIER_ENOTFOUND) {
		/* the root, or a file in the way */
		int e = tier_curl_dir_probe(d, "", "mkdir", NULL);
		if (e == TIER_ENOTFOUND)
			return tier_error_set(
			        TIER_ENOTFOUND,
			        "cannot create '%s' on %s: the tier root does not exist",
			        path, d->where);
		if (e < 0)
			return e;
		return tier_error_set(
		        TIER_ECONFLICT,
		        "cannot create directory '%s' on %s: a file is in the way "
		        "or creating is not allowed",
		        path, d->where);
	}
	return rc;
}
