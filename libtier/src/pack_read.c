/*
 * Data packs: reading.  The trailer and the index (parsed from a pack's
 * tail, as a remote tier hands it over, or read from a local file), one
 * chunk decoded and checked against its id, and the whole-pack
 * verification fsck uses.  Every parser rejects short or garbled input
 * with TIER_ECORRUPT and never reads outside the buffer it was given.
 */
#include "pack.h"
#include "pack_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lz4.h>

#include "crypto/seal.h"
#include "util/buf.h"
#include "util/error.h"

/* Little-endian, as pack.c writes them. */
static uint16_t get_u16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get_u32(const unsigned char *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t get_u64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void decode_entry(tier_pack_entry *ent,
                         const unsigned char e[TIER_PACK_ENTRY_SIZE])
{
	memcpy(ent->id, e, TIER_HASH_LEN);
	ent->offset = get_u64(e + 32);
	ent->stored_len = get_u32(e + 40);
	ent->raw_len = get_u32(e + 44);
	ent->flags = get_u32(e + 48);
}

static const char *nm(const char *name)
{
	return name ? name : "(unnamed)";
}

/* Bytes a pack's cipher adds to each chunk and to the index. */
static uint64_t seal_overhead(uint16_t cipher)
{
	return cipher == TIER_PACK_CIPHER_AES256GCM ? TIER_SEAL_OVERHEAD : 0;
}

int tier_pack_trailer_parse(tier_pack_trailer *out, const void *buf, size_t len,
                            const char *name)
{
	const unsigned char *t;
	tier_pack_trailer tr;

	if (len < TIER_PACK_TRAILER_SIZE)
		return tier_error_set(TIER_ECORRUPT,
		                      "pack '%s' is truncated: %zu bytes",
		                      nm(name), len);
	t = (const unsigned char *)buf + len - TIER_PACK_TRAILER_SIZE;
	if (memcmp(t + 56, TIER_PACK_MAGIC, 8) != 0)
		return tier_error_set(
		        TIER_ECORRUPT,
		        "pack '%s' is truncated or corrupt: no trailer",
		        nm(name));
	tr.index_offset = get_u64(t);
	tr.index_len = get_u64(t + 8);
	tr.count = get_u32(t + 16);
	tr.version = get_u16(t + 20);
	tr.cipher = get_u16(t + 22);
	memcpy(tr.index_hash, t + TIER_PACK_TRAILER_HASHED, TIER_HASH_LEN);

	if (tr.version != TIER_PACK_VERSION &&
	    tr.version != TIER_PACK_VERSION_SEALED)
		return tier_error_set(
		        TIER_EUNSUPPORTED,
		        "pack '%s' has format version %u; this build reads versions %u and %u",
		        nm(name), tr.version, TIER_PACK_VERSION,
		        TIER_PACK_VERSION_SEALED);
	/* version 1 is plaintext, version 2 sealed with AES-256-GCM */
	if (tr.cipher != (tr.version == TIER_PACK_VERSION
	                          ? TIER_PACK_CIPHER_NONE
	                          : TIER_PACK_CIPHER_AES256GCM))
		return tier_error_set(
		        TIER_EUNSUPPORTED,
		        "pack '%s' is encrypted with cipher %u, which this build cannot read",
		        nm(name), tr.cipher);
	if (tr.index_len != (uint64_t)tr.count * TIER_PACK_ENTRY_SIZE +
	                            seal_overhead(tr.cipher) ||
	    tr.index_offset < TIER_PACK_HEADER_SIZE ||
	    tr.index_offset > UINT64_MAX / 4 || tr.index_len > UINT64_MAX / 4)
		return tier_error_set(TIER_ECORRUPT,
		                      "pack '%s' has a corrupt trailer",
		                      nm(name));
	tr.pack_size = tr.index_offset + tr.index_len + TIER_PACK_TRAILER_SIZE;
	*out = tr;
	return 0;
}

/* The trailer at the end of tail, checked against the sizes known. */
static int tail_trailer(tier_pack_trailer *tr, const void *tail,
                        size_t tail_len, uint64_t pack_size, const char *name)
{
	int rc;
	if (pack_size && tail_len > pack_size)
		return tier_error_set(
		        TIER_EUSAGE,
		        "pack '%s': tail of %zu bytes is longer than the pack (%llu)",
		        nm(name), tail_len, (unsigned long long)pack_size);
	if ((rc = tier_pack_trailer_parse(tr, tail, tail_len, name)) < 0)
		return rc;
	if (pack_size && pack_size != tr->pack_size)
		return tier_error_set(
		        TIER_ECORRUPT,
		        "pack '%s' is %llu bytes but its trailer says %llu",
		        nm(name), (unsigned long long)pack_size,
		        (unsigned long long)tr->pack_size);
	if (tail_len > tr->pack_size)
		return tier_error_set(
		        TIER_ECORRUPT,
		        "pack '%s' is longer than its trailer says (%llu bytes)",
		        nm(name), (unsigned long long)tr->pack_size);
	return 0;
}

/*
 * The lengths agree with the flags: the lz4-or-raw bytes (inside a seal
 * of `over` bytes) are raw_len long when raw, shorter and not empty when
 * lz4.  Unknown flags pass: the callers say so in their own words.
 */
static int lengths_ok(const tier_pack_entry *e, uint64_t over)
{
	uint64_t inner;
	if (e->raw_len > TIER_PACK_CHUNK_MAX || e->stored_len < over)
		return 0;
	inner = e->stored_len - over;
	return !((e->flags == TIER_CHUNK_RAW && inner != e->raw_len) ||
	         (e->flags == TIER_CHUNK_LZ4 &&
	          (inner == 0 || inner >= e->raw_len)));
}

/* An entry that lies at expect_off, before the index, stored as it says. */
static int entry_ok(const tier_pack_entry *e, uint64_t expect_off,
                    uint64_t index_offset, uint64_t over)
{
	return e->offset == expect_off &&
	       e->stored_len <= index_offset - expect_off &&
	       lengths_ok(e, over) &&
	       (e->flags == TIER_CHUNK_RAW || e->flags == TIER_CHUNK_LZ4);
}

/* The entries of the index at ip (its hash checked), as *out. */
static int index_entries(tier_pack_index **out, const tier_pack_trailer *tr,
                         const unsigned char *ip, const char *name)
{
	tier_pack_index *idx;
	uint64_t expect_off;
	int rc;
	if (!(idx = tier_calloc(1, sizeof(*idx))))
		return TIER_ERROR;
	idx->trailer = *tr;
	idx->count = tr->count;
	if (tr->count &&
	    !(idx->entries = tier_calloc(tr->count, sizeof(tier_pack_entry)))) {
		free(idx);
		return TIER_ERROR;
	}
	/* Chunks lie back to back from the header to the index, in index order. */
	expect_off = TIER_PACK_HEADER_SIZE;
	for (size_t i = 0; i < idx->count; i++) {
		tier_pack_entry *e = &idx->entries[i];
		char hex[TIER_HASH_HEXLEN + 1];
		decode_entry(e, ip + i * TIER_PACK_ENTRY_SIZE);
		if (!entry_ok(e, expect_off, tr->index_offset,
		              seal_overhead(tr->cipher))) {
			rc = tier_error_set(
			        TIER_ECORRUPT,
			        "pack '%s' has a corrupt index entry for chunk %s",
			        nm(name), tier_hex(hex, e->id, TIER_HASH_LEN));
			tier_pack_index_free(idx);
			return rc;
		}
		expect_off += e->stored_len;
	}
	if (expect_off != tr->index_offset) {
		tier_pack_index_free(idx);
		return tier_error_set(
		        TIER_ECORRUPT,
		        "pack '%s' has a corrupt index: chunks end at %llu, index starts at %llu",
		        nm(name), (unsigned long long)expect_off,
		        (unsigned long long)tr->index_offset);
	}
	*out = idx;
	return 0;
}

/* A sealed pack needs the vault's keys; an encrypted vault only has those. */
static int cipher_ok(const tier_pack_trailer *tr, const tier_keys *keys,
                     const char *name)
{
	if (tr->cipher != TIER_PACK_CIPHER_NONE && !keys)
		return tier_error_set(
		        TIER_EUNSUPPORTED,
		        "pack %s is encrypted and this vault has no key",
		        nm(name));
	if (tr->cipher == TIER_PACK_CIPHER_NONE && keys)
		return tier_error_set(
		        TIER_ECORRUPT,
		        "pack %s is not encrypted in an encrypted vault",
		        nm(name));
	return 0;
}

/* The entries of the sealed index at ip (hash checked), opened. */
static int sealed_entries(tier_pack_index **out, const tier_pack_trailer *tr,
                          const unsigned char *ip, const char *name,
                          const tier_keys *keys)
{
	size_t len = (size_t)tr->index_len - TIER_SEAL_OVERHEAD;
	unsigned char *plain = tier_malloc(len ? len : 1);
	int rc;
	if (!plain)
		return TIER_ERROR;
	if (tier_unseal(plain, keys, TIER_PACK_INDEX_AD,
	                strlen(TIER_PACK_INDEX_AD), ip,
	                (size_t)tr->index_len) < 0)
		rc = tier_error_set(
		        TIER_ECORRUPT,
		        "pack '%s' has a corrupt index: it fails authentication",
		        nm(name));
	else
		rc = index_entries(out, tr, plain, name);
	free(plain);
	return rc;
}

int tier_pack_index_parse(tier_pack_index **out, uint64_t *need,
                          const void *tail, size_t tail_len, uint64_t pack_size,
                          const char *name, const tier_keys *keys)
{
	tier_pack_trailer tr;
	const unsigned char *t = tail, *ip;
	unsigned char hash[TIER_HASH_LEN];
	uint64_t want;
	int rc;

	*out = NULL;
	if (need)
		*need = 0;
	if ((rc = tail_trailer(&tr, tail, tail_len, pack_size, name)) < 0 ||
	    (rc = cipher_ok(&tr, keys, name)) < 0)
		return rc;
	want = tr.index_len + TIER_PACK_TRAILER_SIZE;
	if (tail_len < want) {
		if (!need)
			return tier_error_set(
			        TIER_EUSAGE,
			        "pack '%s': index needs the last %llu bytes, have %zu",
			        nm(name), (unsigned long long)want, tail_len);
		*need = want;
		return 0;
	}

	t += tail_len - TIER_PACK_TRAILER_SIZE;
	ip = t - tr.index_len;
	if ((rc = tier_pack_index_hash(hash, ip, (size_t)tr.index_len, t)) < 0)
		return rc;
	if (memcmp(hash, tr.index_hash, TIER_HASH_LEN) != 0)
		return tier_error_set(
		        TIER_ECORRUPT,
		        "pack '%s' has a corrupt index: it fails its hash",
		        nm(name));
	if (keys)
		return sealed_entries(out, &tr, ip, name, keys);
	return index_entries(out, &tr, ip, name);
}

const tier_pack_entry *
tier_pack_index_find(const tier_pack_index *idx,
                     const unsigned char id[TIER_HASH_LEN])
{
	for (size_t i = 0; i < idx->count; i++)
		if (memcmp(idx->entries[i].id, id, TIER_HASH_LEN) == 0)
			return &idx->entries[i];
	return NULL;
}

void tier_pack_index_free(tier_pack_index *idx)
{
	if (!idx)
		return;
	free(idx->entries);
	free(idx);
}

/* pread exactly len bytes; a short file is corruption (it shrank or lies). */
static int pread_all(int fd, void *buf, size_t len, uint64_t off,
                     const char *path)
{
	char *p = buf;
	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			return tier_error_set_errno(tier_error_from_errno(e), e,
			                            "cannot read pack '%s'",
			                            path);
		}
		if (n == 0)
			return tier_error_set(
			        TIER_ECORRUPT,
			        "pack '%s' is truncated at %llu bytes", path,
			        (unsigned long long)off);
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int index_read_fd(tier_pack_index **out, int fd, uint64_t size,
                         const char *path, const tier_keys *keys)
{
	uint64_t want =
	        size < TIER_PACK_TAIL_GUESS ? size : TIER_PACK_TAIL_GUESS;
	unsigned char *tail = NULL;
	int rc;

	for (int round = 0; round < 2; round++) {
		uint64_t need = 0;
		unsigned char *p;
		if (want > size || want > SIZE_MAX)
			return tier_error_set(
			        TIER_ECORRUPT,
			        "pack '%s' is truncated: index needs %llu bytes, file has %llu",
			        path, (unsigned long long)want,
			        (unsigned long long)size);
		if (!(p = tier_realloc(tail, want ? (size_t)want : 1))) {
			free(tail);
			return TIER_ERROR;
		}
		tail = p;
		if ((rc = pread_all(fd, tail, (size_t)want, size - want,
		                    path)) < 0 ||
		    (rc = tier_pack_index_parse(out, &need, tail, (size_t)want,
		                                size, path, keys)) < 0 ||
		    *out) {
			free(tail);
			return rc;
		}
		want = need;
	}
	free(tail);
	return tier_error_set(TIER_ECORRUPT, "pack '%s' has a corrupt trailer",
	                      path);
}

static int open_pack(const char *path, uint64_t *size)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		return tier_error_set_errno(tier_error_from_errno(e), e,
		                            "cannot open pack '%s'", path);
	}
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		return tier_error_set_errno(tier_error_from_errno(e), e,
		                            "cannot stat pack '%s'", path);
	}
	*size = (uint64_t)st.st_size;
	return fd;
}

