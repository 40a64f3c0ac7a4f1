#include "snapshot.h"
#include "snapshot_int.h"
#include "util/text.h"

#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chunker.h"
#include "pack.h"
#include "util/error.h"

void tier_data_pack_path(char out[80], const unsigned char id[TIER_HASH_LEN])
{
	char hex[TIER_HASH_HEXLEN + 1];
	tier_hex(hex, id, TIER_HASH_LEN);
	snprintf(out, 80, "data/%.2s/%s", hex, hex);
}

/* ---- names ------------------------------------------------------------ */

static int inner_safe(unsigned char c)
{
	return (c >= 0x20 && c < 0x7f && c != '%' && c != '~') || c >= 0x80;
}

static int name_encode_plain(tier_buf *out, const char *name, size_t len)
{
	static const char hexd[] = "0123456789ABCDEF";
	const unsigned char *s = (const unsigned char *)name;
	int escape = 0;

	tier_buf_clear(out);
	if (len == 0)
		return tier_error_set(TIER_EUSAGE, "empty file name");
	if (s[0] == '.' || s[0] >= 0x80 || s[0] == ' ')
		escape = 1;
	for (size_t i = 0; i < len && !escape; i++)
		if (!inner_safe(s[i]) || s[i] == '/')
			escape = 1;
	if (!escape)
		return tier_buf_put(out, name, len);
	if (tier_buf_putc(out, '%') < 0)
		return TIER_ERROR;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = s[i];
		/* only printable ASCII stays; bytes >= 0x80 too, but not first */
		int keep = c > 0x20 && c < 0x7f && c != '%' && c != '~' &&
		           c != '/' && !(i == 0 && c == '.');
		if (c >= 0x80 && i > 0)
			keep = 1;
		if (keep) {
			if (tier_buf_putc(out, (char)c) < 0)
				return TIER_ERROR;
		} else {
			char e[3] = {'%', hexd[c >> 4], hexd[c & 15]};
			if (tier_buf_put(out, e, 3) < 0)
				return TIER_ERROR;
		}
	}
	return 0;
}

static int name_decode_raw(tier_buf *out, const char *entry)
{
	tier_buf_clear(out);
	if (entry[0] != '%')
		return tier_buf_puts(out, entry);
	if (entry[1] == '\0')
		return tier_error_set(TIER_ECORRUPT,
		                      "tree entry '%%' is not a file name");
	for (const char *p = entry + 1; *p; p++) {
		if (*p != '%') {
			if (tier_buf_putc(out, *p) < 0)
				return TIER_ERROR;
			continue;
		}
		int hi = tier_hexval(p[1]),
		    lo = hi < 0 ? -1 : tier_hexval(p[2]);
		if (hi < 0 || lo < 0)
			return tier_error_set(TIER_ECORRUPT,
			                      "tree entry is badly escaped");
		char c = (char)(hi << 4 | lo);
		if (tier_buf_putc(out, c) < 0)
			return TIER_ERROR;
		p += 2;
	}
	return 0;
}

/*
 * A hostile tier controls every tree entry name, and libgit2 accepts '/'
 * in them: a decoded name must be one path component, and the entry must
 * be the one canonical spelling of it (so two entries can never decode to
 * the same file, and a duplicate check on entry names is complete).
 */
static int name_decode_plain(tier_buf *out, const char *entry)
{
	tier_buf enc = TIER_BUF_INIT;
	int rc = name_decode_raw(out, entry);
	const char *why = NULL;

	if (rc < 0)
		goto fail;
	if (out->size == 0)
		why = "is empty";
	else if (memchr(out->ptr, '\0', out->size))
		why = "holds a NUL byte";
	else if (memchr(out->ptr, '/', out->size))
		why = "holds a '/'";
	else if (!strcmp(tier_buf_cstr(out), ".") ||
	         !strcmp(tier_buf_cstr(out), ".."))
		why = "is '.' or '..'";
	else if ((rc = name_encode_plain(&enc, out->ptr, out->size)) < 0)
		goto fail;
	else if (strcmp(tier_buf_cstr(&enc), entry))
		why = "is not in canonical form";
	tier_buf_dispose(&enc);
	if (why) {
		tier_buf_clear(out);
		return tier_error_set(TIER_ECORRUPT,
		                      "bad tree entry name '%s': %s",
		                      tier_quote_name(entry), why);
	}
	return 0;
fail:
	tier_buf_dispose(&enc);
	tier_buf_clear(out);
	if (rc == TIER_ECORRUPT)
		return tier_error_set(TIER_ECORRUPT,
		                      "bad tree entry name '%s': badly escaped",
		                      tier_quote_name(entry));
	return rc;
}

