/* libtier: multi-tier backup with a git operation log per tier. */
#ifndef TIER_H
#define TIER_H

#include "tier/errors.h"
#include "tier/location.h"

/** Library version, "MAJOR.MINOR.PATCH". */
const char *tier_version(void);

#endif
