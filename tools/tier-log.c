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
			        "{s:I, s:I, s:o, s:s, s:o}", "from",
			        (json_int_t)r1, "to", (json_int_t)r2, "changes",
			        k.arr, "summary", changes_line(&k),
			        "changes_summary", changes_summary(&k)));
		else if (rc == 0)
			tool_info("%s", changes_line(&k));
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
	tool_table *table = c.json ? NULL : log_table(opt_stat || r1);
	struct counts one = {0};
	size_t shown = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (r1 && ents[i].revision != r1)
			continue;
		if (opt_n && shown >= opt_n)
			break;
		shown++;
		char **paths = NULL;
		size_t np = 0;
		if ((rc = tier_vault_revision_paths(&paths, &np, v,
		                                    ents[i].commit)) < 0)
			break;
		json_t *o = c.json ? tool_json_revision(
		                             &ents[i],
		                             (const char *const *)paths, np)
		                   : NULL;
		struct counts k = {0, 0, 0,
		                   (c.json && r1) ? json_array() : NULL, 0};
		if (opt_stat || r1)
			rc = tier_vault_diff(v, ents[i].revision - 1,
			                     ents[i].revision, count_change,
			                     &k);
		if (c.json) {
			if (opt_stat || r1)
				json_object_set_new(o, "changes_summary",
				                    changes_summary(&k));
			if (k.arr)
				json_object_set_new(o, "changes", k.arr);
			json_array_append_new(arr, o);
		} else {
			log_row(table, &ents[i], paths, np,
			        (opt_stat || r1) ? &k : NULL);
		}
		tier_strings_free(paths);
	}
	if (r1 && !shown && rc == 0)
		rc = tool_fail(tier_vault_diff(v, 0, r1, count_change, &one));
	else if (rc < 0)
		rc = tool_fail(rc);
	else if (c.json) {
		rc = tool_json_emit(json_pack("{s:o}", "revisions", arr));
		arr = NULL;
	} else {
		tool_table_print(table, stdout);
		if (r1) {
			/* then the files it changed, one per line */
			struct counts k = {0, 0, 0, NULL, 1};
			rc = tool_fail(tier_vault_diff(v, r1 - 1, r1,
			                               count_change, &k));
		}
	}
	json_decref(arr);
	tool_table_free(table);
	free(ents);
	tier_vault_free(v);
	return tool_finish(&c, rc);
}
