/*
 * fault+ driver: failure injection around any other driver, for tests.
 *
 * The control file is read again on every call so that a test can change
 * the weather while a tool runs (the verbs are in docs/fault.md).  Calls
 * are counted per op and in total, per driver instance, from 1; a call is
 * counted whether or not a fault hits it.
 */
#include "driver/drivers.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/posix.h"

#define CONTROL_MAX  (1024 * 1024)
#define CRASH_STATUS 137

enum {
	OP_PING,
	OP_STAT,
	OP_GET,
	OP_PUT,
	OP_RENAME,
	OP_LIST,
	OP_REMOVE,
	OP_MKDIR,
	OP_COUNT,
	OP_ANY = OP_COUNT
};

static const char *const op_names[OP_COUNT] = {
        "ping", "stat", "get", "put", "rename", "list", "remove", "mkdir",
};

enum { TORN_NONE, TORN_DROP, TORN_KEEP, TORN_GARBLE };

typedef struct {
	tier_driver base;
	tier_driver *inner;
	char *control; /* NULL: pass-through */
	uint64_t calls[OP_COUNT];
	uint64_t total;
	uint64_t put_bytes; /* sum of the sizes of successful puts */
} fault_driver;

/* What the control file says about the current call. */
typedef struct {
	unsigned int delay_ms;
	int offline;
	int crash;
	int fail_code;
	const char *fail_kind;
	int enospc;
	int torn;
	char *log;  /* owned */
	uint64_t n; /* this call's number for its op */
} plan;

static fault_driver *fault_of(tier_driver *drv)
{
	return (fault_driver *)drv;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	if (!s || !*s || strspn(s, "0123456789") != strlen(s))
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	*out = v;
	return 0;
}

static int parse_op(const char *s)
{
	if (!s)
		return -1;
	if (!strcmp(s, "any"))
		return OP_ANY;
	for (int i = 0; i < OP_COUNT; i++)
		if (!strcmp(s, op_names[i]))
			return i;
	return -1;
}

/* "3", "3-5", "3-" (3 onwards) or "every" against call number n. */
static int range_match(const char *s, uint64_t n, int *bad)
{
	uint64_t lo, hi;
	const char *dash;
	*bad = 0;
	if (s && !strcmp(s, "every"))
		return 1;
	if (s && (dash = strchr(s, '-'))) {
		char first[32];
		size_t len = (size_t)(dash - s);
		if (len == 0 || len >= sizeof(first)) {
			*bad = 1;
			return 0;
		}
		memcpy(first, s, len);
		first[len] = '\0';
		if (parse_u64(first, &lo) < 0) {
			*bad = 1;
			return 0;
		}
		if (!dash[1])
			hi = UINT64_MAX;
		else if (parse_u64(dash + 1, &hi) < 0) {
			*bad = 1;
			return 0;
		}
		return n >= lo && n <= hi;
	}
	if (parse_u64(s, &lo) < 0) {
		*bad = 1;
		return 0;
	}
	return n == lo;
}

static const struct {
	const char *name;
	int code;
} kinds[] = {
        {"transient", TIER_EOFFLINE}, {"auth", TIER_EAUTH},
        {"corrupt", TIER_ECORRUPT},   {"enospc", TIER_ENOSPC},
        {"notfound", TIER_ENOTFOUND}, {"conflict", TIER_ECONFLICT},
        {"error", TIER_ERROR},
};

/* Index into kinds[] (no kind: transient), -1 if unknown. */
static int parse_kind(const char *kind)
{
	if (!kind)
		return 0;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strcmp(kind, kinds[i].name))
			return (int)i;
	return -1;
}

/* Does rule op `rop` (an op or OP_ANY) cover this call?  Sets the number to compare. */
static int op_applies(const fault_driver *f, int rop, int op, uint64_t *n)
{
	if (rop == OP_ANY) {
		*n = f->total;
		return 1;
	}
	*n = f->calls[op];
	return rop == op;
}

/*
 * Evaluate one line of the control file for the current call.  Lines that
 * do not parse are ignored: a half-written control file must not crash a
 * tool, and the tests check every verb they rely on.
 */
