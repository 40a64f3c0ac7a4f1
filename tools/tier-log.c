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
                "with each revision, count the files it added, modified, deleted"),
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
                "Show the history of the vault, newest first, one row per revision under a "
                "header: revision, time (in the time zone of TZ), operation, who (user@host and "
                "installation), what (files, bytes, new data) and the source paths it holds.  "
                "With REV, that revision and the files it changed; with REV and REV2, every file "
                "that differs between them.  Names are quoted as git quotes them "
                "(core.quotePath).",
        .options = options,
        .min_args = 0,
        .max_args = 2,
};

/* Text output: local time of TZ, to the second, with its offset. */
static void text_time(char *out, size_t cap, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	tzset();
	if (!localtime_r(&tt, &tm) ||
	    !strftime(out, cap, "%Y-%m-%d %H:%M:%S %z", &tm))
		snprintf(out, cap, "%lld", (long long)t);
}

static int parse_rev(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (!*s || *end || s[0] == '-' || v == 0)
		return tool_usage_error("'%s' is not a revision number",
		                        tool_q(s));
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
	if (c->arr) {
		json_t *o = json_pack("{s:s#}", "status", &e->status, 1);
		/* every path, also one that is not UTF-8 (docs/json.md) */
		tool_json_set_name(o, "path", e->path);
		json_object_set_new(o, "old_size",
		                    json_integer((json_int_t)e->old_size));
		json_object_set_new(o, "new_size",
		                    json_integer((json_int_t)e->new_size));
		json_array_append_new(c->arr, o);
	}
	if (c->print) {
		if (e->status == 'M')
			printf("%c  %s  (%s -> %s)\n", e->status,
			       tool_q(e->path), tool_size(e->old_size, s1),
			       tool_size(e->new_size, s2));
		else
			printf("%c  %s  (%s)\n", e->status, tool_q(e->path),
			       tool_size(e->status == 'A' ? e->new_size
			                                  : e->old_size,
			                 s1));
	}
	return tool_interrupted();
}

static json_t *changes_summary(const struct counts *k)
{
	return json_pack("{s:I, s:I, s:I}", "added", (json_int_t)k->a,
	                 "modified", (json_int_t)k->m, "deleted",
	                 (json_int_t)k->d);
}

static const char *changes_line(const struct counts *k)
{
	static char line[96];
	snprintf(line, sizeof(line), "%llu added, %llu modified, %llu deleted",
	         k->a, k->m, k->d);
	return line;
}

/* The table of revisions: one row each, under a header. */
static tool_table *log_table(int with_stat)
{
	static const char *const hdr[] = {"REVISION",  "TIME",         "OP",
	                                  "USER@HOST", "INSTALLATION", "FILES",
	                                  "SIZE",      "NEW",          "ADDED",
	                                  "MODIFIED",  "DELETED",      "PATHS"};
	size_t ncols = with_stat ? 12 : 9;
	tool_table *t = tool_table_new(ncols);

	tool_table_align_right(t, 0);
	for (size_t i = 5; i < ncols - 1; i++)
		tool_table_align_right(t, i);
	for (size_t i = 0; i < 12; i++)
		if (with_stat || i < 8 || i == 11)
			tool_table_cell(t, hdr[i]);
	return t;
}

static void log_row(tool_table *t, const tier_log_entry *e, char *const *paths,
                    size_t npaths, const struct counts *k)
{
	char when[64], b[32];

	text_time(when, sizeof(when), e->time);
	tool_table_add(t, "%llu", (unsigned long long)e->revision);
	tool_table_cell(t, when);
	tool_table_cell(t, tool_q(e->op));
	tool_table_add(t, "%s@%s", tool_q(e->user), tool_q(e->host));
	tool_table_add(t, "%.8s", tool_q(e->installation));
	/* "-": the revision did not record it (not 0: unknown is not none) */
	if (e->files >= 0)
		tool_table_add(t, "%lld", (long long)e->files);
	else
		tool_table_cell(t, "-");
	tool_table_cell(t,
	                e->bytes >= 0 ? tool_size((uint64_t)e->bytes, b) : "-");
	tool_table_cell(t, e->new_bytes >= 0
	                           ? tool_size((uint64_t)e->new_bytes, b)
	                           : "-");
	if (k) {
		tool_table_add(t, "%llu", k->a);
		tool_table_add(t, "%llu", k->m);
		tool_table_add(t, "%llu", k->d);
	}
	if (npaths) {
		size_t len = 1;
		for (size_t i = 0; i < npaths; i++)
			len += strlen(tool_q(paths[i])) + 2;
		char *all = tool_xmalloc(len);
		all[0] = '\0';
		for (size_t i = 0; i < npaths; i++) {
			if (i)
				strcat(all, ", ");
			strcat(all, tool_q(paths[i]));
		}
		tool_table_cell(t, all);
		free(all);
	} else {
		/* written before Tier-Path, or an op that backs up nothing */
		tool_table_cell(t, tool_q(e->summary));
	}
}

