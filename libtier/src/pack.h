/*
 * Data packs: many chunks in one file, so a remote tier never sees one
 * object per chunk.  The byte layout is in docs/format-pack.md.  Internal
 * header.
 *
 *   header (16) | stored chunk ... | index (52 per chunk) | trailer (64)
 *
 * A pack is named by its id, the SHA-256 of the whole file.  A chunk is
 * named by its chunk id (tier_chunk_id: SHA-256 of its raw bytes, or
 * HMAC-SHA256 in an encrypted vault) and stored lz4 compressed, or raw
 * when lz4 does not make it smaller.  The trailer has a fixed size and
 * sits at the very end, so one ranged read of the tail gives the index of
 * a pack of ordinary size.
 *
 * Encrypted vaults (keys != NULL below) write version 2, cipher 1: each
 * chunk's stored bytes and the index are sealed (AES-256-GCM,
 * crypto/seal.h); with keys NULL a pack is byte for byte version 1.
 */
#ifndef TIER_PACK_H
#define TIER_PACK_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/seal.h"
#include "hash.h"

#define TIER_PACK_MAGIC   "TIERPACK"
#define TIER_PACK_VERSION 1 /**< plaintext packs */
/** Sealed packs (cipher TIER_PACK_CIPHER_AES256GCM). */
#define TIER_PACK_VERSION_SEALED 2
/** Cipher field values. */
#define TIER_PACK_CIPHER_NONE      0
#define TIER_PACK_CIPHER_AES256GCM 1
/** Associated data of a sealed index (its chunks' is their chunk id). */
#define TIER_PACK_INDEX_AD "tier-pack-index"

#define TIER_PACK_HEADER_SIZE  16
#define TIER_PACK_ENTRY_SIZE   52
#define TIER_PACK_TRAILER_SIZE 64

/** How much of the tail to fetch first: the index of a pack of the target
 *  size with chunks of a few KiB still fits. */
#define TIER_PACK_TAIL_GUESS (256u * 1024)
/** Largest raw chunk a pack holds (a garbled length cannot ask for more). */
#define TIER_PACK_CHUNK_MAX (64u * 1024 * 1024)

/** Entry flags: how the chunk is stored. */
#define TIER_CHUNK_RAW 0u
#define TIER_CHUNK_LZ4 1u

typedef struct {
	unsigned char id[TIER_HASH_LEN]; /**< chunk id of the raw bytes */
	uint64_t offset;                 /**< of the stored bytes in the pack */
	uint32_t stored_len; /**< in the pack (sealed: + TIER_SEAL_OVERHEAD) */
	uint32_t raw_len;
	uint32_t
	        flags; /**< TIER_CHUNK_RAW or TIER_CHUNK_LZ4 (inside the seal) */
} tier_pack_entry;

typedef struct {
	uint16_t version;
	uint16_t cipher;
	uint32_t count;        /**< chunks */
	uint64_t index_offset; /**< == end of the last chunk */
	uint64_t index_len; /**< count * TIER_PACK_ENTRY_SIZE (sealed: + 28) */
	uint64_t pack_size; /**< index_offset + index_len + trailer */
	unsigned char index_hash[TIER_HASH_LEN];
} tier_pack_trailer;

typedef struct {
	tier_pack_trailer trailer;
	size_t count;
	tier_pack_entry *entries; /**< in file order */
} tier_pack_index;

/* ------------------------------------------------------------------ */
/* Compression, callable from any thread.                              */

/**
 * Compress one chunk into out, which holds at least len bytes (never
 * more is needed: a chunk lz4 cannot shrink is copied raw).  Sets
 * *out_len and *flags (TIER_CHUNK_LZ4 or TIER_CHUNK_RAW).  Thread-safe,
 * no allocation (lz4 state on the stack).  len must be <=
 * TIER_PACK_CHUNK_MAX, else TIER_EUSAGE.
 */
int tier_chunk_compress(const void *raw, size_t len, void *out, size_t out_cap,
                        size_t *out_len, unsigned int *flags);

/* ------------------------------------------------------------------ */
/* Writing.                                                            */

typedef struct tier_pack_writer tier_pack_writer;

/**
 * Start a pack in a temporary file under dir (which must exist).  Only the
 * index entries (52 bytes per chunk) are kept in memory; chunk data goes
 * straight to the file.  keys (borrowed, must outlive the writer): seal
 * every chunk and the index (version 2); NULL: a plaintext version-1 pack.
 * A writer is used by one thread at a time; the push gives each worker its
 * own, so sealing runs in parallel on the workers.
 */
int tier_pack_writer_new(tier_pack_writer **out, const char *dir,
                         const tier_keys *keys);

/**
 * Append a chunk: compresses (and with keys seals) raw (len bytes, whose
 * tier_chunk_id the caller computed as id).  The id is trusted; the
 * caller deduplicates.
 */
int tier_pack_writer_add(tier_pack_writer *w,
                         const unsigned char id[TIER_HASH_LEN], const void *raw,
                         size_t len);

/**
 * Append a chunk compressed already by tier_chunk_compress (stored_len
 * bytes, the lz4-or-raw form); a writer with keys seals it, on the calling
 * thread, into a buffer of its own.
 */
