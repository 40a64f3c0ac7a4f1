/* The fault+ driver around a file:// tier, driven by its control file. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "driver/drivers.h"
#include "helpers.h"
#include "tier/errors.h"
#include "util/buf.h"

static char dir[4096];
static char root[4096];
static char control[4200];
static tier_url inner, outer;
static tier_driver *drv;

static void setup(void)
{
	const char *d = tt_tmpdir();
	cr_assert_not_null(d);
	strcpy(dir, d);
	snprintf(root, sizeof(root), "%s/tier", dir);
	snprintf(control, sizeof(control), "%s/control", dir);
	cr_assert_eq(mkdir(root, 0777), 0);
	memset(&inner, 0, sizeof(inner));
	inner.scheme = "file";
	inner.path = root;
	memset(&outer, 0, sizeof(outer));
	outer.scheme = "fault";
	outer.inner = &inner;
	outer.fault_control = control;
	cr_assert_eq(tier_driver_open(&drv, &outer, NULL), 0, "%s",
	             tier_error_last());
}

static void teardown(void)
{
	if (drv)
		drv->free(drv);
	drv = NULL;
	tt_rmrf(dir);
}

TestSuite(driver_fault, .init = setup, .fini = teardown);

/* Replace the control file the way a test script would (atomically). */
static void ctl(const char *text)
{
	const char *tmp = tt_path("%s/control.new", dir);
	cr_assert_eq(tt_write_file(tmp, text, strlen(text)), 0);
	cr_assert_eq(rename(tmp, control), 0);
}

static int put(const char *path, const char *text)
{
	tier_source src = {text, -1, strlen(text), NULL};
	return drv->put(drv, path, &src, 0);
}

static int stat_of(const char *path)
{
	tier_stat st;
	return drv->stat(drv, path, &st);
}

static int ignore_sink(const void *data, size_t len, void *payload)
{
	tier_buf *b = payload;
	return b ? tier_buf_put(b, data, len) : 0;
}

static int get(const char *path, tier_buf *out)
{
	return drv->get(drv, path, 0, UINT64_MAX, ignore_sink, out);
}

static int count_cb(const char *name, const tier_stat *st, void *payload)
{
	(*(int *)payload)++;
	return 0;
}

static int count_entries(const char *path, const char *needle)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;
	if (!d)
		return 0;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' &&
		    (!needle || strstr(de->d_name, needle)))
			n++;
	closedir(d);
	return n;
}