int tier_pack_index_read_file(tier_pack_index **out, const char *path,
                              const tier_keys *keys)
{
	uint64_t size;
	int fd, rc;
	*out = NULL;
	if ((fd = open_pack(path, &size)) < 0)
		return fd;
	rc = index_read_fd(out, fd, size, path, keys);
	close(fd);
	return rc;
}

/* The lz4-or-raw bytes in (inner_len) expanded into out (e->raw_len). */
static int expand(const tier_pack_entry *e, const char *hex, const char *what,
                  const unsigned char *in, size_t inner_len, void *out)
{
	if (e->flags == TIER_CHUNK_LZ4) {
		int n = LZ4_decompress_safe((const char *)in, out,
		                            (int)inner_len, (int)e->raw_len);
		if (n < 0 || (uint32_t)n != e->raw_len)
			return tier_error_set(
			        TIER_ECORRUPT,
			        "chunk %s%s%s fails to decompress", hex,
			        what ? " in " : "", what ? what : "");
	} else if (e->flags == TIER_CHUNK_RAW) {
		if (e->raw_len && in != out)
			memcpy(out, in, e->raw_len);
	} else {
		return tier_error_set(
		        TIER_ECORRUPT, "chunk %s%s%s has unknown flags %u", hex,
		        what ? " in " : "", what ? what : "", e->flags);
	}
	return 0;
}

