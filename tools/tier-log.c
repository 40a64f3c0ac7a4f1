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
static struct tool_list opt_tags;

static const struct tool_opt options[] = {
        TOOL_UINT('n', "max-count", "N", &opt_n, 1, 0,
                  "show at most N revisions"),
        TOOL_FLAG(
                0, "stat", &opt_stat,
                "with each revision, count the files it added, modified, deleted"),
        TOOL_LIST(0, "tag", "TAG[,TAG...]", &opt_tags,
                  "only revisions with every TAG of the list; repeat for "
                  "revisions with any of the lists (as restic)"),
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
                "installation), what (files, bytes, new data), its tags and message (when some "
                "revision has them) and the source paths it holds.  "
                "With REV, that revision and the files it changed; with REV and REV2, every file "
                "that differs between them.  Names are quoted as git quotes them "
                "(core.quotePath).",
        .options = options,
        .min_args = 0,
        .max_args = 2,
};

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

/* What a revision records beyond tier_log_entry: its tags and message. */
struct labels {
	char **tags;
	size_t ntags;
	char **message; /* [0] or NULL */
	size_t nmessage;
};

static int labels_read(struct labels *lb, tier_vault *v, const char *commit)
{
	int rc = tier_vault_revision_trailers(&lb->tags, &lb->ntags, v, commit,
	                                      "Tier-Tag");
	if (rc == 0)
		rc = tier_vault_revision_trailers(&lb->message, &lb->nmessage,
		                                  v, commit, "Tier-Message");
	return rc;
}

static void labels_free(struct labels *lb)
{
	tier_strings_free(lb->tags);
	tier_strings_free(lb->message);
	memset(lb, 0, sizeof(*lb));
}

/* --tag A,B --tag C: (A and B) or C. */
static int tags_match(const struct labels *lb)
{
	if (opt_tags.count == 0)
		return 1;
	for (size_t i = 0; i < opt_tags.count; i++) {
		char *set = tool_xstrdup(opt_tags.items[i]), *save = NULL;
		int all = 1;
		for (char *t = strtok_r(set, ",", &save); t && all;
		     t = strtok_r(NULL, ",", &save)) {
			size_t j = 0;
			while (j < lb->ntags && strcmp(lb->tags[j], t) != 0)
				j++;
			all = j < lb->ntags;
		}
		free(set);
		if (all)
			return 1;
	}
	return 0;
}

/* "a, b": the cell of a list (tags, paths), quoted as names are. */
static char *join(char *const *items, size_t n)
{
	size_t len = 1;
	for (size_t i = 0; i < n; i++)
		len += strlen(tool_q(items[i])) + 2;
	char *all = tool_xmalloc(len);
	all[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (i)
			strcat(all, ", ");
		strcat(all, tool_q(items[i]));
	}
	return all;
}

/* The columns: TAGS and MESSAGE only when a listed revision has some. */
struct columns {
	int stat, tags, message;
};

/* The table of revisions: one row each, under a header. */
static tool_table *log_table(const struct columns *col)
{
	static const char *const hdr[] = {
	        "REVISION", "TIME", "OP",      "USER@HOST", "INSTALLATION",
	        "FILES",    "SIZE", "NEW",     "ADDED",     "MODIFIED",
	        "DELETED",  "TAGS", "MESSAGE", "PATHS"};
	size_t ncols = 9 + (col->stat ? 3 : 0) + (col->tags ? 1 : 0) +
	               (col->message ? 1 : 0);
	tool_table *t = tool_table_new(ncols);

	tool_table_align_right(t, 0);
	for (size_t i = 5; i < 8 + (col->stat ? 3 : 0); i++)
		tool_table_align_right(t, i);
	for (size_t i = 0; i < 14; i++)
		if (i < 8 || i == 13 || (col->stat && i >= 8 && i <= 10) ||
		    (col->tags && i == 11) || (col->message && i == 12))
			tool_table_cell(t, hdr[i]);
	return t;
}