int tier_snap_name_encode(tier_buf *out, const tier_keys *k, const char *name,
                          size_t len)
{
	return k ? tier_snap_name_seal(out, k, name, len)
	         : name_encode_plain(out, name, len);
}

int tier_snap_name_decode(tier_buf *out, const tier_keys *k, const char *entry)
{
	return k ? tier_snap_name_open(out, k, entry)
	         : name_decode_plain(out, entry);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int tier_snap_tree_check(const git_tree *tree, const tier_keys *k)
{
	size_t n = git_tree_entrycount(tree);
	const char **names;
	tier_buf dec = TIER_BUF_INIT;
	int rc = 0;

	if (n == 0)
		return 0;
	names = tier_calloc(n, sizeof(*names));
	if (!names)
		return TIER_ERROR;
	for (size_t i = 0; i < n; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(tree, i);
		names[i] = git_tree_entry_name(e);
		if (!strcmp(names[i], TIER_SNAP_DIRMETA)) {
			if (git_tree_entry_type(e) != GIT_OBJECT_BLOB) {
				rc = tier_error_set(
				        TIER_ECORRUPT,
				        "directory metadata entry '%%' is not a blob");
				goto out;
			}
			continue;
		}
		if ((rc = tier_snap_name_decode(&dec, k, names[i])) < 0)
			goto out;
	}
	qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 1; i < n; i++)
		if (!strcmp(names[i - 1], names[i])) {
			rc = tier_error_set(TIER_ECORRUPT,
			                    "duplicate tree entry '%s'",
			                    tier_quote_name(names[i]));
			goto out;
		}
out:
	tier_buf_dispose(&dec);
	free(names);
	return rc;
}

/* ---- nodes -------------------------------------------------------------- */

static const char *const type_names[] = {"file", "dir",   "symlink", "fifo",
                                         "char", "block", "socket"};

const char *tier_node_type_name(tier_node_type t)
{
	return (unsigned)t < sizeof(type_names) / sizeof(type_names[0])
	               ? type_names[t]
	               : "unknown";
}

static int node_encode_plain(tier_buf *out, const tier_node *n)
{
	char hex[TIER_HASH_HEXLEN + 1];
	tier_buf_clear(out);
	tier_buf_printf(out,
	                "tier-node 1\ntype %s\nmode %o\nuid %" PRIu32
	                "\ngid %" PRIu32 "\nsize %" PRIu64 "\nmtime %" PRId64
	                ".%09" PRIu32 "\nctime %" PRId64 ".%09" PRIu32
	                "\nino %" PRIu64 "\ndev %" PRIu64 "\n",
	                tier_node_type_name(n->type), n->mode & 07777, n->uid,
	                n->gid, n->size, n->mtime_sec, n->mtime_nsec,
	                n->ctime_sec, n->ctime_nsec, n->ino, n->dev);
	if (n->type == TIER_NODE_CHAR || n->type == TIER_NODE_BLOCK)
		tier_buf_printf(out, "rdev %" PRIu64 "\n", n->rdev);
	if (n->type == TIER_NODE_SYMLINK) {
		tier_buf_puts(out, "target ");
		for (size_t i = 0; i < n->target_len; i++) {
			unsigned char c = (unsigned char)n->target[i];
			if (c <= 0x20 || c == '%' || c == 0x7f)
				tier_buf_printf(out, "%%%02X", c);
			else
				tier_buf_putc(out, (char)c);
		}
		tier_buf_putc(out, '\n');
	}
	for (size_t i = 0; i < n->nchunks; i++) {
		tier_hex(hex, n->chunks[i].id, TIER_HASH_LEN);
		tier_buf_printf(out, "chunk %s %" PRIu32 "\n", hex,
		                n->chunks[i].len);
	}
	return out->ptr ? 0 : TIER_ERROR;
}

