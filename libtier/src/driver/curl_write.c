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

/* ---- put ------------------------------------------------------------- */

/* Remove a leftover temp object; best effort, the put has failed already. */
static void drop_temp(curl_driver *d, const char *tmp_rel)
{
	struct curl_slist *cmds = NULL;
	char saved[1024];
	int code = tier_error_last_code();
	snprintf(saved, sizeof(saved), "%s", tier_error_last());
	if (d->proto == PROTO_SFTP) {
		tier_buf q = TIER_BUF_INIT;
		if (tier_buf_puts(&q, "rm ") == 0 &&
		    tier_curl_sftp_quoted(d, &q, tmp_rel) == 0 &&
		    tier_curl_add_cmd(&cmds, "%s", q.ptr) == 0)
			tier_curl_run_quote(d, cmds, "remove", tmp_rel);
		tier_buf_dispose(&q);
	} else if (tier_curl_add_cmd(&cmds, "DELE %s", tmp_rel) == 0) {
		tier_curl_run_quote(d, cmds, "remove", tmp_rel);
	}
	curl_slist_free_all(cmds);
	tier_error_set(code, "%s", saved);
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
	tier_buf q = TIER_BUF_INIT;
	CURLcode c = CURLE_FAILED_INIT;
	int rc;

	*setup_rc = 0;
	tier_curl_upload_start(&d->up, src, 0, src->size);
	if (d->proto == PROTO_SFTP) {
		rc = tier_buf_puts(&q, "rename ") < 0 ||
		                     tier_curl_sftp_quoted(d, &q, tmp_rel) <
		                             0 ||
		                     tier_buf_putc(&q, ' ') < 0 ||
		                     tier_curl_sftp_quoted(d, &q, final_rel) < 0
		             ? TIER_ERROR
		             : tier_curl_add_cmd(&post, "%s", q.ptr);
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
	tier_buf_dispose(&q);
	return c;
}

int tier_curl_mkdir_p(tier_driver *drv, const char *path);

int tier_curl_put(tier_driver *drv, const char *path, const tier_source *src,
                  unsigned int flags)
{
	curl_driver *d = tier_curl_of(drv);
	tier_buf tmp_name = TIER_BUF_INIT, tmp_rel = TIER_BUF_INIT,
	         hidden = TIER_BUF_INIT;
	char *dir = NULL;
	const char *name;
	int rc = tier_driver_check_path(path, 0), setup_rc = 0, made_dirs = 0;
	CURLcode c;

	if (rc < 0)
		return rc;
	if (!src || (!src->data && src->fd < 0))
		return tier_error_set(TIER_EUSAGE, "put '%s': no source", path);
	if ((rc = split_rel(path, &dir, &name)) < 0)
		return rc;
	if (flags & TIER_PUT_EXCLUSIVE) {
		/* not atomic on FTP: see docs/remote-tiers.md */
		rc = tier_curl_exists(d, path);
		if (rc == 1)
			rc = tier_error_set(
			        TIER_ECONFLICT,
			        "cannot create '%s' on %s: it exists", path,
			        d->where);
		if (rc < 0)
			goto out;
	}
	if (tier_buf_printf(&hidden, ".%s", name) < 0 ||
	    tier_temp_name(&tmp_name, hidden.ptr) < 0 ||
	    tier_buf_printf(&tmp_rel, "%s%s%s", dir, *dir ? "/" : "",
	                    tmp_name.ptr) < 0) {
		rc = TIER_ERROR;
		goto out;
	}

again:
	c = upload(d, tmp_rel.ptr, path, tmp_name.ptr, name, src, &setup_rc);
	if ((rc = setup_rc) < 0)
		goto out;
	if (c == CURLE_OK) {
		rc = 0;
		goto out;
	}
	if (c == CURLE_ABORTED_BY_CALLBACK || d->up.read_errno) {
		if (d->up.read_errno)
			rc = tier_error_set_errno(
			        TIER_ERROR, d->up.read_errno,
			        "cannot read the data for '%s'", path);
		else
			rc = tier_curl_fail(d, c, "put", path);
		drop_temp(d, tmp_rel.ptr);
		goto out;
	}
	if (c != CURLE_QUOTE_ERROR) {
		rc = tier_curl_fail(d, c, "put", path);
		/* a missing directory: FTP cannot CWD, SFTP cannot open the file */
		if (rc == TIER_ENOTFOUND && *dir && !made_dirs) {
			made_dirs = 1;
			if ((rc = tier_curl_mkdir_p(drv, dir)) < 0)
				goto out;
			goto again;
		}
		if (rc != TIER_EOFFLINE && rc != TIER_ENOTFOUND)
			drop_temp(d, tmp_rel.ptr);
		goto out;
	}

	/* uploaded whole, but the rename failed */
	rc = tier_curl_fail(d, c, "put", path);
	if (d->proto == PROTO_SFTP && rc != TIER_EOFFLINE) {
		/* SFTP v3 rename never replaces: the target exists */
		if (flags & TIER_PUT_EXCLUSIVE) {
			rc = tier_error_set(
			        TIER_ECONFLICT,
			        "cannot create '%s' on %s: it exists", path,
			        d->where);
		} else {
			/* remove, then rename: not atomic, see docs/remote-tiers.md */
			struct curl_slist *cmds = NULL;
			tier_buf q = TIER_BUF_INIT;
			rc = tier_buf_puts(&q, "*rm ") < 0 ||
			                     tier_curl_sftp_quoted(d, &q,
			                                           path) < 0
			             ? TIER_ERROR
			             : tier_curl_add_cmd(&cmds, "%s", q.ptr);
			tier_buf_clear(&q);
			if (rc == 0)
				rc = tier_buf_puts(&q, "rename ") < 0 ||
				                     tier_curl_sftp_quoted(
				                             d, &q,
				                             tmp_rel.ptr) < 0 ||
				                     tier_buf_putc(&q, ' ') <
				                             0 ||
				                     tier_curl_sftp_quoted(
				                             d, &q, path) < 0
				             ? TIER_ERROR
				             : tier_curl_add_cmd(&cmds, "%s",
				                                 q.ptr);
			if (rc == 0)
				rc = tier_curl_run_quote(d, cmds, "put", path);
			curl_slist_free_all(cmds);
			tier_buf_dispose(&q);
			if (rc == 0 || rc == TIER_EOFFLINE)
				goto out;
		}
	}
	if (rc != TIER_EOFFLINE)
		drop_temp(d, tmp_rel.ptr);
out:
	free(dir);
	tier_buf_dispose(&tmp_name);
	tier_buf_dispose(&tmp_rel);
	tier_buf_dispose(&hidden);
	return rc;
}

/* ---- rename, remove, mkdir ------------------------------------------ */

int tier_curl_rename(tier_driver *drv, const char *from, const char *to)
{
	curl_driver *d = tier_curl_of(drv);
	struct curl_slist *cmds = NULL;
	tier_buf q = TIER_BUF_INIT;
	int rc;

	if ((rc = tier_driver_check_path(from, 0)) < 0 ||
	    (rc = tier_driver_check_path(to, 0)) < 0)
		return rc;
	if (d->proto == PROTO_SFTP) {
		rc = tier_buf_puts(&q, "rename ") < 0 ||
		                     tier_curl_sftp_quoted(d, &q, from) < 0 ||
		                     tier_buf_putc(&q, ' ') < 0 ||
		                     tier_curl_sftp_quoted(d, &q, to) < 0
		             ? TIER_ERROR
		             : tier_curl_add_cmd(&cmds, "%s", q.ptr);
	} else {
		rc = tier_curl_add_cmd(&cmds, "RNFR %s", from);
		if (rc == 0)
			rc = tier_curl_add_cmd(&cmds, "RNTO %s", to);
	}
	if (rc == 0)
		rc = tier_curl_run_quote(d, cmds, "rename", from);
	curl_slist_free_all(cmds);
	tier_buf_dispose(&q);
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
	tier_buf q = TIER_BUF_INIT;
	int rc = tier_driver_check_path(path, 0);
	if (rc < 0)
		return rc;

	/* a file first, then an empty directory */
	if (d->proto == PROTO_SFTP)
		rc = tier_buf_puts(&q, "rm ") < 0 ||
		                     tier_curl_sftp_quoted(d, &q, path) < 0
		             ? TIER_ERROR
		             : tier_curl_add_cmd(&cmds, "%s", q.ptr);
	else
		rc = tier_curl_add_cmd(&cmds, "DELE %s", path);
	if (rc == 0)
		rc = tier_curl_run_quote(d, cmds, "remove", path);
	curl_slist_free_all(cmds);
	cmds = NULL;
	tier_buf_clear(&q);
	if (rc == 0 || rc == TIER_EOFFLINE || rc == TIER_EAUTH ||
	    rc == TIER_ENOSPC ||
	    (d->proto == PROTO_SFTP && rc == TIER_ENOTFOUND))
		goto out;

	if (d->proto == PROTO_SFTP)
		rc = tier_buf_puts(&q, "rmdir ") < 0 ||
		                     tier_curl_sftp_quoted(d, &q, path) < 0
		             ? TIER_ERROR
		             : tier_curl_add_cmd(&cmds, "%s", q.ptr);
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
	tier_buf_dispose(&q);
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
	tier_buf q = TIER_BUF_INIT;
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
		if (d->proto == PROTO_SFTP) {
			tier_buf_clear(&q);
			rc = tier_buf_puts(&q, "*mkdir ") < 0 ||
			                     tier_curl_sftp_quoted(d, &q, sub) <
			                             0
			             ? TIER_ERROR
			             : tier_curl_add_cmd(&cmds, "%s", q.ptr);
		} else {
			rc = tier_curl_add_cmd(&cmds, "*MKD %s", sub);
		}
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
	tier_buf_dispose(&q);
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
