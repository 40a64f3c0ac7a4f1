/*
 * fsck of the data packs on one tier: each pack the head lists present and
 * of its size; with --read-data downloaded, verified, and its tail (index
 * and trailer) compared with the log's copy that restore reads by.  With
 * --repair a bad pack is copied from another tier that holds a good one.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsck_int.h"
#include "objread.h"
#include "pack.h"
#include "util/posix.h"

/* ---- downloads -------------------------------------------------------- */

struct fdsink {
	int fd;
	const char *path;
	struct fsck_run *r;
	int rc;
};

static int fd_sink(const void *data, size_t len, void *payload)
{
	struct fdsink *s = payload;
	if ((s->rc = tier_write_all(s->fd, data, len, s->path)) < 0)
		return 1;
	s->r->r->bytes_read += len;
	return 0;
}

/*
 * Download an object to a new temporary file; *fd stays open (for a put),
 * the caller unlinks path and closes fd.  A whole pack never sits in memory.
 */
static int download(struct fsck_run *r, tier_location *loc, const char *obj,
                    tier_buf *path, int *fd)
{
	const char *base = getenv("TMPDIR");
	tier_buf_clear(path);
	if (tier_buf_printf(path, "%s/tier-fsck-XXXXXX",
	                    base && *base ? base : "/tmp") < 0)
		return TIER_ERROR;
	if ((*fd = mkstemp(path->ptr)) < 0)
		return tier_error_set_errno(
		        TIER_ERROR, errno,
		        "cannot create a temporary file in '%s'",
		        base && *base ? base : "/tmp");
	struct fdsink s = {*fd, path->ptr, r, 0};
	int rc = tier_location_get(loc, obj, 0, UINT64_MAX, fd_sink, &s);
	if (rc == TIER_EABORTED && s.rc < 0)
		rc = s.rc;
	if (rc < 0) {
		unlink(path->ptr);
		close(*fd);
		*fd = -1;
	}
	return rc;
}

static void discard(tier_buf *path, int *fd)
{
	if (*fd >= 0) {
		unlink(path->ptr);
		close(*fd);
		*fd = -1;
	}
}

/* ---- data packs on one tier ------------------------------------------- */

/*
 * The log's copy of a pack's tail (index/<xx>/<id>: its index and trailer)
 * against the pack's own tail, byte for byte.  Restore finds chunks by the
 * log's copy alone: a copy that disagrees with a sound pack sends it to
 * the wrong bytes.  got holds what the pack has; its length is `have`.
 * 0 when they agree; 1 (why says how) when not; < 0 on error.
 */
static int tail_compare(struct fsck_run *r, const struct packref *p,
                        const unsigned char *got, size_t have, tier_buf *why)
{
	git_blob *blob = NULL;
	int rc = tier_blob_lookup_bounded(&blob, r->cache, &p->tail,
	                                  TIER_MAX_INDEX_BLOB,
	                                  "the log's copy of the pack's index");
	if (rc < 0) {
		tier_buf_sets(why, tier_error_last());
		return rc == TIER_ENOTFOUND || rc == TIER_ECORRUPT ? 1 : rc;
	}
	const unsigned char *want = git_blob_rawcontent(blob);
	size_t len = (size_t)git_blob_rawsize(blob);
	if (len != have)
		tier_buf_printf(
		        why,
		        "the log's copy of its index and trailer is %zu "
		        "bytes, the pack's own is %zu",
		        len, have);
	else if (memcmp(want, got, len) != 0) {
		size_t k = 0;
		while (want[k] == got[k])
			k++;
		tier_buf_printf(
		        why,
		        "the log's copy of its index and trailer differs "
		        "from the pack's own from byte %zu of %zu",
		        k, len);
	} else
		rc = 0;
	git_blob_free(blob);
	return why->size ? 1 : rc;
}

/* The pack's own tail from a local copy (fd, size bytes), against the
 * log's copy.  The pack was verified: its trailer is sound. */
static int tail_check(struct fsck_run *r, const struct packref *p, int fd,
                      uint64_t size, tier_buf *why)
{
	unsigned char tr_bytes[TIER_PACK_TRAILER_SIZE];
	tier_pack_trailer tr;
	unsigned char *tail = NULL;
	int rc;

	tier_buf_clear(why);
	if (size < sizeof(tr_bytes) ||
	    pread(fd, tr_bytes, sizeof(tr_bytes),
	          (off_t)(size - sizeof(tr_bytes))) !=
	            (ssize_t)sizeof(tr_bytes) ||
	    tier_pack_trailer_parse(&tr, tr_bytes, sizeof(tr_bytes), NULL) < 0)
		return tier_error_set(TIER_ERROR,
		                      "cannot read back the trailer of pack %s",
		                      p->path);
	uint64_t have = tr.index_len + TIER_PACK_TRAILER_SIZE;
	if (have > size ||
	    have > TIER_MAX_INDEX_BLOB + TIER_PACK_TRAILER_SIZE) {
		tier_buf_printf(why,
		                "its index and trailer are %llu bytes, "
		                "over the format's limit",
		                (unsigned long long)have);
		return 1;
	}
	if (!(tail = tier_malloc((size_t)have)))
		return TIER_ERROR;
	if (pread(fd, tail, (size_t)have, (off_t)(size - have)) !=
	    (ssize_t)have)
		rc = tier_error_set_errno(TIER_ERROR, errno,
		                          "cannot read back pack %s", p->path);
	else
		rc = tail_compare(r, p, tail, (size_t)have, why);
	free(tail);
	return rc;
}

