/*
 * Key slots in the log (keys.h).  The password is asked once per process
 * and tried against every slot of the newest head; a wrong one costs one
 * KDF per slot and no network round trip (the log is in the cache).
 */
#include "keys.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/keyslot.h"
#include "objread.h"
#include "snapshot.h"
#include "util/error.h"
#include "vault_int.h"
#include "write.h"

void tier_keys_forget_password(char *pw, size_t len)
{
	if (!pw)
		return;
	OPENSSL_cleanse(pw, len);
	free(pw);
}

int tier_keys_ask(tier_vault *v, char **pw, size_t *len)
{
	int rc;
	*pw = NULL;
	*len = 0;
	if (!v->password)
		return tier_error_set(TIER_EUSAGE,
		                      "the vault is encrypted and no password "
		                      "was given");
	if ((rc = v->password(pw, len, v->password_payload)) < 0)
		return rc;
	if (!*pw || !*len) {
		tier_keys_forget_password(*pw, *len);
		*pw = NULL;
		return tier_error_set(TIER_EUSAGE, "the password is empty");
	}
	return 0;
}

/*
 * The commits the vault knows, newest first: the tiers' heads by revision,
 * then our refs of them.  A damaged one is passed over for the next.
 */
static size_t known_heads(tier_vault *v, git_oid *out, size_t cap)
{
	uint64_t rev[64];
	size_t n = 0;
	if (cap > 64)
		cap = 64;
	for (size_t i = 0; i < v->n && n < cap; i++)
		if (v->t[i].has_head) {
			size_t j = n++;
			while (j > 0 && v->t[i].info.revision > rev[j - 1]) {
				out[j] = out[j - 1];
				rev[j] = rev[j - 1];
				j--;
			}
			git_oid_cpy(&out[j], &v->t[i].head);
			rev[j] = v->t[i].info.revision;
		}
	for (size_t i = 0; i < v->n && n < cap; i++)
		if (v->t[i].has_stored)
			git_oid_cpy(&out[n++], &v->t[i].stored);
	return n;
}

static int head_tree(git_tree **out, tier_vault *v, const git_oid *head)
{
	git_commit *c = NULL;
	int rc = git_commit_lookup(&c, v->cache, head);
	if (rc == 0)
		rc = git_commit_tree(out, c);
	git_commit_free(c);
	return rc < 0 ? tier_error_from_git(rc, "cannot read the vault's "
	                                        "newest revision")
	              : 0;
}

static int vault_encrypted(int *enc, tier_vault *v, const git_tree *t)
{
	git_blob *b = NULL;
	git_oid id;
	int rc;
	if (tier_snap_part(&id, t, TIER_SNAP_VAULT) < 0)
		return tier_error_set(TIER_ECORRUPT,
		                      "the newest revision has no vault blob");
	if ((rc = tier_blob_lookup_bounded(&b, v->cache, &id,
	                                   TIER_MAX_SMALL_OBJECT,
	                                   "the vault blob")) < 0)
		return rc;
	rc = tier_snap_vault_parse(enc, git_blob_rawcontent(b),
	                           (size_t)git_blob_rawsize(b));
	git_blob_free(b);
	return rc;
}

/* Try pw on every slot of keys/; 0 and *out on the first that opens. */
static int open_slots(tier_keys *out, tier_vault *v, const git_tree *keys,
                      const char *pw, size_t len)
{
	const git_tree_entry *e = NULL;
	size_t n = git_tree_entrycount(keys);
	int rc = TIER_EAUTH;
	for (size_t i = 0; i < n && rc == TIER_EAUTH; i++) {
		git_blob *b = NULL;
		e = git_tree_entry_byindex(keys, i);
		if (git_tree_entry_type(e) != GIT_OBJECT_BLOB ||
		    tier_blob_lookup_bounded(&b, v->cache, git_tree_entry_id(e),
		                             TIER_MAX_SMALL_OBJECT,
		                             "a key slot") < 0)
			continue; /* a damaged slot: try the others */
		rc = tier_keyslot_open(out, git_blob_rawcontent(b),
		                       (size_t)git_blob_rawsize(b), pw, len);
		git_blob_free(b);
		if (rc < 0 && rc != TIER_EAUTH)
			rc = TIER_EAUTH;
	}
	if (rc == 0)
		snprintf(v->key_id, sizeof(v->key_id), "%s",
		         git_tree_entry_name(e));
	if (rc == TIER_EAUTH)
		return tier_error_set(TIER_EAUTH,
		                      "wrong password: none of the vault's %zu "
		                      "key(s) opens with it",
		                      n);
	return rc;
}