int tier_pack_writer_add_compressed(tier_pack_writer *w,
                                    const unsigned char id[TIER_HASH_LEN],
                                    const void *stored, size_t stored_len,
                                    size_t raw_len, unsigned int flags);

/**
 * Append a chunk's bytes exactly as another pack of the same vault stores
 * them (sealed when the writer has keys: the seal is bound to the chunk
 * id, not to a pack), e.g. prune copying a live chunk it has decoded.
 */
int tier_pack_writer_add_stored(tier_pack_writer *w,
                                const unsigned char id[TIER_HASH_LEN],
                                const void *stored, size_t stored_len,
                                size_t raw_len, unsigned int flags);

/** Bytes the pack would have if finished now (index and trailer included). */
uint64_t tier_pack_writer_size(const tier_pack_writer *w);
/** Chunks added so far. */
size_t tier_pack_writer_count(const tier_pack_writer *w);
/** Bytes of index and trailer the pack would end with if finished now
 *  (what a log keeps of it, as tier_pack_index_parse reads it). */
uint64_t tier_pack_writer_tail_size(const tier_pack_writer *w);

/**
 * Write index and trailer, close, and rename the file to
 * "<dir>/<hex id>.pack".  *path is the caller's (free()); the caller
 * uploads the file and removes it.  Call tier_pack_writer_free afterwards.
 * After an error the writer is dead: free it (which removes the file).
 */
int tier_pack_writer_finish(tier_pack_writer *w,
                            unsigned char pack_id[TIER_HASH_LEN], char **path);

/** Discard an unfinished pack (temporary file removed) and free; after
 *  finish the pack file stays (same as free). */
void tier_pack_writer_abort(tier_pack_writer *w);
/** Free; an unfinished pack is discarded as by abort.  NULL: no-op. */
void tier_pack_writer_free(tier_pack_writer *w);

/* ------------------------------------------------------------------ */
/* Reading.  Every parser rejects short or garbled input with           */
/* TIER_ECORRUPT and never reads outside the buffer it was given.       */

/**
 * Parse the trailer from the last TIER_PACK_TRAILER_SIZE bytes of buf
 * (len >= TIER_PACK_TRAILER_SIZE).
 * Checks magic, version (TIER_EUNSUPPORTED when newer), cipher and that
 * the sizes agree with each other; the index hash is checked by
 * tier_pack_index_parse.  name (may be NULL) is used in messages.
 */
int tier_pack_trailer_parse(tier_pack_trailer *out, const void *buf, size_t len,
                            const char *name);

/**
 * Parse trailer and index from tail, the last tail_len bytes of a pack.
 * pack_size is the size of the whole file when known (0 if not), and is
 * checked against the trailer.  If the tail is too short to hold the
 * whole index, returns 0 with *out NULL and *need set to the number of
 * bytes to read from the end; call again with that tail.  Otherwise *out
 * is the caller's (tier_pack_index_free).  keys: the vault's; a sealed
 * pack is opened with them (TIER_EUNSUPPORTED without), and with keys a
 * plaintext pack is TIER_ECORRUPT (a tier must not substitute one).
 */
int tier_pack_index_parse(tier_pack_index **out, uint64_t *need,
                          const void *tail, size_t tail_len, uint64_t pack_size,
                          const char *name, const tier_keys *keys);

/** Read and parse the index of a pack file on local disk. */
int tier_pack_index_read_file(tier_pack_index **out, const char *path,
                              const tier_keys *keys);

/** The entry for a chunk id, or NULL.  Linear: packs hold few chunks. */
const tier_pack_entry *
tier_pack_index_find(const tier_pack_index *idx,
                     const unsigned char id[TIER_HASH_LEN]);

void tier_pack_index_free(tier_pack_index *idx);

/**
 * Decode one chunk: stored holds the entry's stored_len bytes (read from
 * entry->offset), out at least entry->raw_len bytes.  With keys (the pack
 * is sealed) opens the seal first: a forgery is TIER_ECORRUPT "chunk <hex>
 * in pack <hex> fails authentication".  Decompresses and checks
 * tier_chunk_id of the result against entry->id; a mismatch is
 * TIER_ECORRUPT "chunk <hex> in pack <hex> fails its hash".  pack_id
 * (may be NULL) only serves the message.  Thread-safe.
 */
int tier_pack_chunk_decode(const tier_pack_entry *entry,
                           const unsigned char *pack_id, const void *stored,
                           size_t stored_len, void *out, size_t out_cap,
                           const tier_keys *keys);

/**
 * Verify a pack file on local disk: header, trailer, index hash, every
 * chunk decoded and hashed, and the SHA-256 of the file against
 * expect_id; when expect_id is NULL, against the id in the file name if
 * it is "<64 hex>[.pack]", else not checked.  out_id (may be NULL)
 * receives the SHA-256 of the file.  Damage is TIER_ECORRUPT naming the
 * chunk or the pack.  keys as for tier_pack_index_parse.  Memory: the
 * index and one chunk.
 */
int tier_pack_verify(const char *path, const unsigned char *expect_id,
                     unsigned char *out_id, const tier_keys *keys);

#endif
