/* Pre/post scripts (hooks.h). */
#include "hooks.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "exitcodes.h"
#include "opt.h"
#include "output.h"
#include "tier/config.h"
#include "tier/errors.h"

static char *dup_or_null(const char *s)
{
	return s && *s ? strdup(s) : NULL;
}

int tool_hooks_load(struct tool_hooks *h, const char *state_dir)
{
	memset(h, 0, sizeof(*h));
	h->timeout_s = TOOL_HOOK_TIMEOUT_S;
	if (!state_dir)
		return 0;
	tier_config *cfg;
	int rc = tier_config_open(&cfg, state_dir);
	if (rc < 0)
		return tool_fail(rc);
	const char *s = NULL;
	if (tier_config_get_string(&s, cfg, "hooks.prePush") == 0)
		h->pre = dup_or_null(s);
	s = NULL;
	if (tier_config_get_string(&s, cfg, "hooks.postPush") == 0)
		h->post = dup_or_null(s);
	s = NULL;
	if (tier_config_get_string(&s, cfg, "vault.id") == 0)
		h->vault_id = dup_or_null(s);
	uint64_t t;
	if (tier_config_get_seconds(&t, cfg, "hooks.timeout") == 0 && t > 0)
		h->timeout_s = t;
	h->state_dir = strdup(state_dir);
	tier_config_free(cfg);
	return 0;
}

void tool_hooks_dispose(struct tool_hooks *h)
{
	free(h->pre);
	free(h->post);
	free(h->vault_id);
	free(h->state_dir);
	memset(h, 0, sizeof(*h));
}

static void set_env(const char *name, const char *value)
{
	if (value)
		setenv(name, value, 1);
	else
		unsetenv(name);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for pid until deadline_ms (-1: for ever); 1 when it ended. */
static int wait_until(pid_t pid, int *status, int64_t deadline_ms,
                      int watch_interrupt)
{
	const struct timespec tick = {0, 10 * 1000 * 1000};
	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);
		if (r == pid || (r < 0 && errno != EINTR))
			return 1;
		if (deadline_ms >= 0 && now_ms() >= deadline_ms)
			return 0;
		if (watch_interrupt && tool_interrupted())
			return 0;
		nanosleep(&tick, NULL);
	}
}

/* The hook's whole group: TERM, a moment to clean up, then KILL. */
static void kill_group(pid_t pid, int *status)
{
	kill(-pid, SIGTERM);
	if (!wait_until(pid, status, now_ms() + 500, 0)) {
		kill(-pid, SIGKILL);
		waitpid(pid, status, 0);
	}
	kill(-pid, SIGKILL); /* what it left behind in the group */
}

/* One line on stderr, and the error object with --json (a push that a
 * pre-hook stopped printed nothing yet). */
static int hook_fail(const char *fmt, ...) TOOL_PRINTF(1, 2);
static int hook_fail(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	tool_error("%s", msg);
	tool_json_error(tier_error_name(TIER_ERROR), 1, msg);
	return 1;
}

int tool_hook_run(const struct tool_hooks *h, const char *key, const char *cmd,
                  const char *revision, const char *result)
{
	set_env("TIER_VAULT", h->vault_id);
	set_env("TIER_STATE_DIR", h->state_dir);
	set_env("TIER_HOOK", strchr(key, '.') + 1);
	set_env("TIER_REVISION", revision);
	set_env("TIER_RESULT", result);
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0) {
		return hook_fail("cannot run %s: %s", key, strerror(errno));
	}
	if (pid == 0) {
		setpgid(0, 0);
		/* stdout is the tool's (the revision number): hooks say
		 * things on stderr only */
		dup2(STDERR_FILENO, STDOUT_FILENO);
		signal(SIGPIPE, SIG_DFL);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	setpgid(pid, pid);
	int status = 0;
	int64_t deadline = now_ms() + (int64_t)h->timeout_s * 1000;
	if (!wait_until(pid, &status, deadline, 1)) {
		int interrupted = tool_interrupted();
		kill_group(pid, &status);
		if (interrupted) {
			hook_fail("%s interrupted, killed", key);
			return TOOL_EXIT_INTERRUPTED;
		}
		hook_fail("%s timed out after %llu s (hooks.timeout), killed",
		          key, (unsigned long long)h->timeout_s);
		return 1;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status))
		hook_fail("%s exited with status %d", key, WEXITSTATUS(status));
	else
		hook_fail("%s killed by signal %d", key,
		          WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	return 1;
}
