/* libtier: multi-tier backup with a git operation log per tier. */
#ifndef TIER_H
#define TIER_H

#include "tier/common.h"

#include "tier/browse.h"
#include "tier/drive.h"
#include "tier/config.h"
#include "tier/errors.h"
#include "tier/forget.h"
#include "tier/fsck.h"
#include "tier/location.h"
#include "tier/push.h"
#include "tier/restore.h"
#include "tier/sync.h"
#include "tier/vault.h"

/** Library version, "MAJOR.MINOR.PATCH" (static, never NULL). */
TIER_EXTERN const char *tier_version(void);

#endif
