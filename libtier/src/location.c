/*
 * tier_location: an opened tier and its reconnect layer (SPEC R1).
 *
 * Every primitive goes through tier_retry_run_ex(): TIER_EOFFLINE from the
 * driver is retried with back-off, any other code is returned at once.
 * When the attempts of one call run out, the location is marked offline
 * and later calls fail at once, without touching the driver, until
 * tier_location_reset().  See docs/retry.md.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "retry.h"
#include "util/redact.h"
#include "tier/sys/driver.h"
#include "util/buf.h"

#define MSG_MAX 1024

/* Shorter passwords would match ordinary words of a message. */

struct tier_location {
	tier_url *url;
	char *display;
	tier_driver *drv;
	tier_location_options
	        opts; /* callbacks and payload; strings unused after open */
	tier_retry_policy policy;
	uint64_t rng;
	uint64_t attempts;
	int offline;
	char offline_why[MSG_MAX]; /* last driver error when it went offline */
	/* a refused login stays refused for this process: asking again costs
	 * the server's failed-login delay each time (seconds on PAM) */
	int refused;
	char refused_why[MSG_MAX];
};

enum op {
	OP_PING,
	OP_STAT,
	OP_GET,
	OP_PUT,
	OP_RENAME,
	OP_LIST,
	OP_REMOVE,
	OP_MKDIR,
};

static const char *const op_names[] = {
        "ping", "stat", "get", "put", "rename", "list", "remove", "mkdir",
};

/* One listed name, buffered until the listing completed. */
typedef struct {
	tier_stat st;
	char name[];
} list_entry;

/* One primitive call with its arguments, re-run by the retry loop. */
struct call {
	tier_location *loc;
	enum op op;
	const char *path, *path2;
	tier_stat *st;
	/* get: the caller's range and how much of it the sink has had */
	uint64_t offset, len, delivered;
	tier_sink_cb sink;
	void *sink_payload;
	int sink_stopped;
	const tier_source *src;
	unsigned int flags;
	/* list */
	tier_vec entries;
	int list_oom;
};

static const char *loc_name(const tier_location *loc)
{
	return loc->url->name && *loc->url->name ? loc->url->name : "tier";
}

/*
 * A driver should never put a credential in a message; if one shows a
 * URL with its password or a secret query key, they do not reach the user
 * through us.  By the URL's fields, never by the password's text: a short
 * password would eat ordinary words ("port", "Operation").
 */
static void scrub_password(const tier_location *loc, int code)
{
	tier_buf b = TIER_BUF_INIT;
	int rc = tier_redact_urls(&b, tier_error_last());
	if (rc > 0)
		tier_error_set(code, "%s", tier_buf_cstr(&b));
	else if (rc < 0)
		tier_error_set(code, "tier '%s': error message withheld",
		               loc_name(loc));
	tier_buf_dispose(&b);
}

static void free_entries(struct call *c)
{
	tier_vec_dispose(&c->entries, free);
	c->entries = (tier_vec)TIER_VEC_INIT;
}

static int get_sink(const void *data, size_t len, void *payload)
{
	struct call *c = payload;
	if (c->len != UINT64_MAX && len > c->len - c->delivered)
		len = (size_t)(c->len -
		               c->delivered); /* a driver sending too much */
	if (len == 0)
		return 0;
	c->delivered += len;
	if (c->sink(data, len, c->sink_payload)) {
		c->sink_stopped = 1;
		return 1;
	}
	return 0;
}

static int list_collect(const char *name, const tier_stat *st, void *payload)
{
	struct call *c = payload;
	size_t n = strlen(name), sz;
	list_entry *e;
	if (tier_add_overflow(&sz, sizeof(*e) + 1, n) < 0 ||
	    !(e = tier_malloc(sz))) {
		c->list_oom = 1;
		return 1;
	}
	e->st = *st;
	memcpy(e->name, name, n + 1);
	if (tier_vec_push(&c->entries, e) < 0) {
		free(e);
		c->list_oom = 1;
		return 1;
	}
	return 0;
}