static void log_row(tool_table *t, const struct columns *col,
                    const tier_log_entry *e, const struct labels *lb,
                    char *const *paths, size_t npaths, const struct counts *k,
                    uint64_t forgotten_by, const char *archived_as)
{
	char when[64], b[32];

	tool_time_text(when, sizeof(when), e->time);
	tool_table_add(t, "%llu", (unsigned long long)e->revision);
	tool_table_cell(t, when);
	if (forgotten_by)
		tool_table_add(t, "%s (forgotten by %llu)", tool_q(e->op),
		               (unsigned long long)forgotten_by);
	else if (archived_as)
		tool_table_add(t, "%s (archived as %s)", tool_q(e->op),
		               archived_as);
	else
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
	if (col->tags) {
		char *all = join(lb->tags, lb->ntags);
		tool_table_cell(t, lb->ntags ? all : "-");
		free(all);
	}
	if (col->message)
		tool_table_cell(t, lb->nmessage ? tool_q(lb->message[0]) : "-");
	if (npaths) {
		char *all = join(paths, npaths);
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
	struct columns col;
	size_t shown;
	tier_forgotten *gone; /* revisions a forget wrote off */
	tier_archive *arch;   /* archives in force */
	size_t narch;
};

/* The name of the first archive in force that keeps rev, or NULL. */
static const char *archived_as(const struct log_listing *l, uint64_t rev)
{
	for (size_t i = 0; i < l->narch; i++)
		if (l->arch[i].revision == rev)
			return l->arch[i].name;
	return NULL;
}

/* One revision: its paths, its changes when asked for, a row or an object. */
static int list_one(struct log_listing *l, const tier_log_entry *e,
                    const struct labels *lb)
{
	int json = l->c->json;
	char **paths = NULL;
	size_t np = 0;
	int rc;

	if ((rc = tier_vault_revision_paths(&paths, &np, l->v, e->commit)) < 0)
		return rc;
	json_t *o = json ? tool_json_revision(e, (const char *const *)paths, np)
	                 : NULL;
	if (o) {
		json_t *tags = json_array();
		for (size_t i = 0; i < lb->ntags; i++)
			json_array_append_new(tags,
			                      tool_json_text(lb->tags[i]));
		json_object_set_new(o, "tags", tags);
		if (lb->nmessage)
			json_object_set_new(o, "message",
			                    tool_json_text(lb->message[0]));
		uint64_t by = tier_forgotten_by(l->gone, e->revision);
		json_object_set_new(o, "forgotten_by",
		                    by ? json_integer((json_int_t)by)
		                       : json_null());
		json_t *names = json_array();
		for (size_t i = 0; i < l->narch; i++)
			if (l->arch[i].revision == e->revision)
				json_array_append_new(
				        names, json_string(l->arch[i].name));
		json_object_set_new(o, "archived_as", names);
	}
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
		log_row(l->table, &l->col, e, lb, paths, np,
		        l->changes ? &k : NULL,
		        tier_forgotten_by(l->gone, e->revision),
		        archived_as(l, e->revision));
	}
	tier_strings_free(paths);
	return rc;
}

/* Which revisions are shown (REV, --tag, -n), then each of them: the
 * first pass knows the table's columns. */
static int list_revisions(struct log_listing *l, const tier_log_entry *ents,
                          size_t n)
{
	struct labels *lb = tool_xmalloc((n ? n : 1) * sizeof(*lb));
	size_t *pick = tool_xmalloc((n ? n : 1) * sizeof(*pick)), npick = 0;
	int rc = 0;

	memset(lb, 0, (n ? n : 1) * sizeof(*lb));
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (l->r1 && ents[i].revision != l->r1)
			continue;
		if (opt_n && npick >= opt_n)
			break;
		if ((rc = labels_read(&lb[i], l->v, ents[i].commit)) < 0)
			break;
		if (!tags_match(&lb[i]))
			continue;
		pick[npick++] = i;
		l->col.tags |= lb[i].ntags > 0;
		l->col.message |= lb[i].nmessage > 0;
	}
	if (!l->c->json)
		l->table = log_table(&l->col);
	for (size_t j = 0; j < npick && rc == 0; j++) {
		l->shown++;
		rc = list_one(l, &ents[pick[j]], &lb[pick[j]]);
	}
	for (size_t i = 0; i < n; i++)
		labels_free(&lb[i]);
	free(lb);
	free(pick);
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
	                        NULL,
	                        {opt_stat || r1, 0, 0},
	                        0,
	                        NULL,
	                        NULL,
	                        0};
	rc = tier_vault_forgotten(&l.gone, v);
	if (rc == 0)
		rc = tier_vault_archives(&l.arch, &l.narch, v);
	rc = list_finish(&l, rc < 0 ? rc : list_revisions(&l, ents, n));
	tier_forgotten_free(l.gone);
	free(l.arch);
	json_decref(l.arr);
	tool_table_free(l.table);
	free(ents);
	tier_vault_free(v);
	return tool_finish(&c, rc);
}