/*
 * Check one pack on a tier: present, of the right size, and with
 * read_data whole and sound, its tail the log's copy.  Returns its state, or a negative code when
 * the tier went offline (or fsck cannot go on).  *why gets the reason.
 */
static int pack_probe(struct fsck_run *r, tier_location *loc,
                      const struct packref *p, int read_data, tier_buf *why)
{
	tier_stat st;
	tier_buf tmp = TIER_BUF_INIT;
	int fd = -1;
	int rc = tier_location_stat(loc, p->path, &st);
	tier_buf_clear(why);
	if (rc == TIER_EOFFLINE || rc == TIER_EABORTED)
		return rc;
	if (rc == TIER_ENOTFOUND || (rc == 0 && st.is_dir))
		return PACK_MISSING;
	if (rc < 0) {
		tier_buf_sets(why, tier_error_last());
		return PACK_UNREADABLE;
	}
	if (st.size != p->size) {
		tier_buf_printf(why,
		                "%llu bytes, its trailer in the log says %llu",
		                (unsigned long long)st.size,
		                (unsigned long long)p->size);
		return PACK_SIZE;
	}
	if (!read_data)
		return PACK_OK;
	if ((rc = download(r, loc, p->path, &tmp, &fd)) < 0) {
		tier_buf_dispose(&tmp);
		if (rc == TIER_EOFFLINE || rc == TIER_EABORTED)
			return rc;
		if (rc == TIER_ENOTFOUND)
			return PACK_MISSING;
		if (rc == TIER_ERROR &&
		    !strncmp(tier_error_last(), "cannot create a temporary",
		             25))
			return rc; /* our side: no point going on */
		tier_buf_sets(why, tier_error_last());
		return PACK_UNREADABLE;
	}
	rc = tier_pack_verify(tmp.ptr, p->id, NULL, tier_vault_keys(r->v));
	r->r->packs_read++;
	if (rc < 0)
		tier_buf_sets(why, tier_error_last());
	else if ((rc = tail_check(r, p, fd, st.size, why)) < 0)
		tier_buf_sets(why, tier_error_last());
	discard(&tmp, &fd);
	tier_buf_dispose(&tmp);
	if (rc == 1)
		return PACK_INDEX_MISMATCH;
	if (rc == TIER_ECORRUPT || rc == TIER_EUNSUPPORTED)
		return PACK_CORRUPT;
	if (rc < 0)
		return PACK_UNREADABLE;
	return PACK_OK;
}

static int pack_problem(struct fsck_run *r, struct packref *p, const char *tier,
                        const char *why)
{
	char hex[TIER_HASH_HEXLEN + 1];
	const char *id = NULL;
	tier_hex(hex, p->id, TIER_HASH_LEN);
	switch (p->state) {
	case PACK_MISSING:
		return tier_fsck_add_problem(
		        r, &p->problem, "pack-missing", TIER_FSCK_ERROR, tier,
		        p->path,
		        "tier '%s': pack data/%.2s/%.12s... is missing", tier,
		        hex, hex);
	case PACK_SIZE:
		return tier_fsck_add_problem(
		        r, &p->problem, "pack-size", TIER_FSCK_ERROR, tier,
		        p->path,
		        "tier '%s': pack data/%.2s/%.12s... is truncated or overlong: %s",
		        tier, hex, hex, why);
	case PACK_CORRUPT:
		id = "pack-corrupt";
		break;
	case PACK_UNREADABLE:
		id = "pack-unreadable";
		break;
	case PACK_INDEX_MISMATCH:
		return tier_fsck_add_problem(
		        r, &p->problem, "pack-index-mismatch", TIER_FSCK_ERROR,
		        tier, p->path,
		        "tier '%s': pack data/%.2s/%.12s... does not match the log: %s "
		        "(restore reads its chunks by the log's copy)",
		        tier, hex, hex, why);
	default:
		return 0;
	}
	/* tier_pack_verify names the damaged chunk in full: keep it short */
	if (p->state == PACK_CORRUPT && !strncmp(why, "chunk ", 6) &&
	    strlen(why) > 6 + SHORT && strstr(why, "fails its hash"))
		return tier_fsck_add_problem(
		        r, &p->problem, id, TIER_FSCK_ERROR, tier, p->path,
		        "tier '%s': pack data/%.2s/%.12s... fails its hash (chunk %.12s... "
		        "damaged)",
		        tier, hex, hex, why + 6);
	return tier_fsck_add_problem(
	        r, &p->problem, id, TIER_FSCK_ERROR, tier, p->path,
	        "tier '%s': pack data/%.2s/%.12s... %s: %s", tier, hex, hex,
	        p->state == PACK_CORRUPT ? "fails its check" : "cannot be read",
	        why);
}

