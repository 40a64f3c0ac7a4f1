/* tier-status: each tier online or not, its revision, synchronised or not. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "exitcodes.h"
#include "opt.h"
#include "output.h"
#include "session.h"

static int opt_prometheus;

static const struct tool_opt options[] = {
        TOOL_FLAG(
                0, "prometheus", &opt_prometheus,
                "print the node_exporter textfile format instead of the table (to FILE, "
                "replaced atomically, when given): online, revision, lag, last push time "
                "and bytes stored of each tier"),
        TOOL_OPTS_END};

static const struct tool_exit_doc exits[] = {
        {TOOL_EXIT_FOREIGN, NULL},
        {TOOL_EXIT_ROLLEDBACK, NULL},
        {TOOL_EXIT_DEGRADED, "a tier is offline, behind, or unusable"},
        TOOL_EXITS_END};

static const struct tool_def def = {
        .name = "tier-status",
        .args = "[FILE]",
        .description =
                "Show every tier of the vault: online or not, its revision and head, and whether "
                "it is synchronised with the newest tier.  Works with an installation (-s) or "
                "with tiers alone (-t).  With --prometheus, the same as metrics for "
                "node_exporter's textfile collector.",
        .options = options,
        .min_args = 0,
        .max_args = 1,
        .exits = exits,
};

/* The library's word, except that an ok tier not at the newest revision is "behind". */
static const char *state_word(const tier_info *in)
{
	if (in->state == TIER_STATE_OK && !in->synchronized)
		return "behind";
	return tier_state_name(in->state);
}

/* JSON: the tiers, with what a sync would move for each ok tier behind. */
static int status_json(tier_vault *v, size_t n)
{
	json_t *tiers = tool_json_tiers(v, NULL);

	for (size_t i = 0; i < n; i++) {
		const tier_info *in = tier_vault_tier_info(v, i);
		uint64_t revs = 0, bytes = 0;
		if (in->online && in->state == TIER_STATE_OK &&
		    !in->synchronized &&
		    tier_sync_plan(v, i, &revs, &bytes) == 0)
			json_object_set_new(json_array_get(tiers, i), "sync",
			                    json_pack("{s:I, s:I}", "revisions",
			                              (json_int_t)revs, "bytes",
			                              (json_int_t)bytes));
	}
	/* no vault id yet (empty tiers alone): unknown, null */
	return tool_json_emit(json_pack(
	        "{s:o, s:I, s:b, s:o}", "vault",
	        tool_json_text(tier_vault_id(v)[0] ? tier_vault_id(v) : NULL),
	        "max_revision", (json_int_t)tier_vault_max_revision(v),
	        "read_only", tier_vault_is_read_only(v), "tiers", tiers));
}

/* One row of the table: tier i. */
static void status_row(tool_table *t, tier_vault *v, size_t i)
{
	const tier_info *in = tier_vault_tier_info(v, i);
	enum tool_color col = in->synchronized             ? TOOL_COLOR_GREEN
	                      : in->state == TIER_STATE_OK ? TOOL_COLOR_YELLOW
	                                                   : TOOL_COLOR_RED;
	uint64_t revs = 0, bytes = 0;
	char b[32];

	tool_table_cell(t, tool_q(in->name));
	tool_table_cell(t, tool_q(in->url));
	tool_table_add(t, "%s%s%s", tool_color(stdout, col), state_word(in),
	               tool_color(stdout, TOOL_COLOR_RESET));
	if (in->online && in->state != TIER_STATE_DAMAGED)
		tool_table_add(t, "%llu", (unsigned long long)in->revision);
	else
		tool_table_cell(t, "-");
	tool_table_add(t, "%.12s", in->head[0] ? in->head : "-");
	tool_table_cell(t, in->synchronized ? "yes" : "no");
	if (in->online && in->state == TIER_STATE_OK && !in->synchronized &&
	    tier_sync_plan(v, i, &revs, &bytes) == 0)
		tool_table_add(t, "%s, %s", tool_count(revs, "revision", NULL),
		               tool_size(bytes, b));
	else
		tool_table_cell(t, "-");
}

