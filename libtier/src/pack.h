/*
 * Data packs: many chunks in one file, so a remote tier never sees one
 * object per chunk.  The byte layout is in docs/format-pack.md.  Internal
 * header.
 *
 *   header (16) | stored chunk ... | index (52 per chunk) | trailer (64)
 *
 * A pack is named by its id, the SHA-256 of the whole file.  A chunk is
 * named by the SHA-256 of its raw (uncompressed) bytes and stored lz4
 * compressed, or raw when lz4 does not make it smaller.  The trailer has a
 * fixed size and sits at the very end, so one ranged read of the tail gives
 * the index of a pack of ordinary size.
 */
#ifndef TIER_PACK_H
#define TIER_PACK_H

#include <stddef.h>
#include <stdint.h>

#include "hash.h"

#define TIER_PACK_MAGIC   "TIERPACK"
#define TIER_PACK_VERSION 1
/** Cipher field values.  Only "none" exists yet. */
#define TIER_PACK_CIPHER_NONE 0

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
	unsigned char id[TIER_HASH_LEN]; /**< SHA-256 of the raw bytes */
	uint64_t offset;                 /**< of the stored bytes in the pack */
	uint32_t stored_len;
	uint32_t raw_len;
	uint32_t flags; /**< TIER_CHUNK_RAW or TIER_CHUNK_LZ4 */
} tier_pack_entry;

typedef struct {
	uint16_t version;
	uint16_t cipher;
	uint32_t count;        /**< chunks */
	uint64_t index_offset; /**< == end of the last chunk */
	uint64_t index_len;    /**< count * TIER_PACK_ENTRY_SIZE */
	uint64_t pack_size;    /**< index_offset + index_len + trailer */
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
 * straight to the file.
 */
int tier_pack_writer_new(tier_pack_writer **out, const char *dir);

/**
 * Append a chunk: compresses raw (len bytes, whose SHA-256 the caller
 * computed as id).  The id is trusted; the caller deduplicates.
 */
int tier_pack_writer_add(tier_pack_writer *w,
                         const unsigned char id[TIER_HASH_LEN], const void *raw,
                         size_t len);

/** Append a chunk compressed already by tier_chunk_compress. */
int tier_pack_writer_add_compressed(tier_pack_writer *w,
                                    const unsigned char id[TIER_HASH_LEN],
                                    const void *stored, size_t stored_len,
                                    size_t raw_len, unsigned int flags);

/** Bytes the pack would have if finished now (index and trailer included). */
uint64_t tier_pack_writer_size(const tier_pack_writer *w);
/** Chunks added so far. */
size_t tier_pack_writer_count(const tier_pack_writer *w);

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
 * is the caller's (tier_pack_index_free).
 */
int tier_pack_index_parse(tier_pack_index **out, uint64_t *need,
                          const void *tail, size_t tail_len, uint64_t pack_size,
                          const char *name);

/** Read and parse the index of a pack file on local disk. */
int tier_pack_index_read_file(tier_pack_index **out, const char *path);

/** The entry for a chunk id, or NULL.  Linear: packs hold few chunks. */
const tier_pack_entry *
tier_pack_index_find(const tier_pack_index *idx,
                     const unsigned char id[TIER_HASH_LEN]);

void tier_pack_index_free(tier_pack_index *idx);

/**
 * Decode one chunk: stored holds the entry's stored_len bytes (read from
 * entry->offset), out at least entry->raw_len bytes.  Decompresses and
 * checks the SHA-256 of the result against entry->id; a mismatch is
 * TIER_ECORRUPT "chunk <hex> in pack <hex> fails its hash".  pack_id
 * (may be NULL) only serves the message.  Thread-safe.
 */
int tier_pack_chunk_decode(const tier_pack_entry *entry,
                           const unsigned char *pack_id, const void *stored,
                           size_t stored_len, void *out, size_t out_cap);

/**
 * Verify a pack file on local disk: header, trailer, index hash, every
 * chunk decoded and hashed, and the SHA-256 of the file against
 * expect_id; when expect_id is NULL, against the id in the file name if
 * it is "<64 hex>[.pack]", else not checked.  out_id (may be NULL)
 * receives the SHA-256 of the file.  Damage is TIER_ECORRUPT naming the
 * chunk or the pack.  Memory: the index and one chunk.
 */
int tier_pack_verify(const char *path, const unsigned char *expect_id,
                     unsigned char *out_id);

#endif