/*
 * The sealed chunk opened: a raw one straight into out, an lz4 one into
 * *tmp (the caller's to free).  *inner: the lz4-or-raw bytes.
 */
static int open_chunk(const tier_pack_entry *e, const char *hex,
                      const char *what, const void *stored, void *out,
                      unsigned char **tmp, const unsigned char **inner,
                      const tier_keys *keys)
{
	size_t len = e->stored_len - TIER_SEAL_OVERHEAD;
	unsigned char *dst = out;
	if (e->flags != TIER_CHUNK_RAW &&
	    !(dst = *tmp = tier_malloc(len ? len : 1)))
		return TIER_ERROR;
	if (tier_unseal(dst, keys, e->id, TIER_HASH_LEN, stored,
	                e->stored_len) < 0)
		return tier_error_set(TIER_ECORRUPT,
		                      "chunk %s%s%s fails authentication", hex,
		                      what ? " in " : "", what ? what : "");
	*inner = dst;
	return 0;
}

/* what: "pack <hex>" or "pack '<path>'" or NULL. */
static int chunk_decode(const tier_pack_entry *e, const char *what,
                        const void *stored, size_t stored_len, void *out,
                        size_t out_cap, const tier_keys *keys)
{
	char hex[TIER_HASH_HEXLEN + 1];
	unsigned char got[TIER_HASH_LEN];
	const unsigned char *inner = stored;
	unsigned char *tmp = NULL;
	uint64_t over = keys ? TIER_SEAL_OVERHEAD : 0;
	int rc;

	tier_hex(hex, e->id, TIER_HASH_LEN);
	if (stored_len != e->stored_len || out_cap < e->raw_len)
		return tier_error_set(
		        TIER_EUSAGE,
		        "chunk %s: got %zu stored bytes and %zu of room, need %u and %u",
		        hex, stored_len, out_cap, e->stored_len, e->raw_len);
	/* Entries may come from elsewhere than a parsed index: check again. */
	if (!lengths_ok(e, over))
		return tier_error_set(
		        TIER_ECORRUPT,
		        "chunk %s%s%s has an inconsistent entry (flags %u, %u stored, %u raw)",
		        hex, what ? " in " : "", what ? what : "", e->flags,
		        e->stored_len, e->raw_len);
	rc = keys ? open_chunk(e, hex, what, stored, out, &tmp, &inner, keys)
	          : 0;
	if (rc == 0)
		rc = expand(e, hex, what, inner, e->stored_len - (size_t)over,
		            out);
	free(tmp);
	if (rc < 0)
		return rc;
	if ((rc = tier_chunk_id(got, keys, out, e->raw_len)) < 0)
		return rc;
	if (memcmp(got, e->id, TIER_HASH_LEN) != 0)
		return tier_error_set(TIER_ECORRUPT,
		                      "chunk %s%s%s fails its hash", hex,
		                      what ? " in " : "", what ? what : "");
	return 0;
}

