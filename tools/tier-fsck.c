/* tier-fsck: verify every tier of the vault, and mend packs from another tier. */
#include <stdio.h>
#include <string.h>

#include "exitcodes.h"
#include "opt.h"
#include "output.h"
#include "password.h"
#include "session.h"
#include "tier/fsck.h"

static int opt_read_data;
static int opt_repair;

static const struct tool_opt options[] = {
        TOOL_FLAG(
                0, "read-data", &opt_read_data,
                "download every pack and hash every chunk (reads all the data of every tier)"),
        TOOL_FLAG(
                0, "repair", &opt_repair,
                "copy each missing, truncated or corrupt pack from another tier where it verifies; "
                "copy or rebuild a damaged log pack; write a garbled head again from the "
                "installation's record of it; never writes a commit"),
        TOOL_LIMIT_OPTS, TOOL_OPTS_END};

static const struct tool_exit_doc exits[] = {
        {TOOL_EXIT_FOREIGN,
         "no damage, but another installation is writing to this vault"},
        {TOOL_EXIT_ROLLEDBACK,
         "no damage, but a tier is behind what this installation wrote there"},
        {TOOL_EXIT_ERROR,
         "no tier could be checked (every tier offline or refusing access), or an error"},
        {TOOL_EXIT_DAMAGE,
         "damage found (with --repair: damage that could not be mended)"},
        {TOOL_EXIT_DEGRADED,
         "no damage, but some tier was offline or refused access and was not checked"},
        {TOOL_EXIT_INTERRUPTED, NULL},
        TOOL_EXITS_END};

static const struct tool_def def = {
        .name = "tier-fsck",
        .args = "",
        .description =
                "Verify every tier of the vault: the log of each tier (every revision "
                "readable and numbered right, every log pack on the tier whole), every pack "
                "its newest revision lists present "
                "with the right size (with --read-data: every chunk hashed), every chunk of "
                "the newest snapshot held by a pack, tiers at the same revision agreeing, "
                "and the installation's view of each tier.  Prints one line per problem and "
                "a summary.  Works with an installation (-s) or with tiers alone (-t).",
        .options = options,
        .min_args = 0,
        .max_args = 0,
        .exits = exits,
};

static int on_problem(const tier_fsck_problem *p, void *payload)
{
	const struct tool_common *c = payload;
	enum tool_color col = p->repaired ? TOOL_COLOR_GREEN
	                      : p->severity == TIER_FSCK_ERROR ? TOOL_COLOR_RED
	                      : p->severity == TIER_FSCK_WARNING
	                              ? TOOL_COLOR_YELLOW
	                              : TOOL_COLOR_DIM;
	if (c->json)
		return tool_interrupted();
	if (p->severity == TIER_FSCK_INFO && c->quiet)
		return tool_interrupted();
	tool_progress_done();
	printf("%s%s%s [%s] %s\n", tool_color(stdout, col),
	       p->repaired ? "repaired" : tier_fsck_severity_name(p->severity),
	       tool_color(stdout, TOOL_COLOR_RESET), p->id, p->message);
	fflush(stdout);
	return tool_interrupted();
}

/*
 * --read-data on a terminal: toward the data packs of every tier that
 * answered (tier_sync_held(): what each tier's head lists, which is what
 * fsck reads), with rate and ETA.  The library counts packs per tier and
 * bytes over the run: the packs of the tiers done before are added here.
 */
static tool_meter meter;
static int have_meter;
static char meter_tier[256];
static uint64_t packs_before, tier_total;

static int on_progress(const char *tier, uint64_t done, uint64_t total,
                       uint64_t bytes, void *payload)
{
	char b[32];
	(void)payload;
	if (!tool_progress_enabled())
		return tool_interrupted();
	if (!have_meter) {
		tool_progress("tier '%s': pack %llu of %llu, %s read",
		              tool_q(tier), (unsigned long long)done,
		              (unsigned long long)total, tool_size(bytes, b));
		return tool_interrupted();
	}
	if (strcmp(meter_tier, tier) != 0) {
		packs_before += tier_total;
		snprintf(meter_tier, sizeof(meter_tier), "%s", tier);
	}
	tier_total = total;
	tool_progress("reading '%s': %s", tool_q(tier),
	              tool_meter_text(&meter, bytes, packs_before + done));
	return tool_interrupted();
}

