/*
 * What every public header shares: the export marker.
 *
 * The shared library is built with -fvisibility=hidden, so only functions
 * declared TIER_EXTERN in include/tier/ are exported; ci/check-exports.sh
 * compares `nm -D libtier.so` with these headers.
 */
#ifndef TIER_COMMON_H
#define TIER_COMMON_H

#include "tier/common.h"

#if defined(__GNUC__) || defined(__clang__)
#define TIER_EXTERN __attribute__((visibility("default")))
#else
#define TIER_EXTERN
#endif

#endif