/* Text: a title line, the table, then the R8 problems once each. */
static void status_text(tier_vault *v, size_t n, const struct tool_common *c)
{
	tool_table *t = tool_table_new(7);
	const char *hdr[] = {"TIER",           "URL",  "STATE",
	                     "REVISION",       "HEAD", "SYNCHRONISED",
	                     "SYNC WOULD MOVE"};

	tool_table_align_right(t, 3);
	for (size_t i = 0; i < 7; i++)
		tool_table_cell(t, hdr[i]);
	for (size_t i = 0; i < n; i++)
		status_row(t, v, i);
	printf("vault %s, newest revision %llu%s\n",
	       tier_vault_id(v)[0] ? tier_vault_id(v) : "(none)",
	       (unsigned long long)tier_vault_max_revision(v),
	       c->state_dir && tier_vault_is_read_only(v)
	               ? " (read-only installation)"
	               : "");
	tool_table_print(t, stdout);
	tool_table_free(t);
	for (size_t i = 0; i < n; i++) {
		const tier_info *in = tier_vault_tier_info(v, i);
		/* offline, damaged and other-vault tiers were reported on open */
		if (in->problem && (in->state == TIER_STATE_FOREIGN ||
		                    in->state == TIER_STATE_ROLLED_BACK))
			tool_warning("%s", in->problem);
	}
}

/* ---- --prometheus: node_exporter's textfile format ---------------------- */

/*
 * Metrics of the exposition format (prometheus.io/docs/instrumenting/
 * exposition_formats): a HELP and a TYPE line per family, then its samples,
 * every sample labelled installation="ID",vault="ID" and, per tier,
 * tier="NAME".  Every value is a gauge.  An offline tier keeps its rows
 * (online 0, and what this installation last saw there), so that an alert
 * on it fires instead of its series going stale.
 */
struct prom_tier {
	int have_rev, have_push, have_held;
	uint64_t rev, packs, bytes;
	int64_t push_time;
};

