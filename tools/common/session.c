#include "session.h"

#include <stdio.h>
#include <string.h>

#include "exitcodes.h"
#include "output.h"
#include "password.h"

static int64_t wait_ms = TIER_DEFAULT_WAIT_TIMEOUT_MS;

void tool_vault_set_wait(int64_t ms)
{
	wait_ms = ms;
}

static int intend_write;

void tool_vault_set_intend_write(int on)
{
	intend_write = on;
}

static void on_notice(const char *line, void *payload)
{
	(void)payload;
	tool_warning("%s", line);
}

int tool_vault_open(tier_vault **out, const struct tool_common *c,
                    enum tool_access access, int check)
{
	tier_vault_options o = TIER_VAULT_OPTIONS_INIT;
	int rc;

	*out = NULL;
	tool_location_options(c, &o.location);
	o.state_dir = c->state_dir;
	o.tiers = c->tiers.items;
	o.ntiers = c->tiers.count;
	o.wait_timeout_ms = wait_ms;
	o.notice = on_notice;
	o.password = tool_password;
	o.password_payload = (void *)c;
	o.intend_write = intend_write;
	/* R8 guards writes: a reading tool reads a vault another
	 * installation took over, and says so (below) */
	o.reading = access == TOOL_READ;
	/* a writing tool without an installation fails in the library, with a
	 * message that says what to give */
	(void)access;
	if ((rc = tier_vault_open(out, &o)) < 0)
		return rc;
	/* writing tools report per tier in their result instead */
	if (!c->json && access == TOOL_READ)
		tool_vault_report(*out);
	if (check && (rc = tier_vault_check(*out)) < 0) {
		tier_vault_free(*out);
		*out = NULL;
		return rc;
	}
	if (check && access == TOOL_READ &&
	    (rc = tier_vault_check_write(*out)) < 0 &&
	    (rc == TIER_EFOREIGN || rc == TIER_EROLLEDBACK))
		tool_warning("%s", tier_error_last());
	return 0;
}

void tool_vault_report(const tier_vault *v)
{
	for (size_t i = 0; i < tier_vault_tier_count(v); i++) {
		const tier_info *in = tier_vault_tier_info(v, i);
		/* the library's problem names the tier and its state: said once */
		if (in->state == TIER_STATE_OFFLINE ||
		    in->state == TIER_STATE_DAMAGED ||
		    in->state == TIER_STATE_OTHER_VAULT ||
		    in->state == TIER_STATE_REFUSED)
			tool_warning("%s", tool_tier_problem(in));
		else if (in->state == TIER_STATE_OK && !in->synchronized)
			tool_info(
			        "tier '%s' is behind: revision %llu of %llu (tier-sync brings it level)",
			        tool_q(in->name),
			        (unsigned long long)in->revision,
			        (unsigned long long)tier_vault_max_revision(v));
	}
}

const char *tool_size(uint64_t bytes, char buf[32])
{
	static const char *const units[] = {"B",   "KiB", "MiB",
	                                    "GiB", "TiB", "PiB"};
	double x = (double)bytes;
	size_t u = 0;
	while (x >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		x /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, 32, "%llu B", (unsigned long long)bytes);
	else
		snprintf(buf, 32, "%.1f %s", x, units[u]);
	return buf;
}

json_t *tool_write_result_json(const tier_write_result *r)
{
	json_t *arr = json_array();
	for (size_t i = 0; r && i < r->ntiers; i++) {
		json_t *t = json_pack(
		        "{s:s, s:s}", "name", r->tiers[i].name, "result",
		        tier_write_outcome_name(r->tiers[i].outcome));
		if (r->tiers[i].outcome != TIER_WRITE_WRITTEN &&
		    r->tiers[i].error[0])
			json_object_set_new(t, "error",
			                    json_string(r->tiers[i].error));
		json_array_append_new(arr, t);
	}
	return arr;
}

void tool_write_result_report(const tier_write_result *r)
{
	for (size_t i = 0; r && i < r->ntiers; i++) {
		if (r->tiers[i].outcome == TIER_WRITE_WRITTEN)
			continue;
		if (r->tiers[i].outcome == TIER_WRITE_SKIPPED_UNSYNCHRONIZED)
			tool_warning("%s: run tier-sync",
			             tool_write_problem(&r->tiers[i]));
		else
			tool_warning("%s", tool_write_problem(&r->tiers[i]));
	}
}