/*
 * The decoder trusts nothing: a node blob comes from a tier someone else
 * may run.  Every line is one key, at most once (chunk lines repeat),
 * numbers are plain decimal (mode octal) within their field, and the
 * node must make sense as a whole (a target only on a symlink, chunks
 * only on a file, adding up to its size).  Anything else is TIER_ECORRUPT
 * with one line saying what, never a field read as 0.
 */
enum {
	NK_TYPE,
	NK_MODE,
	NK_UID,
	NK_GID,
	NK_SIZE,
	NK_MTIME,
	NK_CTIME,
	NK_INO,
	NK_DEV,
	NK_RDEV,
	NK_TARGET,
	NK_COUNT
};
static const char *const node_keys[NK_COUNT] = {"type", "mode",  "uid",   "gid",
                                                "size", "mtime", "ctime", "ino",
                                                "dev",  "rdev",  "target"};

/* A value for a message: quoted, and cut so that the line stays short. */
static const char *node_value(const char *v, size_t n)
{
	char cut[68]; /* a NUL in the value shows as where it stops */
	size_t k = n < 64 ? n : 64;
	memcpy(cut, v, k);
	strcpy(cut + k, n > 64 ? "..." : "");
	return tier_quote_name(cut);
}

static int bad_node(const char *fmt, ...) TIER_PRINTF(1, 2);
static int bad_node(const char *fmt, ...)
{
	char why[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	return tier_error_set(TIER_ECORRUPT,
	                      "file metadata blob is damaged: %s", why);
}

/* Decimal digits only, at most max: sscanf would take "-1", " 5", "0x". */
static int node_u64(const char *v, size_t n, uint64_t max, uint64_t *out)
{
	uint64_t x = 0;
	if (n == 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned char)v[i] - '0';
		if (d > 9 || x > (max - d) / 10)
			return -1;
		x = x * 10 + d;
	}
	*out = x;
	return 0;
}

static int node_mode(const char *v, size_t n, uint32_t *out)
{
	uint32_t x = 0;
	if (n == 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned char)v[i] - '0';
		if (d > 7 || (x = x * 8 + d) > 07777)
			return -1;
	}
	*out = x;
	return 0;
}

/* "[-]SECONDS.NNNNNNNNN", as the encoder writes it. */
static int node_time(const char *v, size_t n, int64_t *sec, uint32_t *nsec)
{
	const char *dot = memchr(v, '.', n);
	int neg = n > 0 && v[0] == '-';
	uint64_t s, ns;
	if (!dot || (size_t)(v + n - dot - 1) != 9 ||
	    node_u64(v + neg, (size_t)(dot - v) - (size_t)neg,
	             neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX,
	             &s) < 0 ||
	    node_u64(dot + 1, 9, 999999999, &ns) < 0)
		return -1;
	*sec = neg ? (int64_t)(0 - s) : (int64_t)s;
	*nsec = (uint32_t)ns;
	return 0;
}

static int node_target(tier_node *out, const char *v, size_t n)
{
	tier_buf t = TIER_BUF_INIT;
	for (size_t i = 0; i < n; i++) {
		int c = (unsigned char)v[i];
		if (c == '%') {
			int hi = i + 2 < n ? tier_hexval(v[i + 1]) : -1;
			int lo = hi >= 0 ? tier_hexval(v[i + 2]) : -1;
			if (hi < 0 || lo < 0) {
				tier_buf_dispose(&t);
				return bad_node(
				        "target '%s' has a bad %%XX escape",
				        node_value(v, n));
			}
			c = hi << 4 | lo;
			i += 2;
		}
		if (c == '\0') {
			tier_buf_dispose(&t);
			return bad_node("target '%s' holds a NUL byte",
			                node_value(v, n));
		}
		if (tier_buf_putc(&t, (char)c) < 0) {
			tier_buf_dispose(&t);
			return TIER_ERROR;
		}
	}
	if (t.size == 0 || t.size >= PATH_MAX) {
		size_t got = t.size;
		tier_buf_dispose(&t);
		/* no file system holds such a link: push cannot have read one */
		return bad_node("symlink target of %zu bytes (1 to %d allowed)",
		                got, PATH_MAX - 1);
	}
	out->target_len = t.size;
	out->target = tier_buf_detach(&t);
	return out->target ? 0 : TIER_ERROR;
}