int tier_pack_chunk_decode(const tier_pack_entry *entry,
                           const unsigned char *pack_id, const void *stored,
                           size_t stored_len, void *out, size_t out_cap,
                           const tier_keys *keys)
{
	char what[TIER_HASH_HEXLEN + 8];
	if (pack_id) {
		memcpy(what, "pack ", 5);
		tier_hex(what + 5, pack_id, TIER_HASH_LEN);
	}
	return chunk_decode(entry, pack_id ? what : NULL, stored, stored_len,
	                    out, out_cap, keys);
}

/* The id spelled by a file name "<64 hex>" or "<64 hex>.pack", if any. */
static int id_from_name(unsigned char id[TIER_HASH_LEN], const char *path)
{
	const char *base = strrchr(path, '/');
	size_t n;
	base = base ? base + 1 : path;
	n = strlen(base);
	if (n == TIER_HASH_HEXLEN + 5 &&
	    strcmp(base + TIER_HASH_HEXLEN, ".pack") == 0)
		n = TIER_HASH_HEXLEN;
	if (n != TIER_HASH_HEXLEN)
		return 0;
	return tier_unhexn(id, TIER_HASH_LEN, base, n) == 0;
}

/* What tier_pack_verify's steps share. */
struct pack_verify {
	const char *path;
	int fd;
	uint64_t size;
	tier_pack_index *idx;
	const tier_keys *keys;
	tier_sha256_ctx file; /* of the whole file, as read */
	unsigned char *stored, *raw;
	size_t stored_cap, raw_cap;
	char what[TIER_HASH_HEXLEN +
	          4096]; /* "pack <hex>" or "pack '<path>'" */
};