/* A label value: backslash, double quote and newline escaped. */
static void prom_label(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		if (*s == '\\' || *s == '"')
			fprintf(f, "\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

static void prom_family(FILE *f, const char *name, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
}

/* One sample: name{installation,vault[,tier]} value. */
static void prom_sample(FILE *f, const char *name, tier_vault *v,
                        const char *tier, const char *value)
{
	const char *inst = v ? tier_vault_installation_id(v) : NULL;
	const char *vault = v ? tier_vault_id(v) : NULL;

	fprintf(f, "%s{installation=\"", name);
	prom_label(f, inst);
	fputs("\",vault=\"", f);
	prom_label(f, vault);
	if (tier) {
		fputs("\",tier=\"", f);
		prom_label(f, tier);
	}
	fprintf(f, "\"} %s\n", value);
}

static void prom_u64(FILE *f, const char *name, tier_vault *v, const char *tier,
                     uint64_t x)
{
	char b[32];
	snprintf(b, sizeof(b), "%llu", (unsigned long long)x);
	prom_sample(f, name, v, tier, b);
}

/*
 * What the table does not show: each tier's revision (for a tier away, the
 * one this installation last saw there), its newest push from the log, and
 * the bytes of the data packs its head lists.  Unknown stays unknown: that
 * tier's row of that family is left out.
 */
static void prom_gather(struct prom_tier *pt, tier_vault *v, size_t n)
{
	tier_log_entry *log = NULL;
	size_t nlog = 0;

	if (tier_vault_log(&log, &nlog, v, 0) < 0) {
		tool_verbose(1, "no push times: %s", tier_error_last());
		nlog = 0;
	}
	for (size_t i = 0; i < n; i++) {
		const tier_info *in = tier_vault_tier_info(v, i);
		memset(&pt[i], 0, sizeof(pt[i]));
		if (in->online && in->state != TIER_STATE_DAMAGED &&
		    in->state != TIER_STATE_REFUSED &&
		    in->state != TIER_STATE_OTHER_VAULT) {
			pt[i].have_rev = 1;
			pt[i].rev = in->revision;
		} else if (!in->online && in->stored_revision) {
			pt[i].have_rev = 1;
			pt[i].rev = in->stored_revision;
		}
		/* the log is one history: the tier holds its first rev
		 * entries (not so for a tier another installation wrote) */
		for (size_t k = 0; pt[i].have_rev && k < nlog &&
		                   in->state != TIER_STATE_FOREIGN;
		     k++)
			if (log[k].revision <= pt[i].rev &&
			    !strcmp(log[k].op, "push")) {
				pt[i].have_push = 1;
				pt[i].push_time = log[k].time;
				break;
			}
		if (in->state != TIER_STATE_OK &&
		    in->state != TIER_STATE_OFFLINE)
			continue;
		/* tiers level with each other list the same packs: read the
		 * index of one head once */
		const char *head = in->online ? in->head : in->stored_head;
		for (size_t j = 0; j < i && head[0] && !pt[i].have_held; j++) {
			const tier_info *o = tier_vault_tier_info(v, j);
			if (pt[j].have_held &&
			    !strcmp(head,
			            o->online ? o->head : o->stored_head)) {
				pt[i].packs = pt[j].packs;
				pt[i].bytes = pt[j].bytes;
				pt[i].have_held = 1;
			}
		}
		if (!pt[i].have_held &&
		    tier_sync_held(v, i, &pt[i].packs, &pt[i].bytes) == 0)
			pt[i].have_held = 1;
	}
	free(log);
	tier_error_clear();
}

/* What the probe found: online, synchronised, state, for every tier. */
static void prom_probed(FILE *f, tier_vault *v, size_t n)
{
	prom_family(f, "tier_online", "1 when the tier answered, else 0");
	for (size_t i = 0; i < n; i++)
		prom_u64(f, "tier_online", v, tier_vault_tier_info(v, i)->name,
		         (uint64_t)tier_vault_tier_info(v, i)->online);
	prom_family(
	        f, "tier_synchronized",
	        "1 when the tier is online, consistent and at the newest revision");
	for (size_t i = 0; i < n; i++)
		prom_u64(f, "tier_synchronized", v,
		         tier_vault_tier_info(v, i)->name,
		         (uint64_t)tier_vault_tier_info(v, i)->synchronized);
	prom_family(f, "tier_state",
	            "1 for the tier's state (ok, behind, offline, foreign, "
	            "rolled-back, other-vault, damaged, refused)");
	for (size_t i = 0; i < n; i++) {
		const tier_info *in = tier_vault_tier_info(v, i);
		/* the state label first, then the common ones */
		fprintf(f, "tier_state{state=\"%s\",", state_word(in));
		fputs("installation=\"", f);
		prom_label(f, tier_vault_installation_id(v));
		fputs("\",vault=\"", f);
		prom_label(f, tier_vault_id(v));
		fputs("\",tier=\"", f);
		prom_label(f, in->name);
		fputs("\"} 1\n", f);
	}
}

/* What prom_gather() found; a tier's sample left out when unknown. */
static void prom_found(FILE *f, tier_vault *v, const struct prom_tier *pt,
                       size_t n)
{
	uint64_t max = tier_vault_max_revision(v);

	prom_family(
	        f, "tier_revision",
	        "the tier's revision (offline: what this installation last saw there)");
	for (size_t i = 0; i < n; i++)
		if (pt[i].have_rev)
			prom_u64(f, "tier_revision", v,
			         tier_vault_tier_info(v, i)->name, pt[i].rev);
	prom_family(f, "tier_lag_revisions",
	            "revisions the tier lacks of the newest tier");
	for (size_t i = 0; i < n; i++)
		if (pt[i].have_rev)
			prom_u64(f, "tier_lag_revisions", v,
			         tier_vault_tier_info(v, i)->name,
			         pt[i].rev < max ? max - pt[i].rev : 0);
	prom_family(
	        f, "tier_last_push_timestamp_seconds",
	        "time of the newest push the tier holds (unix time, from the log)");
	for (size_t i = 0; i < n; i++)
		if (pt[i].have_push)
			prom_u64(f, "tier_last_push_timestamp_seconds", v,
			         tier_vault_tier_info(v, i)->name,
			         (uint64_t)(pt[i].push_time > 0
			                            ? pt[i].push_time
			                            : 0));
	prom_family(f, "tier_stored_bytes",
	            "bytes of the data packs the tier's newest revision lists");
	for (size_t i = 0; i < n; i++)
		if (pt[i].have_held)
			prom_u64(f, "tier_stored_bytes", v,
			         tier_vault_tier_info(v, i)->name, pt[i].bytes);
	prom_family(f, "tier_stored_packs",
	            "data packs the tier's newest revision lists");
	for (size_t i = 0; i < n; i++)
		if (pt[i].have_held)
			prom_u64(f, "tier_stored_packs", v,
			         tier_vault_tier_info(v, i)->name, pt[i].packs);
}

/* The whole text; v NULL: the vault could not be opened (status_ok 0). */
static void prom_write(FILE *f, tier_vault *v, int ok)
{
	size_t n = v ? tier_vault_tier_count(v) : 0;
	struct prom_tier *pt = tool_xmalloc((n ? n : 1) * sizeof(*pt));

	prom_family(
	        f, "tier_status_ok",
	        "1 when tier-status could open the vault and probe its tiers");
	prom_u64(f, "tier_status_ok", v, NULL, (uint64_t)ok);
	prom_family(f, "tier_status_time_seconds",
	            "when tier-status wrote these metrics (unix time)");
	prom_u64(f, "tier_status_time_seconds", v, NULL, (uint64_t)time(NULL));
	if (v) {
		prom_gather(pt, v, n);
		prom_family(f, "tier_max_revision",
		            "the newest revision on any online tier");
		prom_u64(f, "tier_max_revision", v, NULL,
		         tier_vault_max_revision(v));
		prom_probed(f, v, n);
		prom_found(f, v, pt, n);
	}
	free(pt);
}

/* FILE replaced as a whole: a temporary file beside it (not named *.prom,
 * which the collector would read), fsync, mode 0644 for node_exporter's
 * user, rename, fsync of the directory. */
static int prom_save(const char *path, const char *text, size_t len)
{
	char *tmp = tool_xasprintf("%s.tmp.XXXXXX", path);
	char *dir = tool_xstrdup(path), *slash = strrchr(dir, '/');
	int fd, dfd, err = 0;

	if (slash)
		slash[slash == dir] = '\0';
	else
		strcpy(dir, ".");
	if ((fd = mkstemp(tmp)) < 0) {
		tool_error("cannot write '%s': %s", tool_q(path),
		           strerror(errno));
		free(tmp);
		free(dir);
		return TOOL_EXIT_ERROR;
	}
	for (size_t off = 0; off < len && !err;) {
		ssize_t w = write(fd, text + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			err = w < 0 ? errno : EIO;
		else
			off += (size_t)w;
	}
	if (!err && (fchmod(fd, 0644) < 0 || fsync(fd) < 0))
		err = errno;
	if (close(fd) < 0 && !err)
		err = errno;
	if (!err && rename(tmp, path) < 0)
		err = errno;
	if (err) {
		unlink(tmp);
		tool_error("cannot write '%s': %s", tool_q(path),
		           strerror(err));
	} else if ((dfd = open(dir, O_RDONLY | O_DIRECTORY)) >= 0) {
		fsync(dfd);
		close(dfd);
	}
	free(tmp);
	free(dir);
	return err ? TOOL_EXIT_ERROR : 0;
}

/* The metrics on stdout, or in FILE. */
static int prom_emit(tier_vault *v, int ok, const char *path)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int rc;

	if (!f) {
		tool_error("out of memory");
		return TOOL_EXIT_ERROR;
	}
	prom_write(f, v, ok);
	if (fclose(f) != 0 || !text) {
		free(text);
		tool_error("out of memory");
		return TOOL_EXIT_ERROR;
	}
	if (path)
		rc = prom_save(path, text, len);
	else
		rc = fwrite(text, 1, len, stdout) == len ? 0 : TOOL_EXIT_ERROR;
	free(text);
	return rc;
}

int main(int argc, char **argv)
{
	struct tool_common c;
	tier_vault *v = NULL;
	const char *prom_path;
	int rc = 0, check, degraded = 0;
	size_t n;

	tool_init(&c, &def, argc, argv);
	if (c.args.count && !opt_prometheus)
		return tool_finish(
		        &c, tool_usage_error("FILE '%s' is for --prometheus",
		                             tool_q(c.args.items[0])));
	if (opt_prometheus && c.json)
		return tool_finish(
		        &c, tool_usage_error("--prometheus and --json exclude "
		                             "each other"));
	prom_path = c.args.count ? c.args.items[0] : NULL;
	if ((rc = tool_vault_open(&v, &c, TOOL_READ, 0)) < 0) {
		/* the collector's file says so, instead of going stale */
		rc = tool_fail(rc);
		if (opt_prometheus)
			prom_emit(NULL, 0, prom_path);
		return tool_finish(&c, rc);
	}

	n = tier_vault_tier_count(v);
	for (size_t i = 0; i < n; i++)
		if (!tier_vault_tier_info(v, i)->synchronized)
			degraded = 1;
	check = tier_vault_check(v);

	if (opt_prometheus)
		rc = prom_emit(v, 1, prom_path);
	else if (c.json)
		rc = status_json(v, n);
	else
		status_text(v, n, &c);
	tier_vault_free(v);
	if (rc)
		return tool_finish(&c, rc);
	if (check < 0)
		return tool_finish(&c, tool_exit_from_error(check));
	return tool_finish(&c, degraded ? TOOL_EXIT_DEGRADED : TOOL_EXIT_OK);
}