Test(driver_fault, pass_through)
{
	tier_buf b = TIER_BUF_INIT;
	/* No control file at all: nothing injected. */
	cr_assert_eq(drv->caps,
	             TIER_DRIVER_CAP_RENAME_OVERWRITE |
	                     TIER_DRIVER_CAP_EXCLUSIVE | TIER_DRIVER_CAP_DIRS |
	                     TIER_DRIVER_CAP_RENAME,
	             "caps are the inner driver's");
	cr_assert_eq(drv->ping(drv), 0, "%s", tier_error_last());
	cr_assert_eq(put("a/b", "hello"), 0, "%s", tier_error_last());
	cr_assert_eq(get("a/b", &b), 0);
	cr_assert_str_eq(tier_buf_cstr(&b), "hello");
	cr_assert_eq(drv->rename(drv, "a/b", "a/c"), 0);
	cr_assert_eq(stat_of("a/b"), TIER_ENOTFOUND,
	             "inner errors pass through");
	cr_assert_eq(drv->mkdir_p(drv, "m/n"), 0);
	int n = 0;
	cr_assert_eq(drv->list(drv, "a", count_cb, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(drv->remove(drv, "a/c"), 0);
	/* Comments and blank lines are no faults either. */
	ctl("# offline\n\n   # fail any every\n");
	cr_assert_eq(drv->ping(drv), 0);
	tier_buf_dispose(&b);
}

Test(driver_fault, offline_and_back)
{
	cr_assert_eq(put("x", "1"), 0);
	ctl("offline\n");
	cr_assert_eq(drv->ping(drv), TIER_EOFFLINE);
	cr_assert_eq(tier_error_last_code(), TIER_EOFFLINE);
	cr_assert_eq(stat_of("x"), TIER_EOFFLINE);
	cr_assert_eq(get("x", NULL), TIER_EOFFLINE);
	cr_assert_eq(put("y", "2"), TIER_EOFFLINE);
	cr_assert_eq(drv->rename(drv, "x", "z"), TIER_EOFFLINE);
	cr_assert_eq(drv->list(drv, "", NULL, NULL), TIER_EOFFLINE);
	cr_assert_eq(drv->remove(drv, "x"), TIER_EOFFLINE);
	cr_assert_eq(drv->mkdir_p(drv, "d"), TIER_EOFFLINE);
	cr_assert_eq(count_entries(root, NULL), 1,
	             "nothing reached the inner tier");

	/* The control file is read on every call: removing it brings the tier back. */
	cr_assert_eq(unlink(control), 0);
	cr_assert_eq(drv->ping(drv), 0);
	cr_assert_eq(put("y", "2"), 0);
	ctl("offline # again\n");
	cr_assert_eq(stat_of("y"), TIER_EOFFLINE);
	ctl("delay 0\n");
	cr_assert_eq(stat_of("y"), 0);
}

Test(driver_fault, fail_nth_call)
{
	ctl("fail put 2\n");
	cr_assert_eq(put("p1", "1"), 0);
	cr_assert_eq(stat_of("p1"), 0, "other ops do not count as puts");
	cr_assert_eq(put("p2", "2"), TIER_EOFFLINE);
	cr_assert(strstr(tier_error_last(), "p2"), "%s", tier_error_last());
	cr_assert_eq(stat_of("p2"), TIER_ENOTFOUND,
	             "a failed put wrote nothing");
	cr_assert_eq(put("p3", "3"), 0, "only the 2nd call fails");
	cr_assert_eq(put("p2", "2"), 0);
}

Test(driver_fault, fail_ranges)
{
	cr_assert_eq(put("o", "x"), 0);
	ctl("fail get 2-3\nfail stat every auth\n");
	cr_assert_eq(get("o", NULL), 0);
	cr_assert_eq(get("o", NULL), TIER_EOFFLINE);
	cr_assert_eq(get("o", NULL), TIER_EOFFLINE);
	cr_assert_eq(get("o", NULL), 0);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(stat_of("o"), TIER_EAUTH);

	/* "any" counts every call of the instance (8 so far). */
	ctl("fail any 10\n");
	cr_assert_eq(drv->ping(drv), 0);             /* 9 */
	cr_assert_eq(drv->ping(drv), TIER_EOFFLINE); /* 10 */
	cr_assert_eq(stat_of("o"), 0);               /* 11 */

	/* Open-ended range: from the 2nd list on. */
	int n = 0;
	ctl("fail list 2-\n");
	cr_assert_eq(drv->list(drv, "", count_cb, &n), 0);
	cr_assert_eq(n, 1);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(drv->list(drv, "", NULL, NULL), TIER_EOFFLINE);
}

Test(driver_fault, fail_kinds)
{
	static const struct {
		const char *kind;
		int code;
	} kinds[] = {
	        {"", TIER_EOFFLINE},     {"transient", TIER_EOFFLINE},
	        {"auth", TIER_EAUTH},    {"corrupt", TIER_ECORRUPT},
	        {"enospc", TIER_ENOSPC}, {"notfound", TIER_ENOTFOUND},
	};
	char text[128];
	cr_assert_eq(put("o", "x"), 0);
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		snprintf(text, sizeof(text), "fail stat every %s\n",
		         kinds[i].kind);
		ctl(text);
		cr_assert_eq(stat_of("o"), kinds[i].code, "kind '%s'",
		             kinds[i].kind);
		cr_assert_eq(tier_error_last_code(), kinds[i].code);
		cr_assert(strstr(tier_error_last(), "injected"), "%s",
		          tier_error_last());
	}
	/* Unknown verbs, kinds and ops are ignored, not fatal. */
	ctl("frobnicate 3\nfail stat every sometimes\nfail teleport every\nfail stat\n"
	    "torn\ndelay\nenospc lots\ncrash\ncrash stat\n");
	cr_assert_eq(stat_of("o"), 0, "%s", tier_error_last());
}

Test(driver_fault, torn_drop)
{
	ctl("torn 2 drop\n");
	cr_assert_eq(put("d/one", "first object"), 0);
	cr_assert_eq(put("d/two", "second object"), TIER_EOFFLINE);
	cr_assert(strstr(tier_error_last(), "torn"), "%s", tier_error_last());
	cr_assert_eq(count_entries(tt_path("%s/d", root), NULL), 1,
	             "nothing of 'two'");
	cr_assert_eq(put("d/two", "second object"), 0,
	             "the 3rd put goes through");
}

Test(driver_fault, torn_keep)
{
	const char *text = "0123456789abcdefghij"; /* 20 bytes */
	ctl("torn put 1 keep\n");
	cr_assert_eq(put("d/obj", text), TIER_EOFFLINE);
	cr_assert_neq(access(tt_path("%s/d/obj", root), F_OK), 0,
	              "never visible under its final name");
	cr_assert_eq(count_entries(tt_path("%s/d", root), "obj.tmp-"), 1,
	             "a leftover temp file beside it");
	DIR *d = opendir(tt_path("%s/d", root));
	struct dirent *de;
	while ((de = readdir(d)))
		if (strstr(de->d_name, "obj.tmp-")) {
			size_t len;
			char *c = tt_read_file(
			        tt_path("%s/d/%s", root, de->d_name), &len);
			cr_assert_eq(len, 10, "truncated to half");
			cr_assert_eq(memcmp(c, text, 10), 0);
			free(c);
		}
	closedir(d);
	/* The leftover is not an object of the tier. */
	cr_assert_eq(unlink(control), 0);
	int n = 0;
	cr_assert_eq(stat_of("d/obj"), TIER_ENOTFOUND);
	cr_assert_eq(drv->list(drv, "d", count_cb, &n), 0);
	cr_assert_eq(n, 0);
}

Test(driver_fault, torn_garble)
{
	const char *text = "0123456789abcdefghij";
	tier_buf b = TIER_BUF_INIT;
	ctl("torn 1 garble\n");
	cr_assert_eq(put("obj", text), TIER_EOFFLINE);
	cr_assert_eq(unlink(control), 0);
	cr_assert_eq(get("obj", &b), 0, "the name is there");
	cr_assert_eq(b.size, 20);
	cr_assert_neq(memcmp(b.ptr, text, 20), 0, "but the bytes lie");
	tier_buf_dispose(&b);
}

Test(driver_fault, enospc_quota)
{
	char sixty[61], forty[41];
	memset(sixty, 's', 60);
	sixty[60] = '\0';
	memset(forty, 'f', 40);
	forty[40] = '\0';

	ctl("enospc\n");
	cr_assert_eq(put("a", "x"), TIER_ENOSPC);
	cr_assert_eq(stat_of("a"), TIER_ENOTFOUND,
	             "nothing written, other ops fine");

	ctl("enospc 100\n");
	cr_assert_eq(put("b", sixty), 0, "%s", tier_error_last());
	cr_assert_eq(put("c", sixty), TIER_ENOSPC, "60 + 60 > 100");
	cr_assert_eq(stat_of("c"), TIER_ENOTFOUND);
	cr_assert_eq(put("d", forty), 0, "60 + 40 fits exactly");
	cr_assert_eq(put("e", "1"), TIER_ENOSPC);
	ctl("");
	cr_assert_eq(put("e", "1"), 0, "%s", tier_error_last());
}

Test(driver_fault, delay)
{
	struct timespec t0, t1;
	ctl("delay 30\n");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cr_assert_eq(drv->ping(drv), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long ms = (t1.tv_sec - t0.tv_sec) * 1000 +
	          (t1.tv_nsec - t0.tv_nsec) / 1000000;
	cr_assert_geq(ms, 30, "took %ld ms", ms);
}

Test(driver_fault, log_lines)
{
	const char *logp = tt_path("%s/fault.log", dir);
	char text[4400];
	snprintf(text, sizeof(text), "log %s\nfail get 1 notfound\n", logp);
	ctl(text);
	cr_assert_eq(drv->ping(drv), 0);
	cr_assert_eq(put("a/b", "x"), 0);
	cr_assert_eq(get("a/b", NULL), TIER_ENOTFOUND);
	cr_assert_eq(drv->rename(drv, "a/b", "a/c"), 0);
	cr_assert_eq(stat_of("a/b"), TIER_ENOTFOUND);
	size_t len;
	char *log = tt_read_file(logp, &len);
	cr_assert_not_null(log);
	cr_assert_str_eq(log, "ping / -> ok\n"
	                      "put a/b -> ok\n"
	                      "get a/b -> not found\n"
	                      "rename a/b a/c -> ok\n"
	                      "stat a/b -> not found\n");
	free(log);
}

Test(driver_fault, crash_in_child)
{
	const char *logp = tt_path("%s/fault.log", dir);
	char text[4400];
	snprintf(text, sizeof(text), "crash put 2\nlog %s\n", logp);
	ctl(text);
	fflush(NULL);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		if (put("one", "1") != 0)
			_exit(1);
		put("two", "2");
		_exit(0); /* not reached when the crash verb works */
	}
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status));
	cr_assert_eq(WEXITSTATUS(status), 137);
	cr_assert_eq(access(tt_path("%s/one", root), F_OK), 0);
	cr_assert_neq(access(tt_path("%s/two", root), F_OK), 0,
	              "crashed before the inner put");
	char *log = tt_read_file(logp, NULL);
	cr_assert_str_eq(log, "put one -> ok\nput two -> crash\n");
	free(log);
}

Test(driver_fault, control_from_environment)
{
	tier_driver *d = NULL;
	tier_url u = outer;
	u.fault_control = NULL;
	cr_assert_eq(setenv("TIER_FAULT_CONTROL", control, 1), 0);
	cr_assert_eq(tier_driver_open(&d, &u, NULL), 0, "%s",
	             tier_error_last());
	ctl("offline\n");
	cr_assert_eq(d->ping(d), TIER_EOFFLINE);
	d->free(d);

	/* Neither URL nor environment: a plain pass-through. */
	cr_assert_eq(unsetenv("TIER_FAULT_CONTROL"), 0);
	cr_assert_eq(tier_driver_open(&d, &u, NULL), 0);
	cr_assert_eq(d->ping(d), 0);
	d->free(d);
}

Test(driver_fault, needs_inner)
{
	tier_driver *d = (tier_driver *)1;
	tier_url u = {0};
	u.scheme = "fault";
	cr_assert_eq(tier_driver_open(&d, &u, NULL), TIER_EUSAGE);
	cr_assert_null(d);
}