/* One attempt: the retry loop's op. */
static int attempt(void *arg)
{
	struct call *c = arg;
	tier_location *loc = c->loc;
	tier_driver *d = loc->drv;
	int rc = 0;

	if (c->op == OP_GET && c->delivered > 0 && c->len != UINT64_MAX &&
	    c->delivered >= c->len)
		return 0; /* the whole range arrived before the failure */

	loc->attempts++;
	tier_error_clear();
	switch (c->op) {
	case OP_PING:
		rc = d->ping(d);
		break;
	case OP_STAT:
		rc = d->stat(d, c->path, c->st);
		break;
	case OP_GET: {
		uint64_t off = c->offset + c->delivered;
		uint64_t len = c->len == UINT64_MAX ? UINT64_MAX
		                                    : c->len - c->delivered;
		if (off < c->offset)
			return tier_error_set(
			        TIER_EUSAGE,
			        "tier '%s': get '%s': offset overflow",
			        loc_name(loc), c->path);
		rc = d->get(d, c->path, off, len, get_sink, c);
		if (c->sink_stopped)
			return tier_error_set(
			        TIER_EABORTED,
			        "tier '%s': get '%s' stopped by the receiver",
			        loc_name(loc), c->path);
		break;
	}
	case OP_PUT:
		rc = d->put(d, c->path, c->src, c->flags);
		break;
	case OP_RENAME:
		rc = d->rename(d, c->path, c->path2);
		break;
	case OP_LIST:
		free_entries(c); /* a retry lists afresh */
		rc = d->list(d, c->path, list_collect, c);
		if (c->list_oom) {
			free_entries(c);
			return tier_error_set(TIER_ERROR, "out of memory");
		}
		break;
	case OP_REMOVE:
		rc = d->remove(d, c->path);
		break;
	case OP_MKDIR:
		rc = d->mkdir_p(d, c->path);
		break;
	}
	if (rc >
	    0) /* not in the driver contract; do not let it pass as success */
		rc = tier_error_set(TIER_ERROR, "tier '%s': driver returned %d",
		                    loc_name(loc), rc);
	if (rc < 0) {
		if (!*tier_error_last())
			tier_error_set(rc, "%s", tier_error_name(rc));
		scrub_password(loc, rc);
		/* permanent errors leave here: name the tier once */
		if (rc != TIER_EOFFLINE)
			tier_error_prefix("tier '%s'", loc_name(loc));
	}
	return rc;
}

static void trace(tier_location *loc, const char *fmt, ...) TIER_PRINTF(2, 3);

static void trace(tier_location *loc, const char *fmt, ...)
{
	char line[MSG_MAX + 256];
	va_list ap;
	if (!loc->opts.trace)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	loc->opts.trace(line, loc->opts.payload);
}

static int run(struct call *c)
{
	tier_location *loc = c->loc;
	char what[MSG_MAX];
	unsigned int made = 0;
	int rc;

	if (loc->offline)
		return tier_error_set(TIER_EOFFLINE, "tier '%s' is offline: %s",
		                      loc_name(loc), loc->offline_why);
	if (loc->refused)
		return tier_error_set(TIER_EAUTH, "%s", loc->refused_why);

	char who[300], opdesc[MSG_MAX];
	snprintf(who, sizeof(who), "tier '%s'", loc_name(loc));
	if (c->path2)
		snprintf(opdesc, sizeof(opdesc), "%s '%s' to '%s'",
		         op_names[c->op], c->path, c->path2);
	else if (c->path)
		snprintf(opdesc, sizeof(opdesc), "%s '%s'", op_names[c->op],
		         c->path);
	else
		snprintf(opdesc, sizeof(opdesc), "%s", op_names[c->op]);
	snprintf(what, sizeof(what), "%s: %s", who, opdesc);

	tier_retry_hooks hooks = {loc->opts.sleep,   loc->opts.trace,
	                          loc->opts.payload, who,
	                          &loc->rng,         opdesc};
	rc = tier_retry_run_ex(&loc->policy, attempt, c, &hooks, &made);

	if (rc == TIER_EOFFLINE) {
		loc->offline = 1;
		snprintf(loc->offline_why, sizeof(loc->offline_why), "%s",
		         tier_error_last());
		tier_error_set(TIER_EOFFLINE,
		               "tier '%s' (%s) offline after %u attempt%s: %s",
		               loc_name(loc), loc->display, made,
		               made == 1 ? "" : "s", loc->offline_why);
	} else if (rc == TIER_EAUTH && c->op != OP_PUT && c->op != OP_REMOVE &&
	           c->op != OP_RENAME) {
		/* refused to read: the login itself, for all we can tell (a
		 * read-only account may still be refused writes alone) */
		loc->refused = 1;
		snprintf(loc->refused_why, sizeof(loc->refused_why), "%s",
		         tier_error_last());
	} else if (rc == 0 && made > 1) {
		trace(loc, "%s succeeded on attempt %u/%u", what, made,
		      tier_retry_attempts(&loc->policy));
	}
	return rc;
}

static int unsupported(const tier_location *loc, enum op op)
{
	return tier_error_set(TIER_EUNSUPPORTED, "tier '%s' (%s) cannot %s",
	                      loc_name(loc), loc->display, op_names[op]);
}

