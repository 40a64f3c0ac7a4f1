#include "listing.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "output.h"

static void on_warning(const char *msg, void *payload)
{
	(void)payload;
	tool_progress_done();
	tool_warning("%s", msg);
}

int tool_browse_open(tier_browse **out, tier_vault *v, uint64_t rev)
{
	tier_browse_options o = TIER_BROWSE_OPTIONS_INIT;
	o.revision = rev;
	o.warning = on_warning;
	return tier_browse_open(out, v, &o);
}

const char *tool_mode_string(const tier_browse_entry *e, char buf[11])
{
	static const char types[] = "-dlpcbs";
	uint32_t m = e->mode;
	buf[0] = (unsigned)e->type < sizeof(types) - 1 ? types[e->type] : '?';
	if (!e->has_meta) {
		memset(buf + 1, '?', 9);
		buf[10] = '\0';
		return buf;
	}
	for (int i = 0; i < 3; i++) {
		uint32_t bits = (m >> (6 - 3 * i)) & 7;
		buf[1 + 3 * i] = bits & 4 ? 'r' : '-';
		buf[2 + 3 * i] = bits & 2 ? 'w' : '-';
		buf[3 + 3 * i] = bits & 1 ? 'x' : '-';
	}
	if (m & 04000)
		buf[3] = buf[3] == 'x' ? 's' : 'S';
	if (m & 02000)
		buf[6] = buf[6] == 'x' ? 's' : 'S';
	if (m & 01000)
		buf[9] = buf[9] == 'x' ? 't' : 'T';
	buf[10] = '\0';
	return buf;
}

static char *target_of(const tier_browse_entry *e)
{
	char *t = tool_xmalloc(e->target_len + 1);
	memcpy(t, e->target, e->target_len);
	t[e->target_len] = '\0';
	return t;
}

void tool_entry_line(const tier_browse_entry *e, const char *shown)
{
	char mode[11], when[32] = "-";
	if (e->has_meta) {
		time_t tt = (time_t)e->mtime_sec;
		struct tm tm;
		tzset();
		if (!localtime_r(&tt, &tm) ||
		    !strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm))
			snprintf(when, sizeof(when), "%" PRId64, e->mtime_sec);
	}
	tool_mode_string(e, mode);
	if (e->has_meta)
		printf("%s %6" PRIu32 " %6" PRIu32 " %12" PRIu64 " %s %s", mode,
		       e->uid, e->gid, e->size, when, tool_q(shown));
	else
		printf("%s %6s %6s %12" PRIu64 " %19s %s", mode, "-", "-",
		       e->size, when, tool_q(shown));
	if (e->type == TIER_ENTRY_SYMLINK && e->target) {
		char *t = target_of(e);
		printf(" -> %s", tool_q(t));
		free(t);
	}
	putchar('\n');
}

json_t *tool_json_entry(const tier_browse_entry *e)
{
	json_t *o = json_object();
	char when[64];
	if (!o)
		return NULL;
	tool_json_set_name(o, "path", e->path);
	tool_json_set_name(o, "name", e->name);
	json_object_set_new(o, "type",
	                    json_string(tier_browse_type_name(e->type)));
	json_object_set_new(o, "size", json_integer((json_int_t)e->size));
	if (e->has_meta) {
		tool_time_rfc3339(when, sizeof(when), e->mtime_sec);
		json_object_set_new(o, "mode", json_integer(e->mode));
		json_object_set_new(o, "uid", json_integer(e->uid));
		json_object_set_new(o, "gid", json_integer(e->gid));
		json_object_set_new(o, "mtime", json_string(when));
		json_object_set_new(
		        o, "mtime_ns",
		        json_integer((json_int_t)e->mtime_sec * 1000000000 +
		                     e->mtime_nsec));
	} else {
		json_object_set_new(o, "mode", json_null());
		json_object_set_new(o, "uid", json_null());
		json_object_set_new(o, "gid", json_null());
		json_object_set_new(o, "mtime", json_null());
		json_object_set_new(o, "mtime_ns", json_null());
	}
	if (e->type == TIER_ENTRY_SYMLINK && e->target) {
		char *t = target_of(e);
		tool_json_set_name(o, "target", t);
		free(t);
	}
	if (e->type == TIER_ENTRY_CHAR || e->type == TIER_ENTRY_BLOCK)
		json_object_set_new(o, "rdev",
		                    json_integer((json_int_t)e->rdev));
	return o;
}

int tool_parse_revision(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	*out = 0;
	v = strtoull(s, &end, 10);
	if (!*s || *end || s[0] == '-' || s[0] == '+' || v == 0) {
		tool_usage_error("'%s' is not a revision number", tool_q(s));
		return -1;
	}
	*out = v;
	return 0;
}