static int node_chunk(tier_node *out, size_t *cap, const char *v, size_t n)
{
	uint64_t len;
	if (n < TIER_HASH_HEXLEN + 2 || v[TIER_HASH_HEXLEN] != ' ' ||
	    node_u64(v + TIER_HASH_HEXLEN + 1, n - TIER_HASH_HEXLEN - 1,
	             UINT32_MAX, &len) < 0)
		return bad_node("chunk line '%s' does not parse",
		                node_value(v, n));
	if (len == 0 || len > TIER_CHUNKER_LIMIT)
		return bad_node("chunk of %llu bytes (1 to %u allowed)",
		                (unsigned long long)len, TIER_CHUNKER_LIMIT);
	if (out->nchunks == *cap) {
		size_t c = *cap ? *cap * 2 : 8;
		tier_chunk_ref *nc = tier_realloc(out->chunks, c * sizeof(*nc));
		if (!nc)
			return TIER_ERROR;
		out->chunks = nc;
		*cap = c;
	}
	char hx[TIER_HASH_HEXLEN + 1];
	memcpy(hx, v, TIER_HASH_HEXLEN);
	hx[TIER_HASH_HEXLEN] = '\0';
	if (strlen(hx) != TIER_HASH_HEXLEN ||
	    tier_unhex(out->chunks[out->nchunks].id, TIER_HASH_LEN, hx) < 0)
		return bad_node("chunk id '%s' is not %d hex digits",
		                node_value(v, TIER_HASH_HEXLEN),
		                TIER_HASH_HEXLEN);
	out->chunks[out->nchunks++].len = (uint32_t)len;
	return 0;
}

/* One "key value" line; seen[] counts the keys met so far. */
static int node_line(tier_node *out, size_t *cap, unsigned seen[NK_COUNT],
                     const char *k, size_t kl, const char *v, size_t vl)
{
	size_t key;
	uint64_t x;
	const size_t ntypes = sizeof(type_names) / sizeof(type_names[0]);

	if (kl == 5 && !memcmp(k, "chunk", 5))
		return node_chunk(out, cap, v, vl);
	for (key = 0; key < NK_COUNT; key++)
		if (strlen(node_keys[key]) == kl &&
		    !memcmp(node_keys[key], k, kl))
			break;
	if (key == NK_COUNT)
		return 0; /* unknown keys are skipped: a later version may add some */
	if (seen[key]++)
		return bad_node("'%s' given twice", node_keys[key]);

	switch (key) {
	case NK_TYPE:
		for (x = 0; x < ntypes; x++)
			if (strlen(type_names[x]) == vl &&
			    !memcmp(type_names[x], v, vl))
				break;
		if (x == ntypes)
			return bad_node("unknown type '%s'", node_value(v, vl));
		out->type = (tier_node_type)x;
		return 0;
	case NK_MODE:
		if (node_mode(v, vl, &out->mode) < 0)
			return bad_node(
			        "mode '%s' is not an octal number up to 7777",
			        node_value(v, vl));
		return 0;
	case NK_MTIME:
	case NK_CTIME:
		if (node_time(v, vl,
		              key == NK_MTIME ? &out->mtime_sec
		                              : &out->ctime_sec,
		              key == NK_MTIME ? &out->mtime_nsec
		                              : &out->ctime_nsec) < 0)
			return bad_node("%s '%s' is not SECONDS.NANOSECONDS",
			                node_keys[key], node_value(v, vl));
		return 0;
	case NK_TARGET:
		return node_target(out, v, vl);
	}
	if (node_u64(v, vl,
	             key == NK_UID || key == NK_GID ? UINT32_MAX : UINT64_MAX,
	             &x) < 0)
		return bad_node("%s '%s' is not a number up to %llu",
		                node_keys[key], node_value(v, vl),
		                key == NK_UID || key == NK_GID
		                        ? (unsigned long long)UINT32_MAX
		                        : (unsigned long long)UINT64_MAX);
	switch (key) {
	case NK_UID:
		out->uid = (uint32_t)x;
		break;
	case NK_GID:
		out->gid = (uint32_t)x;
		break;
	case NK_SIZE:
		out->size = x;
		break;
	case NK_INO:
		out->ino = x;
		break;
	case NK_DEV:
		out->dev = x;
		break;
	default:
		out->rdev = x;
		break;
	}
	return 0;
}

