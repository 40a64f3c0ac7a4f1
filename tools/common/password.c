#include "password.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "tier.h"

#define PW_MAX 4096
/* a line of PW_MAX bytes, "\r\n" and nothing more is still read whole */
#define PW_BUF (PW_MAX + 2)

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
	char msg[4600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return tier_error_raise(TIER_EUSAGE, msg);
}

static void wipe(char *p, size_t n)
{
	volatile char *v = p;
	while (n--)
		*v++ = 0;
}

static void drop(char **p, size_t *n)
{
	if (*p) {
		wipe(*p, *n);
		free(*p);
	}
	*p = NULL;
	*n = 0;
}

/* The signal that interrupted the prompt on the terminal, 0 for none. */
static volatile sig_atomic_t tty_signal;

static void on_tty_signal(int sig)
{
	tty_signal = sig;
}

/*
 * The first line readable from fd, without "\n" or "\r\n", into a new
 * buffer.  Reads at most PW_BUF bytes, with read(2) so that no stdio
 * buffer keeps a copy.  tty: wait with ppoll(2) under wait_mask, so that
 * a signal caught by on_tty_signal ends the wait.  Returns 0, a libtier
 * code with the message set, or 1 with errno set when reading failed
 * (the caller names the source).  *nl_seen: whether the line ended with
 * "\n" (else, on a terminal, the cursor is still after the prompt).
 */
static int read_line(char **out, size_t *len, int fd, const char *what,
                     const sigset_t *wait_mask, int *nl_seen)
{
	char *buf = malloc(PW_BUF), *nl = NULL;
	size_t n = 0, line;
	int err = 0;

	if (!buf)
		return tier_error_raise(TIER_ERROR, "out of memory");
	while (n < PW_BUF && !nl) {
		ssize_t got;
		if (wait_mask) {
			struct pollfd p = {fd, POLLIN, 0};
			if (tty_signal)
				break;
			if (ppoll(&p, 1, NULL, wait_mask) < 0) {
				if (errno == EINTR)
					continue;
				err = errno;
				break;
			}
		}
		got = read(fd, buf + n, PW_BUF - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			err = errno;
			break;
		}
		if (got == 0)
			break;
		nl = memchr(buf + n, '\n', (size_t)got);
		n += (size_t)got;
	}
	if (nl_seen)
		*nl_seen = nl != NULL;
	if (err || (wait_mask && tty_signal)) {
		wipe(buf, n);
		free(buf);
		errno = err;
		return wait_mask && tty_signal ? 0 : 1;
	}
	line = nl ? (size_t)(nl - buf) : n;
	if (line && buf[line - 1] == '\r')
		line--;
	wipe(buf + line, n - line); /* the rest of the input, if any */
	if (line > PW_MAX) {
		wipe(buf, line);
		free(buf);
		return fail("the password from %s is longer than %d bytes",
		            what, PW_MAX);
	}
	if (!line) {
		free(buf);
		return fail("the password from %s is empty", what);
	}
	*out = buf;
	*len = line;
	return 0;
}

static int from_file(char **out, size_t *len, const char *path)
{
	char what[4200];
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;

	if (fd < 0)
		return fail("cannot read the password file '%s': %s", path,
		            strerror(errno));
	snprintf(what, sizeof(what), "'%s'", path);
	rc = read_line(out, len, fd, what, NULL, NULL);
	if (rc == 1) /* a directory, an I/O error */
		rc = fail("cannot read the password file '%s': %s", path,
		          strerror(errno));
	close(fd);
	return rc;
}

static int from_command(char **out, size_t *len, const char *cmd)
{
	char what[4200], rest[512];
	FILE *f;
	int rc, st;
	ssize_t got;

	fflush(NULL); /* nothing of ours printed twice by the child */
	if (!(f = popen(cmd, "r")))
		return fail("cannot run the password command '%s': %s", cmd,
		            strerror(errno));
	snprintf(what, sizeof(what), "the command '%s'", cmd);
	rc = read_line(out, len, fileno(f), what, NULL, NULL);
	if (rc == 1)
		rc = fail("cannot read from the password command '%s': %s", cmd,
		          strerror(errno));
	/* read to the end, so that the command does not die of SIGPIPE */
	while ((got = read(fileno(f), rest, sizeof(rest))) != 0)
		if (got < 0 && errno != EINTR)
			break;
	wipe(rest, sizeof(rest));
	st = pclose(f);
	if (st != 0) {
		if (rc == 0)
			drop(out, len);
		if (st == -1)
			return fail("the password command '%s' failed: %s", cmd,
			            strerror(errno));
		return fail("the password command '%s' failed (exit %d)", cmd,
		            WIFEXITED(st)     ? WEXITSTATUS(st)
		            : WIFSIGNALED(st) ? 128 + WTERMSIG(st)
		                              : 128);
	}
	return rc;
}

/*
 * Ask on /dev/tty without echo; 1 when there is no terminal.  The
 * terminal is put back on every path: SIGINT, SIGTERM and SIGHUP end the
 * prompt (the tool then sees the signal as usual, exit 6), SIGTSTP waits
 * until the answer is in.
 */