int tier_location_open(tier_location **out, const char *spec,
                       const tier_location_options *opts)
{
	static const tier_location_options defaults =
	        TIER_LOCATION_OPTIONS_INIT;
	tier_location *loc;
	struct timespec ts;
	int rc;

	*out = NULL;
	if (!spec)
		return tier_error_set(TIER_EUSAGE, "no tier url given");
	if (!opts)
		opts = &defaults;
	else
		TIER_CHECK_VERSION(opts, TIER_LOCATION_OPTIONS_VERSION,
		                   "tier_location_options");

	if (!(loc = tier_calloc(1, sizeof(*loc))))
		return TIER_ERROR;
	loc->opts = *opts;
	loc->policy.retries = opts->retries;
	loc->policy.base = opts->retry_delay;
	loc->policy.cap = opts->retry_cap;

	if ((rc = tier_url_parse(&loc->url, spec)) < 0)
		goto fail;
	if (!(loc->display = tier_url_redacted(loc->url))) {
		rc = tier_error_set(TIER_ERROR, "out of memory");
		goto fail;
	}
	if ((rc = tier_driver_open(&loc->drv, loc->url, &loc->opts)) < 0) {
		scrub_password(loc, rc);
		tier_error_prefix("cannot open tier '%s'", loc_name(loc));
		goto fail;
	}
	if (!loc->drv || loc->drv->version < 1 ||
	    loc->drv->version > TIER_DRIVER_VERSION) {
		rc = tier_error_set(
		        TIER_EUNSUPPORTED,
		        "cannot open tier '%s': driver for '%s://' has version %u, "
		        "this library knows up to %d",
		        loc_name(loc), loc->url->scheme,
		        loc->drv ? loc->drv->version : 0u, TIER_DRIVER_VERSION);
		goto fail;
	}

	/* jitter only has to differ between processes and tiers */
	clock_gettime(CLOCK_REALTIME, &ts);
	loc->rng = ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)ts.tv_nsec ^
	           (uint64_t)(uintptr_t)loc;
	*out = loc;
	return 0;

fail:
	tier_location_free(loc);
	return rc;
}

int tier_location_clone(tier_location **out, const tier_location *src)
{
	tier_location *loc;
	int rc;
	*out = NULL;
	if (!(loc = tier_calloc(1, sizeof(*loc))))
		return TIER_ERROR;
	loc->opts = src->opts;
	loc->policy = src->policy;
	loc->rng = src->rng ^ ((uint64_t)(uintptr_t)loc << 7);
	loc->offline = src->offline;
	memcpy(loc->offline_why, src->offline_why, sizeof(loc->offline_why));
	if ((rc = tier_url_dup(&loc->url, src->url)) < 0)
		goto fail;
	if (!(loc->display = tier_strdup(src->display))) {
		rc = TIER_ERROR;
		goto fail;
	}
	if ((rc = tier_driver_open(&loc->drv, loc->url, &loc->opts)) < 0) {
		scrub_password(loc, rc);
		tier_error_prefix("cannot open tier '%s'", loc_name(loc));
		goto fail;
	}
	*out = loc;
	return 0;
fail:
	tier_location_free(loc);
	return rc;
}

void tier_location_free(tier_location *loc)
{
	if (!loc)
		return;
	if (loc->drv && loc->drv->free)
		loc->drv->free(loc->drv);
	tier_url_free(loc->url);
	free(loc->display);
	free(loc);
}

const char *tier_location_name(const tier_location *loc)
{
	return loc_name(loc);
}

const char *tier_location_display(const tier_location *loc)
{
	return loc->display;
}

const tier_url *tier_location_url(const tier_location *loc)
{
	return loc->url;
}

int tier_location_is_offline(const tier_location *loc)
{
	return loc->offline;
}

void tier_location_reset(tier_location *loc)
{
	loc->offline = 0;
	loc->offline_why[0] = '\0';
	loc->refused = 0;
	loc->refused_why[0] = '\0';
}

uint64_t tier_location_attempts(const tier_location *loc)
{
	return loc->attempts;
}

unsigned int tier_location_caps(const tier_location *loc)
{
	return loc->drv->caps;
}

int tier_location_ping(tier_location *loc)
{
	struct call c = {.loc = loc, .op = OP_PING};
	if (!loc->drv->ping)
		return unsupported(loc, OP_PING);
	return run(&c);
}

int tier_location_stat(tier_location *loc, const char *path, tier_stat *out)
{
	struct call c = {.loc = loc, .op = OP_STAT, .path = path, .st = out};
	if (!loc->drv->stat)
		return unsupported(loc, OP_STAT);
	return run(&c);
}