/* The node as a whole. */
static int node_check(const tier_node *n, const unsigned seen[NK_COUNT])
{
	const char *type = tier_node_type_name(n->type);
	uint64_t sum = 0;
	if (!seen[NK_TYPE])
		return bad_node("no type");
	if (!seen[NK_MODE])
		return bad_node("no mode");
	if (n->type == TIER_NODE_SYMLINK && !seen[NK_TARGET])
		return bad_node("symlink without a target");
	if (n->type != TIER_NODE_SYMLINK && seen[NK_TARGET])
		return bad_node("a target on a %s", type);
	if (seen[NK_RDEV] && n->type != TIER_NODE_CHAR &&
	    n->type != TIER_NODE_BLOCK)
		return bad_node("a device number on a %s", type);
	if (n->nchunks && n->type != TIER_NODE_FILE)
		return bad_node("chunks on a %s", type);
	for (size_t i = 0; i < n->nchunks; i++)
		sum += n->chunks[i].len; /* <= 64 MiB each: no overflow */
	if (n->type == TIER_NODE_FILE && sum != n->size)
		return bad_node(
		        "chunks add up to %llu bytes, not the size %llu",
		        (unsigned long long)sum, (unsigned long long)n->size);
	return 0;
}

static int node_decode_plain(tier_node *out, const char *data, size_t len)
{
	static const char header[] = "tier-node 1\n";
	const char *p = data, *end = data + len;
	unsigned seen[NK_COUNT] = {0};
	size_t cap = 0, line = 1;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (len < sizeof(header) - 1 ||
	    memcmp(data, header, sizeof(header) - 1) != 0)
		return bad_node("no 'tier-node 1' header");
	p += sizeof(header) - 1;
	while (rc == 0 && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		line++;
		if (!nl) {
			rc = bad_node("line %zu does not end", line);
			break;
		}
		const char *sp = memchr(p, ' ', (size_t)(nl - p));
		if (!sp || sp == p) {
			rc = bad_node("line %zu is not 'key value'", line);
			break;
		}
		rc = node_line(out, &cap, seen, p, (size_t)(sp - p), sp + 1,
		               (size_t)(nl - sp - 1));
		p = nl + 1;
	}
	if (rc == 0)
		rc = node_check(out, seen);
	if (rc < 0)
		tier_node_dispose(out);
	return rc;
}

int tier_node_encode(tier_buf *out, const tier_keys *k, const tier_node *n)
{
	tier_buf text = TIER_BUF_INIT;
	int rc;
	if (!k)
		return node_encode_plain(out, n);
	if ((rc = node_encode_plain(&text, n)) == 0)
		rc = tier_node_seal(out, k, &text);
	tier_buf_dispose(&text);
	return rc;
}

int tier_node_decode(tier_node *out, const tier_keys *k, const char *data,
                     size_t len)
{
	tier_buf text = TIER_BUF_INIT;
	int rc;
	if (!k)
		return node_decode_plain(out, data, len);
	memset(out, 0, sizeof(*out));
	if ((rc = tier_node_open(&text, k, data, len)) == 0)
		rc = node_decode_plain(out, text.ptr, text.size);
	tier_buf_dispose(&text);
	return rc;
}

