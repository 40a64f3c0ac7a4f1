/*
 * Content-defined chunking: FastCDC-style gear hash with normalised
 * chunking.  Internal header.
 *
 * A cut falls after a byte where the top bits of the rolling gear hash are
 * all zero.  Below the average size the test uses more bits (cuts are rare),
 * above it fewer (cuts come soon), so chunk sizes bunch around the average.
 * The first min - 1 bytes of a chunk are skipped without hashing; a chunk is
 * never shorter than min (except the last of a stream) nor longer than max.
 *
 * The boundaries depend only on the bytes and the parameters, never on how
 * the caller split the stream into buffers.  Changing the gear table, the
 * mask rule or the parameters changes every boundary and ruins
 * deduplication against existing data: a vault records TIER_CHUNKER_ALGO and
 * its parameters, and a new algorithm gets a new name.
 */
#ifndef TIER_CHUNKER_H
#define TIER_CHUNKER_H

#include <stddef.h>
#include <stdint.h>

/** Name of the algorithm (gear table, mask rule) to record in a vault. */
#define TIER_CHUNKER_ALGO "fastcdc-gear64-v1"

/** Largest max accepted (the pack format stores 32-bit lengths). */
#define TIER_CHUNKER_LIMIT (64u * 1024 * 1024)

typedef struct {
	uint32_t min; /**< shortest chunk (bytes), >= 64 */
	uint32_t avg; /**< target average, a power of two, > min */
	uint32_t max; /**< longest chunk, >= avg, <= TIER_CHUNKER_LIMIT */
	/**
	 * Normalisation level: the mask below avg has log2(avg) + norm bits,
	 * the one above log2(avg) - norm.  0 is plain gear CDC; 1..3.
	 */
	uint32_t norm;
} tier_chunker_params;

/* Chosen by measurement, see docs/format-pack.md. */
#define TIER_CHUNKER_MIN_DEFAULT  (256u * 1024)
#define TIER_CHUNKER_AVG_DEFAULT  (512u * 1024)
#define TIER_CHUNKER_MAX_DEFAULT  (4u * 1024 * 1024)
#define TIER_CHUNKER_NORM_DEFAULT 2

#define TIER_CHUNKER_PARAMS_INIT                                            \
	{                                                                   \
		TIER_CHUNKER_MIN_DEFAULT, TIER_CHUNKER_AVG_DEFAULT,         \
		        TIER_CHUNKER_MAX_DEFAULT, TIER_CHUNKER_NORM_DEFAULT \
	}

/** Streaming state.  Plain struct: lives on the stack, no allocation. */
typedef struct {
	tier_chunker_params p;
	uint64_t mask_s; /* below avg: stricter */
	uint64_t mask_l; /* from avg on: looser */
	uint64_t h;      /* gear hash of the current chunk */
	size_t pos;      /* bytes of the current chunk seen so far */
} tier_chunker;

/** Check params (NULL: the defaults).  Bad ones are TIER_EUSAGE. */
int tier_chunker_params_check(const tier_chunker_params *p);

/** Start a stream (NULL params: the defaults).  Checks params. */
int tier_chunker_init(tier_chunker *c, const tier_chunker_params *p);

/** Forget the current chunk: the next byte starts a new stream. */
void tier_chunker_reset(tier_chunker *c);

/**
 * Scan up to len bytes.  Returns how many bytes were consumed.  If a chunk
 * ends at data + return value, *cut is 1 (the chunk is every byte fed since
 * the previous cut, up to there) and the state restarts for the next chunk;
 * feed the rest of the buffer again.  Otherwise *cut is 0 and all len bytes
 * belong to the current, unfinished chunk.
 */
size_t tier_chunker_scan(tier_chunker *c, const void *data, size_t len,
                         int *cut);

/**
 * End of stream: returns the length of the last chunk (the bytes fed since
 * the last cut; 0 if none) and resets the state.
 */
size_t tier_chunker_finish(tier_chunker *c);

/** The 256-entry gear table (fixed for TIER_CHUNKER_ALGO; for tests). */
const uint64_t *tier_chunker_gear(void);

#endif