int tier_location_get(tier_location *loc, const char *path, uint64_t offset,
                      uint64_t len, tier_sink_cb sink, void *payload)
{
	struct call c = {.loc = loc,
	                 .op = OP_GET,
	                 .path = path,
	                 .offset = offset,
	                 .len = len,
	                 .sink = sink,
	                 .sink_payload = payload};
	if (!loc->drv->get)
		return unsupported(loc, OP_GET);
	return run(&c);
}

struct get_all {
	tier_buf buf;
	size_t max;
	int too_big;
	int oom;
};

static int get_all_sink(const void *data, size_t len, void *payload)
{
	struct get_all *a = payload;
	if (len > a->max - a->buf.size) {
		a->too_big = 1;
		return 1;
	}
	if (tier_buf_put(&a->buf, data, len) < 0) {
		a->oom = 1;
		return 1;
	}
	return 0;
}

int tier_location_get_all(tier_location *loc, const char *path, char **out,
                          size_t *out_len, size_t max_len)
{
	struct get_all a = {TIER_BUF_INIT, max_len, 0, 0};
	int rc;

	*out = NULL;
	if (out_len)
		*out_len = 0;
	/*
	 * To the end, not max_len + 1 bytes: drivers treat a range beyond the
	 * end as a truncated object.  The sink stops an oversized one early.
	 */
	rc = tier_location_get(loc, path, 0, UINT64_MAX, get_all_sink, &a);
	if (a.too_big)
		rc = tier_error_set(
		        TIER_ECORRUPT,
		        "object '%s' on tier '%s' is larger than %zu bytes",
		        path, loc_name(loc), max_len);
	else if (a.oom)
		rc = tier_error_set(TIER_ERROR,
		                    "out of memory reading '%s' from tier '%s'",
		                    path, loc_name(loc));
	if (rc < 0) {
		tier_buf_dispose(&a.buf);
		return rc;
	}
	if (!a.buf.ptr &&
	    tier_buf_grow(&a.buf, 0) < 0) /* empty object: still a string */
		return TIER_ERROR;
	a.buf.ptr[a.buf.size] = '\0';
	if (out_len)
		*out_len = a.buf.size;
	*out = tier_buf_detach(&a.buf);
	return 0;
}

int tier_location_put(tier_location *loc, const char *path,
                      const tier_source *src, unsigned int flags)
{
	struct call c = {.loc = loc,
	                 .op = OP_PUT,
	                 .path = path,
	                 .src = src,
	                 .flags = flags};
	if (!loc->drv->put)
		return unsupported(loc, OP_PUT);
	return run(&c);
}

int tier_location_put_mem(tier_location *loc, const char *path,
                          const void *data, size_t len, unsigned int flags)
{
	/* data == NULL would mean "read from fd" */
	tier_source src = {data ? data : "", -1, len, NULL};
	return tier_location_put(loc, path, &src, flags);
}

int tier_location_rename(tier_location *loc, const char *from, const char *to)
{
	struct call c = {
	        .loc = loc, .op = OP_RENAME, .path = from, .path2 = to};
	if (!loc->drv->rename)
		return unsupported(loc, OP_RENAME);
	return run(&c);
}

int tier_location_list(tier_location *loc, const char *dir, tier_list_cb cb,
                       void *payload)
{
	struct call c = {.loc = loc, .op = OP_LIST, .path = dir};
	int rc;
	if (!loc->drv->list)
		return unsupported(loc, OP_LIST);
	/*
	 * Names are buffered until the driver listed the whole directory, so
	 * that a listing cut short and retried never hands a name out twice.
	 */
	rc = run(&c);
	for (size_t i = 0; rc == 0 && i < c.entries.length; i++) {
		list_entry *e = c.entries.ptr[i];
		if (cb(e->name, &e->st, payload))
			rc = tier_error_set(
			        TIER_EABORTED,
			        "tier '%s': list '%s' stopped by the receiver",
			        loc_name(loc), dir);
	}
	free_entries(&c);
	return rc;
}

int tier_location_remove(tier_location *loc, const char *path)
{
	struct call c = {.loc = loc, .op = OP_REMOVE, .path = path};
	if (!loc->drv->remove)
		return unsupported(loc, OP_REMOVE);
	return run(&c);
}

int tier_location_mkdir_p(tier_location *loc, const char *path)
{
	struct call c = {.loc = loc, .op = OP_MKDIR, .path = path};
	if (!loc->drv->mkdir_p) {
		/* a store without directories (s3) has nothing to create */
		if (!(loc->drv->caps & TIER_DRIVER_CAP_DIRS))
			return 0;
		return unsupported(loc, OP_MKDIR);
	}
	return run(&c);
}