static void apply_line(const fault_driver *f, plan *pl, char *line, int op,
                       uint64_t size)
{
	char *save = NULL;
	char *w[5] = {0};
	int nw = 0, bad, rop;
	uint64_t n, v;
	for (char *t = strtok_r(line, " \t\r", &save); t && nw < 5;
	     t = strtok_r(NULL, " \t\r", &save))
		w[nw++] = t;
	if (!nw)
		return;
	if (!strcmp(w[0], "offline")) {
		pl->offline = 1;
	} else if (!strcmp(w[0], "delay")) {
		if (parse_u64(w[1], &v) == 0)
			pl->delay_ms = v > 600000 ? 600000 : (unsigned int)v;
	} else if (!strcmp(w[0], "fail")) {
		if ((rop = parse_op(w[1])) < 0 || !op_applies(f, rop, op, &n))
			return;
		int k = parse_kind(w[3]);
		if (k >= 0 && range_match(w[2], n, &bad) && !bad &&
		    !pl->fail_code) {
			/* Static strings: the control text is freed before the message is made. */
			pl->fail_code = kinds[k].code;
			pl->fail_kind = kinds[k].name;
		}
	} else if (!strcmp(w[0], "crash")) {
		if ((rop = parse_op(w[1])) >= 0 && op_applies(f, rop, op, &n) &&
		    parse_u64(w[2], &v) == 0 && n == v)
			pl->crash = 1;
	} else if (!strcmp(w[0], "torn")) {
		/* "torn <n> mode", or "torn put <n> mode": only puts can tear. */
		int i = (w[1] && !strcmp(w[1], "put")) ? 2 : 1;
		int mode = !w[i + 1]                     ? TORN_NONE
		           : !strcmp(w[i + 1], "drop")   ? TORN_DROP
		           : !strcmp(w[i + 1], "keep")   ? TORN_KEEP
		           : !strcmp(w[i + 1], "garble") ? TORN_GARBLE
		                                         : TORN_NONE;
		if (op == OP_PUT && mode != TORN_NONE &&
		    parse_u64(w[i], &v) == 0 && f->calls[OP_PUT] == v &&
		    !pl->torn)
			pl->torn = mode;
	} else if (!strcmp(w[0], "enospc")) {
		if (op != OP_PUT)
			return;
		if (!w[1])
			pl->enospc = 1;
		else if (parse_u64(w[1], &v) == 0 &&
		         (size > v || f->put_bytes > v - size))
			pl->enospc = 1;
	} else if (!strcmp(w[0], "log")) {
		/* The rest of the line, so that a path may hold spaces. */
		if (w[1]) {
			char *p = tier_strdup(w[1]);
			for (int i = 2; p && i < nw; i++) {
				tier_buf b = TIER_BUF_INIT;
				tier_buf_printf(&b, "%s %s", p, w[i]);
				free(p);
				p = tier_buf_detach(&b);
			}
			free(pl->log);
			pl->log = p;
		}
	}
}

static int read_plan(const fault_driver *f, plan *pl, int op, uint64_t size)
{
	tier_buf text = TIER_BUF_INIT;
	struct stat st;
	memset(pl, 0, sizeof(*pl));
	pl->n = f->calls[op];
	/* A missing control file is "no faults": test on purpose before reading. */
	if (!f->control || (stat(f->control, &st) < 0 && errno == ENOENT))
		return 0;
	if (tier_read_file(&text, f->control, CONTROL_MAX) < 0) {
		if (errno == ENOENT)
			return 0;
		tier_buf_dispose(&text);
		return tier_error_prefix("fault tier");
	}
	for (char *line = text.ptr, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		apply_line(f, pl, line, op, size);
	}
	tier_buf_dispose(&text);
	return 0;
}

