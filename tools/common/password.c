#include "password.h"

#include <errno.h>
#include <fcntl.h>
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

/* The first line of what f gives, without "\n" or "\r\n". */
static int first_line(char **out, size_t *len, FILE *f, const char *what)
{
	char *buf = malloc(PW_MAX + 2);
	size_t n = 0;
	int c;
	if (!buf)
		return tier_error_raise(TIER_ERROR, "out of memory");
	while ((c = fgetc(f)) != EOF && c != '\n' && n <= PW_MAX)
		buf[n++] = (char)c;
	if (n > PW_MAX) {
		wipe(buf, n);
		free(buf);
		return fail("the password from %s is longer than %d bytes",
		            what, PW_MAX);
	}
	if (n && buf[n - 1] == '\r')
		n--;
	if (!n) {
		free(buf);
		return fail("the password from %s is empty", what);
	}
	*out = buf;
	*len = n;
	return 0;
}

static int from_file(char **out, size_t *len, const char *path)
{
	FILE *f = fopen(path, "r");
	char what[4200];
	int rc;
	if (!f)
		return fail("cannot read the password file '%s': %s", path,
		            strerror(errno));
	snprintf(what, sizeof(what), "'%s'", path);
	rc = first_line(out, len, f, what);
	fclose(f);
	return rc;
}

static int from_command(char **out, size_t *len, const char *cmd)
{
	FILE *f = popen(cmd, "r");
	char what[4200];
	int rc, st;
	if (!f)
		return fail("cannot run the password command '%s'", cmd);
	snprintf(what, sizeof(what), "the command '%s'", cmd);
	rc = first_line(out, len, f, what);
	/* read to the end, so the command does not die of SIGPIPE */
	while (fgetc(f) != EOF)
		;
	st = pclose(f);
	if (st != 0) {
		if (rc == 0) {
			wipe(*out, *len);
			free(*out);
			*out = NULL;
		}
		return fail("the password command '%s' failed (exit %d)", cmd,
		            WIFEXITED(st) ? WEXITSTATUS(st) : 128);
	}
	return rc;
}

/* Ask on /dev/tty without echo; 1 when there is no terminal. */
static int ask_tty(char **out, size_t *len, const char *prompt)
{
	struct termios old, quiet;
	sigset_t block, prev;
	FILE *tty = fopen("/dev/tty", "r+");
	int rc;
	if (!tty)
		return 1;
	if (!isatty(fileno(tty)) || tcgetattr(fileno(tty), &old) < 0) {
		fclose(tty);
		return 1;
	}
	/* no ^C between echo off and echo back on */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGTSTP);
	sigprocmask(SIG_BLOCK, &block, &prev);
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	quiet.c_lflag |= ECHONL;
	fputs(prompt, tty);
	fflush(tty);
	tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
	rc = first_line(out, len, tty, "the terminal");
	tcsetattr(fileno(tty), TCSAFLUSH, &old);
	sigprocmask(SIG_SETMASK, &prev, NULL);
	fclose(tty);
	return rc;
}

static int common_sources(char **out, size_t *len, const struct tool_common *c,
                          int *found)
{
	const char *e;
	*found = 1;
	if (c && c->password_file)
		return from_file(out, len, c->password_file);
	if (c && c->password_command)
		return from_command(out, len, c->password_command);
	if ((e = getenv("TIER_PASSWORD_FILE")) && *e)
		return from_file(out, len, e);
	if ((e = getenv("TIER_PASSWORD")) && *e) {
		if (strlen(e) > PW_MAX)
			return fail("the password from %s is longer than %d "
			            "bytes",
			            "$TIER_PASSWORD", PW_MAX);
		if (!(*out = strdup(e)))
			return tier_error_raise(TIER_ERROR, "out of memory");
		*len = strlen(e);
		return 0;
	}
	*found = 0;
	return 0;
}

int tool_password(char **out, size_t *len, void *payload)
{
	int found, rc = common_sources(out, len, payload, &found);
	if (found)
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
	if (rc < 0 || (rc = ask_tty(&again, &alen, "Repeat it: ")) != 0) {
		wipe(*out, *len);
		free(*out);
		*out = NULL;
		return rc < 0 ? rc : fail("no terminal to ask on");
	}
	rc = alen == *len && !memcmp(again, *out, alen)
	             ? 0
	             : tier_error_raise(TIER_EUSAGE,
	                                "the passwords do not match");
	wipe(again, alen);
	free(again);
	if (rc < 0) {
		wipe(*out, *len);
		free(*out);
		*out = NULL;
	}
	return rc;
}