static int load_from(tier_vault *v, const git_tree *t)
{
	git_tree *keys = NULL;
	git_oid kid;
	tier_keys *k = NULL;
	char *pw = NULL;
	size_t len = 0;
	int rc;
	if (tier_snap_part(&kid, t, TIER_SNAP_KEYS) < 0)
		return tier_error_set(TIER_ECORRUPT,
		                      "the vault is encrypted but its newest "
		                      "revision holds no key");
	if ((rc = tier_tree_lookup_bounded(&keys, v->cache, &kid,
	                                   "the key slots")) < 0)
		return rc;
	if (!(k = tier_calloc(1, sizeof(*k))))
		rc = TIER_ERROR;
	else if ((rc = tier_keys_ask(v, &pw, &len)) == 0)
		rc = open_slots(k, v, keys, pw, len);
	tier_keys_forget_password(pw, len);
	git_tree_free(keys);
	if (rc < 0) {
		if (k)
			tier_keys_wipe(k);
		free(k);
		return rc;
	}
	v->keys = k;
	return 0;
}

int tier_keys_load(tier_vault *v)
{
	git_oid heads[64];
	size_t n;
	int rc = 0;
	if (v->keys || !v->cache)
		return 0;
	n = known_heads(v, heads, sizeof(heads) / sizeof(heads[0]));
	for (size_t i = 0; i < n; i++) {
		git_tree *t = NULL;
		int enc = 0;
		if ((rc = head_tree(&t, v, &heads[i])) == 0 &&
		    (rc = vault_encrypted(&enc, v, t)) == 0 && enc)
			rc = load_from(v, t);
		git_tree_free(t);
		/* only the password ends the search: damage on one tier is
		 * that tier's fsck finding, the next head may be whole */
		if (rc == 0 || rc == TIER_EAUTH || rc == TIER_EUSAGE ||
		    rc == TIER_EABORTED)
			return rc;
	}
	tier_error_clear();
	return 0;
}

int tier_keys_create(tier_vault *v, tier_buf *slot, char id[17],
                     uint64_t kdf_memory)
{
	char user[256], host[256];
	tier_kdf_params params;
	char *pw = NULL;
	size_t len = 0;
	int rc;

	if (!(v->keys = tier_calloc(1, sizeof(*v->keys))))
		return TIER_ERROR;
	tier_kdf_params_for_memory(&params, kdf_memory);
	tier_installation_who(user, sizeof(user), host, sizeof(host));
	if ((rc = tier_keys_generate(v->keys)) == 0 &&
	    (rc = tier_keys_ask(v, &pw, &len)) == 0)
		rc = tier_keyslot_create(slot, id, v->keys, pw, len, &params,
		                         host, user, (int64_t)time(NULL));
	tier_keys_forget_password(pw, len);
	return rc;
}

int tier_keys_write_tree(git_oid *out, git_repository *repo,
                         const tier_buf *slots, const char (*ids)[17], size_t n)
{
	git_treebuilder *tb = NULL;
	git_oid blob;
	int rc = git_treebuilder_new(&tb, repo, NULL);
	for (size_t i = 0; rc == 0 && i < n; i++)
		if ((rc = git_blob_create_from_buffer(&blob, repo, slots[i].ptr,
		                                      slots[i].size)) == 0)
			rc = git_treebuilder_insert(NULL, tb, ids[i], &blob,
			                            GIT_FILEMODE_BLOB);
	if (rc == 0)
		rc = git_treebuilder_write(out, tb);
	git_treebuilder_free(tb);
	return rc < 0 ? tier_error_from_git(rc, "cannot write the vault's keys")
	              : 0;
}