/*
 * Mend pack p on tier ti from another tier where it verifies, then check
 * it again on ti.  Never touches a log.  Its steps share a pack_mend.
 */
struct pack_mend {
	struct fsck_run *r;
	struct packref *p;
	tier_location *dst;
	tier_buf tmp; /* the local copy's path, fd its open file */
	int fd;
	tier_buf why;
	tier_buf tried; /* "'b' has none, 'c' has a bad copy too" */
};

/* Whether tier j may serve a copy to tier ti. */
static int pack_source_ok(struct fsck_run *r, size_t ti, size_t j)
{
	const tier_info *in = tier_vault_tier_info(r->v, j);
	return j != ti && in->online && in->state != TIER_STATE_OFFLINE &&
	       in->state != TIER_STATE_OTHER_VAULT &&
	       !tier_location_is_offline(tier_vault_location(r->v, j));
}

/* Download tier j's copy and check it as the log knows the pack: 1 with a
 * good copy in tmp/fd, 0 when it has none (tried says so), < 0 on error. */
static int pack_fetch(struct pack_mend *m, size_t j)
{
	struct fsck_run *r = m->r;
	struct packref *p = m->p;
	const tier_info *in = tier_vault_tier_info(r->v, j);
	tier_location *src = tier_vault_location(r->v, j);
	const char *sep = m->tried.size ? ", " : "";
	tier_stat st;
	int rc;

	if ((rc = tier_location_stat(src, p->path, &st)) < 0 ||
	    st.size != p->size) {
		if (rc == TIER_EABORTED)
			return rc;
		tier_buf_printf(&m->tried, "%s'%s' %s", sep, in->name,
		                rc == 0 ? "has a bad copy too" : "has none");
		return 0;
	}
	if ((rc = download(r, src, p->path, &m->tmp, &m->fd)) < 0) {
		if (rc == TIER_EABORTED)
			return rc;
		tier_buf_printf(&m->tried, "%s'%s': %s", sep, in->name,
		                tier_error_last());
		return 0;
	}
	if (tier_pack_verify(m->tmp.ptr, p->id, NULL, tier_vault_keys(r->v)) <
	    0) {
		tier_buf_printf(&m->tried, "%s'%s' has a bad copy too", sep,
		                in->name);
		discard(&m->tmp, &m->fd);
		return 0;
	}
	/* only from a tier that agrees with the log restore reads by */
	if ((rc = tail_check(r, p, m->fd, p->size, &m->why)) != 0) {
		discard(&m->tmp, &m->fd);
		if (rc < 0)
			return rc;
		tier_buf_printf(&m->tried,
		                "%s'%s' has a copy that does not match "
		                "the log either",
		                sep, in->name);
		return 0;
	}
	return 1;
}

/* Put the good copy from tier `from` on the tier and check it there:
 * 1 when done (a note says how it went), < 0 on error. */
static int pack_put(struct pack_mend *m, const char *from)
{
	struct fsck_run *r = m->r;
	struct packref *p = m->p;
	tier_source s = {NULL, m->fd, p->size, NULL};
	int rc = tier_location_put(m->dst, p->path, &s, 0);

	discard(&m->tmp, &m->fd);
	if (rc < 0) {
		if (rc == TIER_EABORTED)
			return rc;
		tier_fsck_note(r, p->problem,
		               "; cannot copy it from tier '%s': %s", from,
		               tier_error_last());
		return 1;
	}
	/* trust nothing: check the copy where it landed */
	int st = pack_probe(r, m->dst, p, r->o->read_data, &m->why);
	if (st < 0)
		return st;
	tier_fsck_copy_verdict(r, p->problem, st == PACK_OK, from,
	                       tier_buf_cstr(&m->why));
	return 1;
}