static void plan_meter(tier_vault *v)
{
	uint64_t packs = 0, bytes = 0;

	if (!opt_read_data || !tool_progress_enabled())
		return;
	for (size_t i = 0; i < tier_vault_tier_count(v); i++) {
		const tier_info *in = tier_vault_tier_info(v, i);
		uint64_t p = 0, b = 0;
		if (!in->online || in->state == TIER_STATE_OTHER_VAULT ||
		    in->state == TIER_STATE_REFUSED ||
		    in->state == TIER_STATE_DAMAGED)
			continue;
		if (tier_sync_held(v, i, &p, &b) == 0) {
			packs += p;
			bytes += b;
		}
	}
	tier_error_clear();
	if (!packs)
		return;
	tool_meter_start(&meter, bytes, packs);
	meter.unit = "pack";
	have_meter = 1;
}

/* The names of the tiers fsck could not look at, quoted: "'b', 'c'". */
static json_t *offline_tiers(const tier_fsck_report *r)
{
	json_t *names = json_array();
	for (size_t i = 0; i < r->nproblems; i++) {
		const tier_fsck_problem *p = &r->problems[i];
		int dup = 0;
		if (!p->tier || (strcmp(p->id, "tier-offline") != 0 &&
		                 strcmp(p->id, "tier-refused") != 0))
			continue;
		for (size_t k = 0; k < json_array_size(names) && !dup; k++)
			dup = !strcmp(
			        json_string_value(json_array_get(names, k)),
			        p->tier);
		if (!dup)
			json_array_append_new(names, json_string(p->tier));
	}
	return names;
}

static void offline_list(char *out, size_t cap, const tier_fsck_report *r)
{
	json_t *names = offline_tiers(r);
	size_t n = 0;
	out[0] = '\0';
	for (size_t k = 0; k < json_array_size(names) && n < cap; k++)
		n += (size_t)snprintf(
		        out + n, cap - n, "%s'%s'", k ? ", " : "",
		        json_string_value(json_array_get(names, k)));
	json_decref(names);
}

static json_t *report_json(tier_vault *v, const tier_fsck_report *r)
{
	json_t *tiers = tool_json_tiers(v, NULL), *problems = json_array();
	for (size_t i = 0; i < r->nproblems; i++) {
		const tier_fsck_problem *p = &r->problems[i];
		json_t *o = json_pack(
		        "{s:s, s:s, s:o, s:o, s:b}", "id", p->id, "severity",
		        tier_fsck_severity_name(p->severity), "tier",
		        tool_json_text(p->tier), "message",
		        tool_json_text(p->message), "repaired", p->repaired);
		/* an object may be a path from a snapshot (docs/json.md) */
		if (o)
			tool_json_set_name(o, "object", p->object);
		json_array_append_new(problems, o);
	}
	json_t *o = json_pack(
	        "{s:o, s:o, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
	        "vault",
	        tool_json_text(tier_vault_id(v)[0] ? tier_vault_id(v) : NULL),
	        "tiers", tiers, "problems", problems, "errors",
	        (json_int_t)r->errors, "warnings", (json_int_t)r->warnings,
	        "infos", (json_int_t)r->infos, "repaired",
	        (json_int_t)r->repaired, "packs_checked",
	        (json_int_t)r->packs_checked, "packs_read",
	        (json_int_t)r->packs_read, "chunks_checked",
	        (json_int_t)r->chunks_checked, "bytes_read",
	        (json_int_t)r->bytes_read);
	/* which tiers were looked at: exit 1 when none, 7 when not all */
	json_object_set_new(o, "tiers_checked",
	                    json_integer((json_int_t)r->tiers_checked));
	json_object_set_new(o, "tiers_offline", offline_tiers(r));
	return o;
}

