/*
 * How a revision describes its data inside the git log (docs/format.md).
 *
 * The tree of every commit:
 *   vault                  blob: the vault's parameters (id, hash, chunker,
 *                          compression, cipher); the same blob every revision
 *   root/                  tree: the snapshot; one entry per file, the
 *                          directory's own metadata in the entry "%"
 *   index/<xx>/<pack-hex>  blob: the tail (index + trailer) of every data
 *                          pack of the vault, so the log alone says where
 *                          each chunk lives and which packs a tier must hold
 *   keys/<16 hex>          blob: encrypted vaults, a key slot per password
 *                          (crypto/keyslot.h), carried by every write
 *
 * Entry names are escaped (tier_snap_name_encode) so that any file name
 * round-trips and git (fsck --strict) accepts every tree.  In an encrypted
 * vault (k != NULL below) names and nodes are sealed instead
 * (snapshot_seal.c, docs/crypto.md).
 */
#ifndef TIER_SNAPSHOT_H
#define TIER_SNAPSHOT_H

#include <git2.h>
#include <stdint.h>

#include "crypto/seal.h"
#include "hash.h"
#include "util/buf.h"

#define TIER_SNAP_VAULT "vault"
#define TIER_SNAP_ROOT  "root"
#define TIER_SNAP_INDEX "index"
/** Encrypted vaults: one key slot blob per password (keys.c). */
#define TIER_SNAP_KEYS "keys"
/** The entry of a snapshot tree that holds the directory's own metadata. */
#define TIER_SNAP_DIRMETA "%"

/** Data pack path on a tier: "data/<xx>/<64 hex>". */
void tier_data_pack_path(char out[80], const unsigned char id[TIER_HASH_LEN]);

/* ---- names ---------------------------------------------------------- */

/**
 * A file name (any bytes but '/' and NUL) as a git tree entry name: kept as
 * is when safe, else "%" + percent-encoding.  Unsafe: a leading '.', a
 * leading non-ASCII byte, any '~', '%', control byte, or DEL (this keeps
 * clear of every ".git" spelling git fsck rejects, NTFS and HFS ones too).
 */
int tier_snap_name_encode(tier_buf *out, const tier_keys *k, const char *name,
                          size_t len);
/**
 * Inverse of encode.  TIER_ECORRUPT (out left empty) unless entry is the
 * canonical encoding of one path component: never empty, '.', '..', and
 * never holding '/' or NUL (a hostile tier writes whatever names it likes).
 */
int tier_snap_name_decode(tier_buf *out, const tier_keys *k, const char *entry);
/**
 * Every entry name of a snapshot directory decodes (above), none appears
 * twice, and "%" (the directory's metadata) is a blob.  TIER_ECORRUPT
 * naming the first bad entry.  Callers that read a tier's trees run this
 * before acting on any entry (restore, fsck, log, mount).
 */
int tier_snap_tree_check(const git_tree *tree, const tier_keys *k);

/* ---- nodes ---------------------------------------------------------- */

typedef enum {
	TIER_NODE_FILE = 0,
	TIER_NODE_DIR,
	TIER_NODE_SYMLINK,
	TIER_NODE_FIFO,
	TIER_NODE_CHAR,
	TIER_NODE_BLOCK,
	TIER_NODE_SOCKET,
} tier_node_type;

typedef struct {
	unsigned char id[TIER_HASH_LEN];
	uint32_t len; /* raw length */
} tier_chunk_ref;

/** Metadata of one file system object, and a file's chunk list. */
typedef struct {
	tier_node_type type;
	uint32_t mode; /**< permission bits, 07777 */
	uint32_t uid, gid;
	uint64_t size;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	int64_t ctime_sec;
	uint32_t ctime_nsec;
	uint64_t ino, dev, rdev;
	char *target; /**< symlink target (bytes), else NULL */
	size_t target_len;
	size_t nchunks;
	tier_chunk_ref *chunks;
} tier_node;

/** Text form of a node (the blob content).  Stable: see docs/format.md. */
int tier_node_encode(tier_buf *out, const tier_keys *k, const tier_node *n);
/** Parse a node blob; allocates target and chunks (tier_node_dispose). */
int tier_node_decode(tier_node *out, const tier_keys *k, const char *data,
                     size_t len);
void tier_node_dispose(tier_node *n);
const char *tier_node_type_name(tier_node_type t);

/* ---- vault blob ------------------------------------------------------ */

/** Build the tree of revision 1: just the vault blob. */
int tier_snap_initial_tree(git_oid *out, git_repository *repo,
                           const char *vault_id, const git_oid *keys);
/**
 * The vault blob's version: *encrypted 1 for "libtier-vault 2" (cipher
 * aes-256-gcm, keyed chunk ids), 0 for version 1.  TIER_EUNSUPPORTED for
 * anything else.
 */
int tier_snap_vault_parse(int *encrypted, const char *data, size_t len);

/* ---- chunk map ------------------------------------------------------- */

/** Where one chunk lives. */
typedef struct {
	unsigned char id[TIER_HASH_LEN];
	uint32_t pack; /**< index into the map's pack list */
	uint32_t stored_len;
	uint32_t raw_len;
	uint32_t flags;
	uint64_t offset;
} tier_chunk_loc;

typedef struct tier_chunkmap tier_chunkmap;

/**
 * Load the map of every chunk of the vault from a revision's tree (the
 * index/ subtree).  tree may be NULL (empty map).  The map lives on disk
 * (chunkidx.h): "<state_dir>/chunkidx", reused by the next run and brought
 * up to date with the packs it lacks; state_dir NULL or not writable: a
 * temporary file of this map alone.  Memory: a fence entry per 64 chunks.
 * keys: the vault's (NULL: plaintext), to open sealed pack indexes.
 */
int tier_chunkmap_load(tier_chunkmap **out, git_repository *repo,
                       const git_tree *tree, const char *state_dir,
                       const tier_keys *keys);
/**
 * Where chunk id lives, copied into *out: 1 found, 0 not, TIER_ECORRUPT
 * (error set) when the file fails its checks, TIER_ERROR on a read
 * failure.  Reads one block (pread): safe from several threads at once.
 */
int tier_chunkmap_find(tier_chunkmap *m, const unsigned char id[TIER_HASH_LEN],
                       tier_chunk_loc *out);
size_t tier_chunkmap_count(const tier_chunkmap *m);
size_t tier_chunkmap_pack_count(const tier_chunkmap *m);
const unsigned char *tier_chunkmap_pack_id(const tier_chunkmap *m, size_t i);
/** Index blobs the load read (the packs the cached file lacked). */
size_t tier_chunkmap_packs_read(const tier_chunkmap *m);
void tier_chunkmap_free(tier_chunkmap *m);

/**
 * Add packs to the index/ subtree of base (a revision's tree, or NULL) and
 * write the new index tree; *out is the new index tree id.  blobs[i] is
 * the blob, in repo already, of the tail (index + trailer) of pack ids[i]:
 * a push writes each as its pack is finished, not all at the end.
 */
int tier_snap_index_add(git_oid *out, git_repository *repo,
                        const git_tree *base_index, size_t n,
                        const unsigned char (*ids)[TIER_HASH_LEN],
                        const git_oid *blobs);

/** Compose a revision tree from the parts (NULL oids are left out). */
int tier_snap_compose(git_oid *out, git_repository *repo,
                      const git_oid *vault_blob, const git_oid *root,
                      const git_oid *index, const git_oid *keys);

/** Look up a top-level entry ("vault", "root", "index") of a revision tree. */
int tier_snap_part(git_oid *out, const git_tree *rev_tree, const char *part);

#endif