static int repair_pack(struct fsck_run *r, size_t ti, struct packref *p)
{
	struct pack_mend m = {.r = r,
	                      .p = p,
	                      .dst = tier_vault_location(r->v, ti),
	                      .tmp = TIER_BUF_INIT,
	                      .fd = -1,
	                      .why = TIER_BUF_INIT,
	                      .tried = TIER_BUF_INIT};
	int rc = 0;

	if (p->state == PACK_INDEX_MISMATCH) {
		/* the pack here verified against its id: every copy of that id
		 * is these bytes, so no tier holds one that agrees */
		tier_fsck_note(
		        r, p->problem,
		        "; cannot repair: the pack is sound and is the one its id "
		        "names, so it is the log's copy of its index that is wrong "
		        "(repair never writes a revision)");
		return 0;
	}
	for (size_t j = 0; j < tier_vault_tier_count(r->v) && rc == 0; j++)
		if (pack_source_ok(r, ti, j) && (rc = pack_fetch(&m, j)) == 1)
			rc = pack_put(&m, tier_vault_tier_info(r->v, j)->name);
	if (rc == 0)
		tier_fsck_note(
		        r, p->problem,
		        "; cannot repair: no other tier holds a good copy%s%s%s",
		        m.tried.size ? " (" : "", tier_buf_cstr(&m.tried),
		        m.tried.size ? ")" : "");
	discard(&m.tmp, &m.fd);
	tier_buf_dispose(&m.tmp);
	tier_buf_dispose(&m.why);
	tier_buf_dispose(&m.tried);
	return rc < 0 ? rc : 0;
}

/* Packs under data/ that the tier's head does not list (left by an
 * interrupted push or a sync under way): info only. */
struct listing {
	struct fsck_run *r;
	tier_location *loc;
	const tier_vec *packs;
	const char *tier;
	const char *dir;
	int rc;
};

static int list_pack(const char *name, const tier_stat *st, void *payload)
{
	struct listing *l = payload;
	struct packref key, *kp = &key;
	char path[80];
	if (st->is_dir || strlen(name) != TIER_HASH_HEXLEN ||
	    tier_unhex(key.id, TIER_HASH_LEN, name) < 0) {
		tier_error_clear();
		return 0;
	}
	if (l->packs->length && bsearch(&kp, l->packs->ptr, l->packs->length,
	                                sizeof(void *), tier_fsck_packref_cmp))
		return 0;
	snprintf(path, sizeof(path), "%s/%s", l->dir, name);
	if ((l->rc = tier_fsck_add_problem(
	             l->r, NULL, "pack-unreferenced", TIER_FSCK_INFO, l->tier,
	             path,
	             "tier '%s': pack data/%.2s/%.12s... is not listed by the tier's "
	             "head revision",
	             l->tier, name, name)) < 0)
		return 1;
	return 0;
}

static int list_fan(const char *name, const tier_stat *st, void *payload)
{
	struct listing *l = payload;
	char dir[16];
	(void)st;
	if (strlen(name) != 2)
		return 0;
	snprintf(dir, sizeof(dir), "data/%s", name);
	struct listing sub = *l;
	sub.dir = dir;
	int rc = tier_location_list(l->loc, dir, list_pack, &sub);
	if (sub.rc < 0) {
		l->rc = sub.rc;
		return 1;
	}
	if (rc < 0 && rc != TIER_ENOTFOUND) {
		l->rc = rc;
		return 1;
	}
	return 0;
}

static int check_unreferenced(struct fsck_run *r, tier_location *loc,
                              const char *tier, const tier_vec *packs)
{
	struct listing l = {r, loc, packs, tier, "data", 0};
	int rc = tier_location_list(loc, "data", list_fan, &l);
	if (l.rc < 0)
		return l.rc;
	if (rc == TIER_ENOTFOUND)
		return 0;
	return rc;
}

int tier_fsck_check_packs(struct fsck_run *r, size_t ti, const char *tier,
                          tier_vec *packs)
{
	tier_location *loc = tier_vault_location(r->v, ti);
	tier_buf why = TIER_BUF_INIT;
	int rc = 0;

	for (size_t k = 0; k < packs->length && rc == 0; k++) {
		struct packref *p = packs->ptr[k];
		if ((rc = tier_fsck_progress(r, tier, k, packs->length)) < 0)
			break;
		int st = pack_probe(r, loc, p, r->o->read_data, &why);
		r->r->packs_checked++;
		if (st < 0) {
			rc = st;
			break;
		}
		p->state = (enum pack_state)st;
		if (p->state != PACK_OK)
			rc = pack_problem(r, p, tier, tier_buf_cstr(&why));
	}
	if (rc == 0)
		rc = tier_fsck_progress(r, tier, packs->length, packs->length);
	for (size_t k = 0; k < packs->length && rc == 0 && r->o->repair; k++) {
		struct packref *p = packs->ptr[k];
		if (p->state != PACK_OK && p->state != PACK_UNREADABLE)
			rc = repair_pack(r, ti, p);
	}
	if (rc == 0)
		rc = check_unreferenced(r, loc, tier, packs);
	tier_buf_dispose(&why);
	return rc;
}