/* The id to check (*have_want) and the pack's name in chunk messages. */
static void verify_name(struct pack_verify *pv, unsigned char *want,
                        int *have_want, const unsigned char *expect_id)
{
	char hex[TIER_HASH_HEXLEN + 1];
	if (expect_id) {
		memcpy(want, expect_id, TIER_HASH_LEN);
		*have_want = 1;
	} else {
		*have_want = id_from_name(want, pv->path);
		tier_error_clear();
	}
	if (*have_want)
		snprintf(pv->what, sizeof(pv->what), "pack %s",
		         tier_hex(hex, want, TIER_HASH_LEN));
	else
		snprintf(pv->what, sizeof(pv->what), "pack '%s'", pv->path);
}

/* The header agrees with the trailer; the file hash starts with it. */
static int verify_header(struct pack_verify *pv)
{
	unsigned char header[TIER_PACK_HEADER_SIZE];
	int rc;
	if ((rc = pread_all(pv->fd, header, sizeof(header), 0, pv->path)) < 0)
		return rc;
	if (memcmp(header, TIER_PACK_MAGIC, 8) != 0 ||
	    get_u16(header + 8) != pv->idx->trailer.version ||
	    get_u16(header + 10) != pv->idx->trailer.cipher ||
	    get_u32(header + 12) != 0)
		return tier_error_set(TIER_ECORRUPT,
		                      "pack '%s' has a corrupt header",
		                      pv->path);
	if ((rc = tier_sha256_init(&pv->file)) < 0)
		return rc;
	return tier_sha256_update(&pv->file, header, sizeof(header));
}

