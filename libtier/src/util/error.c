#include "util/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <git2.h>

#define MSG_MAX 1024

static _Thread_local char last_msg[MSG_MAX];
static _Thread_local int last_code;

int tier_error_raise(int code, const char *msg)
{
	return tier_error_set(code, "%s", msg ? msg : "");
}

const char *tier_error_last(void)
{
	return last_msg;
}

int tier_error_last_code(void)
{
	return last_code;
}

void tier_error_clear(void)
{
	last_msg[0] = '\0';
	last_code = TIER_OK;
}

void tier_error_save(tier_error_saved *s)
{
	s->code = last_code;
	memcpy(s->msg, last_msg, sizeof(s->msg));
	s->msg[sizeof(s->msg) - 1] = '\0';
}

int tier_error_restore(const tier_error_saved *s)
{
	last_code = s->code;
	snprintf(last_msg, sizeof(last_msg), "%s", s->msg);
	return s->code;
}

int tier_check_version(unsigned int version, unsigned int current,
                       const char *what)
{
	if (version >= 1 && version <= current)
		return 0;
	return tier_error_set(
	        TIER_EUSAGE,
	        "unsupported %s version %u (this libtier knows 1 to %u)", what,
	        version, current);
}

const char *tier_error_name(int code)
{
	switch (code) {
	case TIER_OK:
		return "ok";
	case TIER_ERROR:
		return "error";
	case TIER_EOFFLINE:
		return "offline";
	case TIER_ENOTFOUND:
		return "not found";
	case TIER_EAUTH:
		return "permission denied";
	case TIER_ENOSPC:
		return "no space";
	case TIER_ECORRUPT:
		return "corrupt";
	case TIER_ECONFLICT:
		return "conflict";
	case TIER_EFOREIGN:
		return "second installation";
	case TIER_EROLLEDBACK:
		return "rolled back";
	case TIER_EABORTED:
		return "aborted";
	case TIER_EUSAGE:
		return "usage";
	case TIER_ETIMEOUT:
		return "timed out";
	case TIER_EUNSUPPORTED:
		return "unsupported";
	}
	return "unknown error";
}

/* Messages are one line: fold any newline a lower layer handed us. */
static void one_line(char *s)
{
	for (; *s; s++)
		if (*s == '\n' || *s == '\r')
			*s = ' ';
}

/* Append to dst (size MSG_MAX) without overflowing, truncating quietly. */
static void append(char *dst, const char *src)
{
	size_t n = strlen(dst), m = strlen(src);
	if (n >= MSG_MAX - 1)
		return;
	if (m > MSG_MAX - 1 - n)
		m = MSG_MAX - 1 - n;
	memcpy(dst + n, src, m);
	dst[n + m] = '\0';
}

static int vset(int code, const char *suffix, const char *fmt, va_list ap)
{
	char tmp[MSG_MAX];
	vsnprintf(tmp, sizeof(tmp), fmt, ap);
	last_msg[0] = '\0';
	append(last_msg, tmp);
	if (suffix) {
		append(last_msg, ": ");
		append(last_msg, suffix);
	}
	one_line(last_msg);
	last_code = code;
	return code;
}

int tier_error_set(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vset(code, NULL, fmt, ap);
	va_end(ap);
	return code;
}

int tier_error_set_errno(int code, int errnum, const char *fmt, ...)
{
	char ebuf[128];
	const char *e = strerror_r(errnum, ebuf, sizeof(ebuf));
	char low[128];
	size_t i;
	/* strerror says "No such file or directory"; our messages are lowercase */
	for (i = 0; e[i] && i < sizeof(low) - 1; i++)
		low[i] = (i == 0 && e[i] >= 'A' && e[i] <= 'Z') ? e[i] + 32
		                                                : e[i];
	low[i] = '\0';
	va_list ap;
	va_start(ap, fmt);
	vset(code, low, fmt, ap);
	va_end(ap);
	return code;
}

int tier_error_from_errno(int errnum)
{
	switch (errnum) {
	case ENOENT:
	case ENOTDIR:
		return TIER_ENOTFOUND;
	case EACCES:
	case EPERM:
	case EROFS:
		return TIER_EAUTH;
	case ENOSPC:
	case EDQUOT:
	case EFBIG:
		return TIER_ENOSPC;
	case EEXIST:
	case ENOTEMPTY:
	case EBUSY:
		return TIER_ECONFLICT;
	case EIO:
	case ESTALE:
	case ENOTCONN:
	case ETIMEDOUT:
	case ECONNRESET:
	case ECONNREFUSED:
	case EHOSTUNREACH:
	case ENETUNREACH:
	case EAGAIN:
	case ENODEV:
	case ENXIO:
	case ECONNABORTED:
	case EINTR:
		return TIER_EOFFLINE;
	}
	/*
	 * EINVAL, ENAMETOOLONG and the rest: a system call refused what a
	 * snapshot or a tier asked of it, which is never the user's command
	 * line (TIER_EUSAGE, exit 2) but an error (exit 1).  Usage errors are
	 * only ever set by name, where the argument is checked.
	 */
	return TIER_ERROR;
}

int tier_error_prefix(const char *fmt, ...)
{
	char pre[MSG_MAX], old[MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(pre, sizeof(pre), fmt, ap);
	va_end(ap);
	memcpy(old, last_msg, sizeof(old));
	last_msg[0] = '\0';
	append(last_msg, pre);
	append(last_msg, ": ");
	append(last_msg, old);
	one_line(last_msg);
	return last_code;
}

int tier_error_from_git(int git_rc, const char *fmt, ...)
{
	const git_error *ge = git_error_last();
	int code;
	switch (git_rc) {
	case GIT_ENOTFOUND:
		code = TIER_ENOTFOUND;
		break;
	case GIT_EEXISTS:
		code = TIER_ECONFLICT;
		break;
	case GIT_ELOCKED:
		code = TIER_ECONFLICT;
		break;
	case GIT_EUSER:
		code = TIER_EABORTED;
		break;
	case GIT_EAUTH:
		code = TIER_EAUTH;
		break;
	case GIT_EINVALID:
		code = TIER_ECORRUPT;
		break;
	default:
		code = (ge && (ge->klass == GIT_ERROR_OBJECT ||
		               ge->klass == GIT_ERROR_ODB ||
		               ge->klass == GIT_ERROR_ZLIB ||
		               ge->klass == GIT_ERROR_INDEXER))
		               ? TIER_ECORRUPT
		               : TIER_ERROR;
	}
	va_list ap;
	va_start(ap, fmt);
	vset(code, ge && ge->message ? ge->message : "unknown libgit2 error",
	     fmt, ap);
	va_end(ap);
	return code;
}