static void log_call(const plan *pl, int op, const char *path,
                     const char *path2, const char *result)
{
	if (!pl->log)
		return;
	tier_buf line = TIER_BUF_INIT;
	if (tier_buf_printf(&line, "%s %s%s%s -> %s\n", op_names[op],
	                    path && *path ? path : "/", path2 ? " " : "",
	                    path2 ? path2 : "", result) < 0)
		return;
	/* One write per line with O_APPEND: lines of several processes stay whole. */
	int fd = open(pl->log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
	if (fd >= 0) {
		int e = errno;
		if (write(fd, line.ptr, line.size) < 0)
			errno = e; /* best effort: a log must not change the result */
		close(fd);
	}
	tier_buf_dispose(&line);
}

/* Count the call, read the control file and decide; 0 means "go on". */
static int begin(fault_driver *f, plan *pl, int op, const char *path,
                 const char *path2, uint64_t size)
{
	f->calls[op]++;
	f->total++;
	int rc = read_plan(f, pl, op, size);
	if (rc < 0)
		return rc;
	if (pl->delay_ms)
		tier_sleep_ms(pl->delay_ms);
	if (pl->crash) {
		log_call(pl, op, path, path2, "crash");
		_exit(CRASH_STATUS);
	}
	const char *what = path && *path ? path : "/";
	if (pl->offline)
		return tier_error_set(TIER_EOFFLINE,
		                      "injected fault: tier is offline");
	if (pl->fail_code)
		return tier_error_set(pl->fail_code,
		                      "injected fault: %s '%s' (call %llu): %s",
		                      op_names[op], what,
		                      (unsigned long long)pl->n, pl->fail_kind);
	if (pl->enospc)
		return tier_error_set(TIER_ENOSPC,
		                      "injected fault: no space left for '%s'",
		                      what);
	return 0;
}

static int finish(plan *pl, int op, const char *path, const char *path2, int rc)
{
	log_call(pl, op, path, path2, tier_error_name(rc));
	free(pl->log);
	pl->log = NULL;
	return rc;
}

static int fault_ping(tier_driver *drv)
{
	fault_driver *f = fault_of(drv);
	plan pl;
	int rc = begin(f, &pl, OP_PING, "", NULL, 0);
	if (rc == 0)
		rc = f->inner->ping(f->inner);
	return finish(&pl, OP_PING, "", NULL, rc);
}

static int fault_stat(tier_driver *drv, const char *path, tier_stat *out)
{
	fault_driver *f = fault_of(drv);
	plan pl;
	int rc = begin(f, &pl, OP_STAT, path, NULL, 0);
	if (rc == 0)
		rc = f->inner->stat(f->inner, path, out);
	return finish(&pl, OP_STAT, path, NULL, rc);
}

static int fault_get(tier_driver *drv, const char *path, uint64_t offset,
                     uint64_t len, tier_sink_cb sink, void *payload)
{
	fault_driver *f = fault_of(drv);
	plan pl;
	int rc = begin(f, &pl, OP_GET, path, NULL, 0);
	if (rc == 0)
		rc = f->inner->get(f->inner, path, offset, len, sink, payload);
	return finish(&pl, OP_GET, path, NULL, rc);
}

/* The first want bytes of the source, in memory (torn writes only). */
static int source_bytes(char **out, const tier_source *src, size_t want)
{
	*out = tier_malloc(want);
	if (!*out)
		return TIER_ERROR;
	if (src->data) {
		memcpy(*out, src->data, want);
		return 0;
	}
	int rc = tier_pread_all(src->fd, *out, want, 0, NULL, "put source");
	if (rc < 0) {
		free(*out);
		*out = NULL;
		return rc;
	}
	return 0;
}

/*
 * A torn put: what a broken link or a crash leaves behind, then the error
 * the caller would have seen (the link broke: offline).
 */
static int torn_put(fault_driver *f, int mode, const char *path,
                    const tier_source *src, unsigned int flags)
{
	const char *mode_name = mode == TORN_DROP   ? "drop"
	                        : mode == TORN_KEEP ? "keep"
	                                            : "garble";
	if (src->size > SIZE_MAX)
		return tier_error_set(TIER_EUSAGE, "source for '%s' too large",
		                      path);
	size_t size = (size_t)src->size;
	if (mode != TORN_DROP) {
		tier_buf name = TIER_BUF_INIT;
		size_t want = mode == TORN_KEEP ? size / 2 : size;
		char *bytes = NULL;
		int rc = source_bytes(&bytes, src, want);
		if (rc < 0)
			return rc;
		if (mode == TORN_GARBLE && size > 0) {
			/* A store that lies: the name is there, the bytes are not. */
			bytes[size / 2] ^= 0x5a;
			bytes[size - 1] ^= 0xa5;
			bytes[0] ^= 0x01;
		}
		tier_source part = {bytes, -1, want, NULL};
		if (mode == TORN_KEEP)
			rc = tier_temp_name(&name, path);
		if (rc == 0)
			rc = f->inner->put(
			        f->inner, mode == TORN_KEEP ? name.ptr : path,
			        &part, mode == TORN_KEEP ? 0 : flags);
		free(bytes);
		tier_buf_dispose(&name);
		if (rc < 0)
			return rc;
	}
	return tier_error_set(TIER_EOFFLINE,
	                      "injected fault: put '%s' torn (%s): link lost",
	                      path, mode_name);
}

static int fault_put(tier_driver *drv, const char *path, const tier_source *src,
                     unsigned int flags)
{
	fault_driver *f = fault_of(drv);
	plan pl;
	int rc = begin(f, &pl, OP_PUT, path, NULL, src->size);
	if (rc == 0 && pl.torn)
		rc = torn_put(f, pl.torn, path, src, flags);
	else if (rc == 0) {
		rc = f->inner->put(f->inner, path, src, flags);
		if (rc == 0)
			f->put_bytes += src->size;
	}
	return finish(&pl, OP_PUT, path, NULL, rc);
}

static int fault_rename(tier_driver *drv, const char *from, const char *to)
{
	fault_driver *f = fault_of(drv);
	plan pl;
	int rc = begin(f, &pl, OP_RENAME, from, to, 0);
	if (rc == 0)
		rc = f->inner->rename(f->inner, from, to);
	return finish(&pl, OP_RENAME, from, to, rc);
}

static int fault_list(tier_driver *drv, const char *dir, tier_list_cb cb,
                      void *payload)
{
	fault_driver *f = fault_of(drv);
	plan pl;
	int rc = begin(f, &pl, OP_LIST, dir, NULL, 0);
	if (rc == 0)
		rc = f->inner->list(f->inner, dir, cb, payload);
	return finish(&pl, OP_LIST, dir, NULL, rc);
}

static int fault_remove(tier_driver *drv, const char *path)
{
	fault_driver *f = fault_of(drv);
	plan pl;
	int rc = begin(f, &pl, OP_REMOVE, path, NULL, 0);
	if (rc == 0)
		rc = f->inner->remove(f->inner, path);
	return finish(&pl, OP_REMOVE, path, NULL, rc);
}

static int fault_mkdir_p(tier_driver *drv, const char *path)
{
	fault_driver *f = fault_of(drv);
	plan pl;
	int rc = begin(f, &pl, OP_MKDIR, path, NULL, 0);
	if (rc == 0)
		rc = f->inner->mkdir_p(f->inner, path);
	return finish(&pl, OP_MKDIR, path, NULL, rc);
}

static void fault_free(tier_driver *drv)
{
	fault_driver *f = fault_of(drv);
	if (!f)
		return;
	if (f->inner)
		f->inner->free(f->inner);
	free(f->control);
	free(f);
}

int tier_driver_fault_open(tier_driver **out, const tier_url *url,
                           const tier_location_options *opts)
{
	*out = NULL;
	if (!url->inner)
		return tier_error_set(TIER_EUSAGE,
		                      "fault tier without an inner url");
	fault_driver *f = tier_calloc(1, sizeof(*f));
	if (!f)
		return TIER_ERROR;
	const char *control = url->fault_control;
	if (!control || !*control)
		control = getenv("TIER_FAULT_CONTROL");
	if (control && *control && !(f->control = tier_strdup(control))) {
		free(f);
		return TIER_ERROR;
	}
	int rc = tier_driver_open(&f->inner, url->inner, opts);
	if (rc < 0) {
		free(f->control);
		free(f);
		return rc;
	}
	f->base.version = TIER_DRIVER_VERSION;
	f->base.caps = f->inner->caps;
	f->base.ping = fault_ping;
	f->base.stat = fault_stat;
	f->base.get = fault_get;
	f->base.put = fault_put;
	f->base.rename = fault_rename;
	f->base.list = fault_list;
	f->base.remove = fault_remove;
	f->base.mkdir_p = fault_mkdir_p;
	f->base.free = fault_free;
	*out = &f->base;
	return 0;
}