/* ---- tier-key: slot changes as logged writes ----------------------------- */

static int parent_tree(git_tree **out, tier_write *w)
{
	git_commit *c = NULL;
	const git_oid *parent = tier_write_parent(w);
	int rc;
	*out = NULL;
	if (!parent)
		return tier_error_set(TIER_ENOTFOUND,
		                      "the vault has no revision");
	if ((rc = git_commit_lookup(&c, tier_write_repo(w), parent)) == 0)
		rc = git_commit_tree(out, c);
	git_commit_free(c);
	return rc < 0 ? tier_error_from_git(rc, "cannot read the head revision")
	              : 0;
}

/* The head's tree with keys/ less `remove` and plus `slot` (either NULL). */
static int new_tree(git_oid *out, tier_write *w, const char *remove,
                    const tier_buf *slot, const char *slot_id)
{
	git_repository *repo = tier_write_repo(w);
	git_tree *head = NULL, *keys = NULL;
	git_treebuilder *kb = NULL, *tb = NULL;
	git_oid kid, blob;
	int rc;
	if ((rc = parent_tree(&head, w)) < 0)
		return rc;
	if (tier_snap_part(&kid, head, TIER_SNAP_KEYS) < 0) {
		rc = tier_error_set(
		        TIER_EUNSUPPORTED,
		        "the vault is not encrypted: it has no keys");
		goto out;
	}
	if ((rc = git_tree_lookup(&keys, repo, &kid)) < 0 ||
	    (rc = git_treebuilder_new(&kb, repo, keys)) < 0)
		goto git_fail;
	if (remove && !git_treebuilder_get(kb, remove)) {
		rc = tier_error_set(TIER_ENOTFOUND, "the vault has no key '%s'",
		                    remove);
		goto out;
	}
	if (remove && (rc = git_treebuilder_remove(kb, remove)) < 0)
		goto git_fail;
	if (slot && ((rc = git_blob_create_from_buffer(&blob, repo, slot->ptr,
	                                               slot->size)) < 0 ||
	             (rc = git_treebuilder_insert(NULL, kb, slot_id, &blob,
	                                          GIT_FILEMODE_BLOB)) < 0))
		goto git_fail;
	if (git_treebuilder_entrycount(kb) == 0) {
		rc = tier_error_set(TIER_EUSAGE,
		                    "'%s' is the vault's last key: add another "
		                    "first (or use tier-key passwd)",
		                    remove);
		goto out;
	}
	if ((rc = git_treebuilder_write(&kid, kb)) < 0 ||
	    (rc = git_treebuilder_new(&tb, repo, head)) < 0 ||
	    (rc = git_treebuilder_insert(NULL, tb, TIER_SNAP_KEYS, &kid,
	                                 GIT_FILEMODE_TREE)) < 0 ||
	    (rc = git_treebuilder_write(out, tb)) < 0)
		goto git_fail;
	goto out;
git_fail:
	rc = tier_error_from_git(rc, "cannot write the vault's keys");
out:
	git_treebuilder_free(tb);
	git_treebuilder_free(kb);
	git_tree_free(keys);
	git_tree_free(head);
	return rc;
}