static void summary(tier_vault *v, const tier_fsck_report *r)
{
	char b[32];
	printf("checked %zu of %zu tier%s, %llu pack%s", r->tiers_checked,
	       tier_vault_tier_count(v),
	       tier_vault_tier_count(v) == 1 ? "" : "s",
	       (unsigned long long)r->packs_checked,
	       r->packs_checked == 1 ? "" : "s");
	if (opt_read_data)
		printf(" (%llu read, %s)", (unsigned long long)r->packs_read,
		       tool_size(r->bytes_read, b));
	printf(": %zu error%s, %zu warning%s", r->errors,
	       r->errors == 1 ? "" : "s", r->warnings,
	       r->warnings == 1 ? "" : "s");
	if (opt_repair || r->repaired)
		printf(", %zu repaired", r->repaired);
	printf("\n");
}

/*
 * The exit code once the report is out: an interruption, damage, no tier
 * looked at, R8, some tiers not looked at; else what printing gave.
 */
static int verdict(const struct tool_common *c, tier_vault *v,
                   const tier_fsck_report *r, int rc, int exit_code)
{
	char names[1024];

	if (rc < 0)
		return tool_fail(
		        rc); /* interrupted: what was found is printed */
	if (exit_code != TOOL_EXIT_OK)
		return exit_code;
	if (r->errors)
		return TOOL_EXIT_DAMAGE;
	if (r->tiers_offline >= tier_vault_tier_count(v)) {
		/* nothing was looked at: never a clean bill of health */
		offline_list(names, sizeof(names), r);
		if (!c->json)
			tool_error("could check no tier: %s did not answer or "
			           "refused access",
			           names);
		return TOOL_EXIT_ERROR;
	}
	/* no damage: the R8 verdict decides, as for every other tool */
	int check = tier_vault_check(v);
	if (check == TIER_EFOREIGN || check == TIER_EROLLEDBACK) {
		if (!c->json)
			tool_error("%s", tier_error_last());
		return tool_exit_from_error(check);
	}
	if (r->tiers_offline) {
		offline_list(names, sizeof(names), r);
		if (!c->json)
			tool_error("no damage on the tiers checked, but %s "
			           "could not be checked",
			           names);
		return TOOL_EXIT_DEGRADED;
	}
	return exit_code;
}

int main(int argc, char **argv)
{
	struct tool_common c;
	tier_vault *v = NULL;
	tier_fsck_report *r = NULL;
	int rc;

	tool_init(&c, &def, argc, argv);
	/* not tool_vault_open: every tier problem is an fsck line of its own */
	tier_vault_options vo = TIER_VAULT_OPTIONS_INIT;
	tool_location_options(&c, &vo.location);
	vo.state_dir = c.state_dir;
	vo.tiers = c.tiers.items;
	vo.ntiers = c.tiers.count;
	vo.password = tool_password;
	vo.password_payload = &c;
	if ((rc = tier_vault_open(&v, &vo)) < 0)
		return tool_finish(&c, tool_fail(rc));

	tier_fsck_options fo = TIER_FSCK_OPTIONS_INIT;
	fo.read_data = opt_read_data;
	fo.repair = opt_repair;
	fo.problem = on_problem;
	fo.progress = on_progress;
	fo.payload = &c;
	plan_meter(v);
	rc = tier_fsck_run(&r, v, &fo);
	tool_progress_done();
	if (rc < 0 && !r) {
		tier_vault_free(v);
		return tool_finish(&c, tool_fail(rc));
	}

	int exit_code = TOOL_EXIT_OK;
	if (c.json)
		exit_code = tool_json_emit(report_json(v, r));
	else
		summary(v, r);
	exit_code = verdict(&c, v, r, rc, exit_code);
	tier_fsck_report_free(r);
	tier_vault_free(v);
	return tool_finish(&c, exit_code);
}