/* *buf holds at least need bytes (and is allocated). */
static int grow(unsigned char **buf, size_t *cap, uint32_t need)
{
	if (*cap < need || !*buf) {
		unsigned char *p = tier_realloc(*buf, need ? need : 1);
		if (!p)
			return TIER_ERROR;
		*buf = p;
		*cap = need;
	}
	return 0;
}

/* Every chunk read, hashed into the file hash, decoded and checked. */
static int verify_chunks(struct pack_verify *pv)
{
	int rc;
	for (size_t i = 0; i < pv->idx->count; i++) {
		const tier_pack_entry *e = &pv->idx->entries[i];
		if ((rc = grow(&pv->stored, &pv->stored_cap, e->stored_len)) <
		            0 ||
		    (rc = grow(&pv->raw, &pv->raw_cap, e->raw_len)) < 0)
			return rc;
		if ((rc = pread_all(pv->fd, pv->stored, e->stored_len,
		                    e->offset, pv->path)) < 0 ||
		    (rc = tier_sha256_update(&pv->file, pv->stored,
		                             e->stored_len)) < 0 ||
		    (rc = chunk_decode(e, pv->what, pv->stored, e->stored_len,
		                       pv->raw, pv->raw_cap, pv->keys)) < 0)
			return rc;
	}
	return 0;
}

/* Index and trailer: already parsed, but the file hash needs them. */
static int verify_rest(struct pack_verify *pv, unsigned char got[TIER_HASH_LEN])
{
	uint64_t off = pv->idx->trailer.index_offset;
	size_t n = (size_t)(pv->size - off);
	unsigned char *rest = tier_malloc(n);
	int rc;
	if (!rest)
		return TIER_ERROR;
	if ((rc = pread_all(pv->fd, rest, n, off, pv->path)) == 0 &&
	    (rc = tier_sha256_update(&pv->file, rest, n)) == 0)
		rc = tier_sha256_final(&pv->file, got);
	free(rest);
	return rc;
}

int tier_pack_verify(const char *path, const unsigned char *expect_id,
                     unsigned char *out_id, const tier_keys *keys)
{
	struct pack_verify pv = {
	        .path = path, .keys = keys, .file = TIER_SHA256_CTX_INIT};
	unsigned char want[TIER_HASH_LEN], got[TIER_HASH_LEN];
	char hex[TIER_HASH_HEXLEN + 1];
	int have_want = 0, rc;

	verify_name(&pv, want, &have_want, expect_id);
	if ((pv.fd = open_pack(path, &pv.size)) < 0)
		return pv.fd;
	if ((rc = index_read_fd(&pv.idx, pv.fd, pv.size, path, keys)) == 0 &&
	    (rc = verify_header(&pv)) == 0 && (rc = verify_chunks(&pv)) == 0 &&
	    (rc = verify_rest(&pv, got)) == 0) {
		if (have_want && memcmp(got, want, TIER_HASH_LEN) != 0)
			rc = tier_error_set(
			        TIER_ECORRUPT,
			        "pack '%s' fails its hash: its content is %s",
			        path, tier_hex(hex, got, TIER_HASH_LEN));
		else if (out_id)
			memcpy(out_id, got, TIER_HASH_LEN);
	}
	close(pv.fd);
	tier_pack_index_free(pv.idx);
	tier_sha256_dispose(&pv.file);
	free(pv.stored);
	free(pv.raw);
	return rc;
}