int tier_vault_key_change(tier_write_result **out, tier_vault *v,
                          const char *password, size_t password_len,
                          uint64_t kdf_memory, const char *remove,
                          char id_out[17])
{
	tier_write *w = NULL;
	tier_buf slot = TIER_BUF_INIT, tr = TIER_BUF_INIT;
	char user[256], host[256], id[17] = "", summary[128];
	tier_kdf_params params;
	git_oid tree;
	int rc;

	*out = NULL;
	if (!v->keys)
		return tier_error_set(
		        TIER_EUNSUPPORTED,
		        "the vault is not encrypted: it has no keys");
	if (password) {
		tier_kdf_params_for_memory(&params, kdf_memory);
		tier_installation_who(user, sizeof(user), host, sizeof(host));
		if ((rc = tier_keyslot_create(&slot, id, v->keys, password,
		                              password_len, &params, host, user,
		                              (int64_t)time(NULL))) < 0)
			goto out;
		tier_buf_printf(&tr, "Tier-Key-Added: %s\n", id);
	}
	if (remove)
		tier_buf_printf(&tr, "Tier-Key-Removed: %s\n", remove);
	snprintf(summary, sizeof(summary), "key: %s%s%s%s",
	         password ? "add " : "", id, password && remove ? ", " : "",
	         remove ? "remove " : "");
	if (remove)
		snprintf(summary + strlen(summary),
		         sizeof(summary) - strlen(summary), "%s", remove);
	if (!tr.ptr) {
		rc = TIER_ERROR;
		goto out;
	}
	if ((rc = tier_write_begin(&w, v, "key")) < 0 ||
	    (rc = new_tree(&tree, w, remove, password ? &slot : NULL, id)) < 0)
		goto out;
	rc = tier_write_commit(w, &tree, summary, tr.ptr, out);
	if (rc == 0 && id_out)
		memcpy(id_out, id, sizeof(id));
out:
	tier_write_free(w);
	tier_buf_dispose(&slot);
	tier_buf_dispose(&tr);
	return rc;
}

int tier_vault_key_list(tier_key_info **out, size_t *count, tier_vault *v)
{
	git_oid head, kid;
	git_tree *t = NULL, *keys = NULL;
	tier_key_info *list = NULL;
	size_t n = 0;
	int rc;

	*out = NULL;
	*count = 0;
	if (!v->keys)
		return tier_error_set(
		        TIER_EUNSUPPORTED,
		        "the vault is not encrypted: it has no keys");
	if ((rc = tier_vault_best_head(v, &head, NULL)) < 0 ||
	    (rc = head_tree(&t, v, &head)) < 0)
		return rc;
	if (tier_snap_part(&kid, t, TIER_SNAP_KEYS) < 0 ||
	    (rc = tier_tree_lookup_bounded(&keys, v->cache, &kid,
	                                   "the key slots")) < 0) {
		git_tree_free(t);
		return rc < 0 ? rc
		              : tier_error_set(TIER_ECORRUPT,
		                               "the head revision has no keys");
	}
	size_t m = git_tree_entrycount(keys);
	if (!(list = tier_calloc(m ? m : 1, sizeof(*list))))
		rc = TIER_ERROR;
	for (size_t i = 0; rc == 0 && i < m; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(keys, i);
		git_blob *b = NULL;
		tier_keyslot_info info;
		if (tier_blob_lookup_bounded(&b, v->cache, git_tree_entry_id(e),
		                             TIER_MAX_SMALL_OBJECT,
		                             "a key slot") < 0 ||
		    tier_keyslot_info_parse(&info, git_blob_rawcontent(b),
		                            (size_t)git_blob_rawsize(b)) < 0) {
			git_blob_free(b);
			continue; /* a damaged slot is not listed */
		}
		git_blob_free(b);
		tier_key_info *k = &list[n++];
		snprintf(k->id, sizeof(k->id), "%s", info.id);
		snprintf(k->kdf, sizeof(k->kdf), "%s", info.kdf);
		snprintf(k->host, sizeof(k->host), "%s", info.host);
		snprintf(k->user, sizeof(k->user), "%s", info.user);
		k->created = info.created;
		k->current = !strcmp(info.id, v->key_id);
	}
	tier_error_clear();
	git_tree_free(keys);
	git_tree_free(t);
	if (rc < 0) {
		free(list);
		return rc;
	}
	*out = list;
	*count = n;
	return 0;
}

const char *tier_vault_key_current(const tier_vault *v)
{
	return v->key_id[0] ? v->key_id : NULL;
}