static int ask_tty(char **out, size_t *len, const char *prompt)
{
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
	struct sigaction sa, old_sa[3];
	struct termios old, quiet;
	sigset_t block, prev, wait_mask;
	int fd, rc, sig, nl_seen = 0;

	fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return 1;
	if (!isatty(fd) || tcgetattr(fd, &old) < 0) {
		close(fd);
		return 1;
	}

	/* signals blocked except while waiting for input (ppoll) */
	sigemptyset(&block);
	for (size_t i = 0; i < 3; i++)
		sigaddset(&block, sigs[i]);
	sigaddset(&block, SIGTSTP);
	sigprocmask(SIG_BLOCK, &block, &prev);
	wait_mask = prev;
	for (size_t i = 0; i < 3; i++)
		sigdelset(&wait_mask, sigs[i]);
	sigaddset(&wait_mask, SIGTSTP);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_tty_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: the wait must end */
	tty_signal = 0;
	for (size_t i = 0; i < 3; i++)
		sigaction(sigs[i], &sa, &old_sa[i]);

	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK);
	quiet.c_lflag |= ECHONL | ICANON;
	if (tcsetattr(fd, TCSAFLUSH, &quiet) < 0) {
		rc = fail("cannot turn off echo on the terminal: %s",
		          strerror(errno));
	} else {
		if (write(fd, prompt, strlen(prompt)) < 0) {
			/* the prompt is a courtesy: read anyway */
		}
		rc = read_line(out, len, fd, "the terminal", &wait_mask,
		               &nl_seen);
		if (rc == 1)
			rc = fail("cannot read from the terminal: %s",
			          strerror(errno));
		tcsetattr(fd, TCSAFLUSH, &old);
	}

	sig = tty_signal;
	/* the message on stderr starts on a line of its own */
	if ((rc != 0 || sig) && !nl_seen && write(fd, "\n", 1) < 0) {
		/* only tidies the screen */
	}
	if (sig) {
		rc = tier_error_raise(TIER_EABORTED, "interrupted while asking "
		                                     "for the password");
	}
	for (size_t i = 0; i < 3; i++)
		sigaction(sigs[i], &old_sa[i], NULL);
	/* the tool's own handler (or the default) gets it once unblocked */
	if (sig)
		raise(sig);
	sigprocmask(SIG_SETMASK, &prev, NULL);
	close(fd);
	return rc;
}

/* After ^C at a prompt: asked again, say so at once instead. */
static int interrupted(void)
{
	return tool_interrupted() ? tier_error_raise(TIER_EABORTED,
	                                             "interrupted while asking "
	                                             "for the password")
	                          : 0;
}

static int common_sources(char **out, size_t *len, const struct tool_common *c,
                          int *found)
{
	const char *e;
	size_t n;

	*found = 1;
	if (c && c->password_file)
		return from_file(out, len, c->password_file);
	if (c && c->password_command)
		return from_command(out, len, c->password_command);
	/* set but empty counts as not set, as for TIER_STATE_DIR */
	if ((e = getenv("TIER_PASSWORD_FILE")) && *e)
		return from_file(out, len, e);
	if ((e = getenv("TIER_PASSWORD")) && *e) {
		if ((n = strlen(e)) > PW_MAX)
			return fail("the password from %s is longer than %d "
			            "bytes",
			            "$TIER_PASSWORD", PW_MAX);
		if (!(*out = malloc(n + 1)))
			return tier_error_raise(TIER_ERROR, "out of memory");
		memcpy(*out, e, n + 1);
		*len = n;
		return 0;
	}
	*found = 0;
	return 0;
}

int tool_password(char **out, size_t *len, void *payload)
{
	int found, rc;

	*out = NULL;
	*len = 0;
	if ((rc = interrupted()) < 0 ||
	    (rc = common_sources(out, len, payload, &found)) < 0 || found)
		return rc;
	if ((rc = ask_tty(out, len, "Password for the vault: ")) != 1)
		return rc;
	return tier_error_raise(
	        TIER_EUSAGE,
	        "the vault is encrypted: give --password-file, "
	        "--password-command, TIER_PASSWORD_FILE or TIER_PASSWORD (no "
	        "terminal to ask on)");
}

int tool_password_new(char **out, size_t *len, const char *file,
                      const char *cmd, const struct tool_common *common,
                      const char *what)
{
	char *again = NULL;
	size_t alen = 0;
	int found = 0, rc;

	*out = NULL;
	*len = 0;
	if ((rc = interrupted()) < 0)
		return rc;
	if (file)
		return from_file(out, len, file);
	if (cmd)
		return from_command(out, len, cmd);
	if (common &&
	    ((rc = common_sources(out, len, common, &found)) < 0 || found))
		return rc;
	if ((rc = ask_tty(out, len, "New password: ")) == 1)
		return fail("no password for the new key: give %s (no terminal "
		            "to ask on)",
		            what);
	if (rc < 0)
		return rc;
	if ((rc = ask_tty(&again, &alen, "Repeat it: ")) != 0) {
		drop(out, len);
		return rc < 0 ? rc : fail("no terminal to ask on");
	}
	rc = alen == *len && !memcmp(again, *out, alen)
	             ? 0
	             : tier_error_raise(TIER_EUSAGE,
	                                "the passwords do not match");
	drop(&again, &alen);
	if (rc < 0)
		drop(out, len);
	return rc;
}
