/* tier-log: who wrote what and when; what changed between two revisions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "exitcodes.h"
#include "opt.h"
#include "output.h"
#include "session.h"

static unsigned int opt_n;
static int opt_stat;

static const struct tool_opt options[] = {
        TOOL_UINT('n', "max-count", "N", &opt_n, 1, 0,
                  "show at most N revisions"),
        TOOL_FLAG(
                0, "stat", &opt_stat,
                "with each revision, count the files it added, changed, deleted"),
        TOOL_OPTS_END};

static const struct tool_exit_doc exits[] = {{TOOL_EXIT_FOREIGN, NULL},
                                             {TOOL_EXIT_ROLLEDBACK, NULL},
                                             {TOOL_EXIT_INTERRUPTED, NULL},
                                             TOOL_EXITS_END};

static const struct tool_def def = {
        .name = "tier-log",
        .exits = exits,
        .args = "[REV [REV2]]",
        .description =
                "Show the history of the vault, newest first: revision, time, operation, who "
                "(user@host and installation) and what (files, bytes, new data).  With REV, that "
                "revision and the files it changed; with REV and REV2, every file that differs "
                "between them.",
        .options = options,
        .min_args = 0,
        .max_args = 2,
};

static void iso_time(char *out, size_t cap, int64_t t, int offset_min)
{
	time_t tt = (time_t)(t + (int64_t)offset_min * 60);
	struct tm tm;
	gmtime_r(&tt, &tm);
	size_t n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, cap - n, "%c%02d:%02d", offset_min < 0 ? '-' : '+',
	         abs(offset_min) / 60, abs(offset_min) % 60);
}

static int parse_rev(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (!*s || *end || s[0] == '-' || v == 0)
		return tool_usage_error("'%s' is not a revision number", s);
	*out = v;
	return 0;
}

struct counts {
	unsigned long long a, m, d;
	json_t *arr;
	int print;
};

static int count_change(const tier_diff_entry *e, void *payload)
{
	struct counts *c = payload;
	char s1[32], s2[32];
	if (e->status == 'A')
		c->a++;
	else if (e->status == 'D')
		c->d++;
	else
		c->m++;
	if (c->arr)
		json_array_append_new(
		        c->arr, json_pack("{s:s#, s:s, s:I, s:I}", "status",
		                          &e->status, 1, "path", e->path,
		                          "old_size", (json_int_t)e->old_size,
		                          "new_size", (json_int_t)e->new_size));
	if (c->print) {
		if (e->status == 'M')
			printf("%c  %s  (%s -> %s)\n", e->status, e->path,
			       tool_size(e->old_size, s1),
			       tool_size(e->new_size, s2));
		else
			printf("%c  %s  (%s)\n", e->status, e->path,
			       tool_size(e->status == 'A' ? e->new_size
			                                  : e->old_size,
			                 s1));
	}
	return tool_interrupted();
}

static json_t *entry_json(const tier_log_entry *e)
{
	char when[64];
	iso_time(when, sizeof(when), e->time, e->time_offset);
	json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
	                      "revision", (json_int_t)e->revision, "commit",
	                      e->commit, "time", when, "installation",
	                      e->installation, "host", e->host, "user", e->user,
	                      "op", e->op, "summary", e->summary);
	json_t *st = json_object();
	if (e->files >= 0)
		json_object_set_new(st, "files", json_integer(e->files));
	if (e->bytes >= 0)
		json_object_set_new(st, "bytes", json_integer(e->bytes));
	if (e->new_bytes >= 0)
		json_object_set_new(st, "new_bytes",
		                    json_integer(e->new_bytes));
	if (e->packs >= 0)
		json_object_set_new(st, "packs", json_integer(e->packs));
	json_object_set_new(o, "stats", st);
	return o;
}

static void print_entry(const tier_log_entry *e)
{
	char when[64], b1[32], b2[32];
	iso_time(when, sizeof(when), e->time, e->time_offset);
	printf("%6llu  %s  %-6s  %s@%s  %.8s", (unsigned long long)e->revision,
	       when, e->op, e->user, e->host, e->installation);
	if (e->files >= 0)
		printf("  %lld files, %s (%s new)", (long long)e->files,
		       tool_size((uint64_t)(e->bytes > 0 ? e->bytes : 0), b1),
		       tool_size(
		               (uint64_t)(e->new_bytes > 0 ? e->new_bytes : 0),
		               b2));
	else
		printf("  %s", e->summary);
	printf("\n");
}

int main(int argc, char **argv)
{
	struct tool_common c;
	tier_vault *v = NULL;
	tier_log_entry *ents = NULL;
	size_t n = 0;
	uint64_t r1 = 0, r2 = 0;
	int rc;

	tool_init(&c, &def, argc, argv);
	if (c.args.count >= 1 && parse_rev(c.args.items[0], &r1))
		return tool_finish(&c, TOOL_EXIT_USAGE);
	if (c.args.count == 2 && parse_rev(c.args.items[1], &r2))
		return tool_finish(&c, TOOL_EXIT_USAGE);
	if ((rc = tool_vault_open(&v, &c, TOOL_READ, 1)) < 0)
		return tool_finish(&c, tool_fail(rc));

	if (c.args.count == 2) {
		struct counts k = {0, 0, 0, c.json ? json_array() : NULL,
		                   !c.json};
		rc = tier_vault_diff(v, r1, r2, count_change, &k);
		if (rc == 0 && c.json)
			rc = tool_json_emit(json_pack(
			        "{s:I, s:I, s:o, s:{s:I, s:I, s:I}}", "from",
			        (json_int_t)r1, "to", (json_int_t)r2, "changes",
			        k.arr, "summary", "added", (json_int_t)k.a,
			        "modified", (json_int_t)k.m, "deleted",
			        (json_int_t)k.d));
		else if (rc == 0)
			tool_info("%llu added, %llu modified, %llu deleted",
			          k.a, k.m, k.d);
		else
			json_decref(k.arr);
		tier_vault_free(v);
		return tool_finish(&c, rc < 0 ? tool_fail(rc) : rc);
	}

	if ((rc = tier_vault_log(&ents, &n, v, 0)) < 0) {
		tier_vault_free(v);
		return tool_finish(&c, tool_fail(rc));
	}
	json_t *arr = c.json ? json_array() : NULL;
	size_t shown = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (r1 && ents[i].revision != r1)
			continue;
		if (opt_n && shown >= opt_n)
			break;
		shown++;
		json_t *o = c.json ? entry_json(&ents[i]) : NULL;
		if (!c.json)
			print_entry(&ents[i]);
		if (opt_stat || r1) {
			struct counts k = {0, 0, 0,
			                   (c.json && r1) ? json_array() : NULL,
			                   !c.json && r1};
			rc = tier_vault_diff(v, ents[i].revision - 1,
			                     ents[i].revision, count_change,
			                     &k);
			if (c.json) {
				json_object_set_new(
				        o, "changes_summary",
				        json_pack("{s:I, s:I, s:I}", "added",
				                  (json_int_t)k.a, "modified",
				                  (json_int_t)k.m, "deleted",
				                  (json_int_t)k.d));
				if (k.arr)
					json_object_set_new(o, "changes",
					                    k.arr);
			} else if (!r1)
				printf("        %llu added, %llu modified, %llu deleted\n",
				       k.a, k.m, k.d);
		}
		if (c.json)
			json_array_append_new(arr, o);
	}
	if (r1 && !shown && rc == 0)
		rc = tool_fail(tier_vault_diff(v, 0, r1, count_change,
		                               &(struct counts){0}));
	else if (rc < 0)
		rc = tool_fail(rc);
	else if (c.json)
		rc = tool_json_emit(json_pack("{s:o}", "revisions", arr));
	if (!c.json || rc)
		json_decref(c.json && rc ? arr : NULL);
	free(ents);
	tier_vault_free(v);
	return tool_finish(&c, rc);
}