void tier_node_dispose(tier_node *n)
{
	free(n->target);
	free(n->chunks);
	n->target = NULL;
	n->chunks = NULL;
	n->nchunks = 0;
	n->target_len = 0;
}

/* ---- vault blob and revision trees ------------------------------------ */

int tier_snap_initial_tree(git_oid *out, git_repository *repo,
                           const char *vault_id, const git_oid *keys)
{
	tier_buf b = TIER_BUF_INIT;
	tier_chunker_params p = TIER_CHUNKER_PARAMS_INIT;
	git_oid blob;
	int rc;
	/* version 2 is the encrypted vault: keyed chunk ids, sealed packs */
	tier_buf_printf(&b,
	                "libtier-vault %d\nid %s\nhash %s\nchunk-id %s\n"
	                "chunker %s min=%u avg=%u max=%u norm=%u\n"
	                "compression lz4\ncipher %s\npack-version %d\n",
	                keys ? 2 : 1, vault_id, TIER_HASH_ALGO,
	                keys ? "hmac-sha256" : "sha256", TIER_CHUNKER_ALGO,
	                p.min, p.avg, p.max, p.norm,
	                keys ? "aes-256-gcm" : "none", keys ? 2 : 1);
	rc = git_blob_create_from_buffer(&blob, repo, b.ptr, b.size);
	tier_buf_dispose(&b);
	if (rc < 0)
		return tier_error_from_git(
		        rc, "cannot write the vault description");
	return tier_snap_compose(out, repo, &blob, NULL, NULL, keys);
}

int tier_snap_vault_parse(int *encrypted, const char *data, size_t len)
{
	static const char v1[] = "libtier-vault 1\n",
	                  v2[] = "libtier-vault 2\n";
	static const char gcm[] = "\ncipher aes-256-gcm\n";
	*encrypted = 0;
	if (len >= sizeof(v1) - 1 && !memcmp(data, v1, sizeof(v1) - 1))
		return 0;
	if (len < sizeof(v2) - 1 || memcmp(data, v2, sizeof(v2) - 1))
		return tier_error_set(
		        TIER_EUNSUPPORTED,
		        "the vault description is not 'libtier-vault "
		        "1' or '2': a newer libtier made it");
	if (!memmem(data, len, gcm, sizeof(gcm) - 1))
		return tier_error_set(
		        TIER_EUNSUPPORTED,
		        "the vault is encrypted with a cipher this "
		        "build does not know");
	*encrypted = 1;
	return 0;
}

int tier_snap_compose(git_oid *out, git_repository *repo,
                      const git_oid *vault_blob, const git_oid *root,
                      const git_oid *index, const git_oid *keys)
{
	git_treebuilder *tb = NULL;
	int rc;
	if ((rc = git_treebuilder_new(&tb, repo, NULL)) < 0 ||
	    (vault_blob &&
	     (rc = git_treebuilder_insert(NULL, tb, TIER_SNAP_VAULT, vault_blob,
	                                  GIT_FILEMODE_BLOB)) < 0) ||
	    (root &&
	     (rc = git_treebuilder_insert(NULL, tb, TIER_SNAP_ROOT, root,
	                                  GIT_FILEMODE_TREE)) < 0) ||
	    (index &&
	     (rc = git_treebuilder_insert(NULL, tb, TIER_SNAP_INDEX, index,
	                                  GIT_FILEMODE_TREE)) < 0) ||
	    (keys &&
	     (rc = git_treebuilder_insert(NULL, tb, TIER_SNAP_KEYS, keys,
	                                  GIT_FILEMODE_TREE)) < 0) ||
	    (rc = git_treebuilder_write(out, tb)) < 0)
		rc = tier_error_from_git(rc, "cannot write the revision tree");
	git_treebuilder_free(tb);
	return rc;
}

int tier_snap_part(git_oid *out, const git_tree *rev_tree, const char *part)
{
	const git_tree_entry *e =
	        rev_tree ? git_tree_entry_byname(rev_tree, part) : NULL;
	if (!e)
		return TIER_ENOTFOUND;
	git_oid_cpy(out, git_tree_entry_id(e));
	return 0;
}