/* REV REV2: every file that differs between the two revisions. */
static int show_diff(const struct tool_common *c, tier_vault *v, uint64_t r1,
                     uint64_t r2)
{
	struct counts k = {0, 0, 0, c->json ? json_array() : NULL, !c->json};
	int rc = tier_vault_diff(v, r1, r2, count_change, &k);

	if (rc == 0 && c->json)
		rc = tool_json_emit(
		        json_pack("{s:I, s:I, s:o, s:s, s:o}", "from",
		                  (json_int_t)r1, "to", (json_int_t)r2,
		                  "changes", k.arr, "summary", changes_line(&k),
		                  "changes_summary", changes_summary(&k)));
	else if (rc == 0)
		tool_info("%s", changes_line(&k));
	else
		json_decref(k.arr);
	return rc;
}

/* The history being listed: newest first, as a table or a JSON array. */
struct log_listing {
	const struct tool_common *c;
	tier_vault *v;
	uint64_t r1; /* REV given: that revision only, with its changes */
	int changes; /* count each revision's changes (--stat or REV) */
	json_t *arr; /* --json */
	tool_table *table;
	size_t shown;
};

/* One revision: its paths, its changes when asked for, a row or an object. */
static int list_one(struct log_listing *l, const tier_log_entry *e)
{
	int json = l->c->json;
	char **paths = NULL;
	size_t np = 0;
	int rc;

	if ((rc = tier_vault_revision_paths(&paths, &np, l->v, e->commit)) < 0)
		return rc;
	json_t *o = json ? tool_json_revision(e, (const char *const *)paths, np)
	                 : NULL;
	struct counts k = {0, 0, 0, (json && l->r1) ? json_array() : NULL, 0};
	if (l->changes)
		rc = tier_vault_diff(l->v, e->revision - 1, e->revision,
		                     count_change, &k);
	if (json) {
		if (l->changes)
			json_object_set_new(o, "changes_summary",
			                    changes_summary(&k));
		if (k.arr)
			json_object_set_new(o, "changes", k.arr);
		json_array_append_new(l->arr, o);
	} else {
		log_row(l->table, e, paths, np, l->changes ? &k : NULL);
	}
	tier_strings_free(paths);
	return rc;
}

static int list_revisions(struct log_listing *l, const tier_log_entry *ents,
                          size_t n)
{
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i++) {
		if (l->r1 && ents[i].revision != l->r1)
			continue;
		if (opt_n && l->shown >= opt_n)
			break;
		l->shown++;
		rc = list_one(l, &ents[i]);
	}
	return rc;
}

/*
 * After the walk: a REV not in the history fails as the library says;
 * else the JSON document, or the table and (with REV) its changed files.
 */
static int list_finish(struct log_listing *l, int rc)
{
	struct counts none = {0};

	if (l->r1 && !l->shown && rc == 0)
		return tool_fail(
		        tier_vault_diff(l->v, 0, l->r1, count_change, &none));
	if (rc < 0)
		return tool_fail(rc);
	if (l->c->json) {
		rc = tool_json_emit(json_pack("{s:o}", "revisions", l->arr));
		l->arr = NULL;
		return rc;
	}
	tool_table_print(l->table, stdout);
	if (l->r1) {
		/* then the files it changed, one per line */
		struct counts k = {0, 0, 0, NULL, 1};
		rc = tool_fail(tier_vault_diff(l->v, l->r1 - 1, l->r1,
		                               count_change, &k));
	}
	return rc;
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
		rc = show_diff(&c, v, r1, r2);
		tier_vault_free(v);
		return tool_finish(&c, rc < 0 ? tool_fail(rc) : rc);
	}
	if ((rc = tier_vault_log(&ents, &n, v, 0)) < 0) {
		tier_vault_free(v);
		return tool_finish(&c, tool_fail(rc));
	}
	struct log_listing l = {&c,
	                        v,
	                        r1,
	                        opt_stat || r1,
	                        c.json ? json_array() : NULL,
	                        c.json ? NULL : log_table(opt_stat || r1),
	                        0};
	rc = list_finish(&l, list_revisions(&l, ents, n));
	json_decref(l.arr);
	tool_table_free(l.table);
	free(ents);
	tier_vault_free(v);
	return tool_finish(&c, rc);
}
