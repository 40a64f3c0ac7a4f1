/*
 * ISO 8601 times on the command line (tier-push --time, as restic's
 * backup --time): "2026-12-04T10:30:00Z", "2026-12-04T10:30:00+01:00",
 * "2026-12-04 10:30" (no zone: local time, as TZ says), "2026-12-04"
 * (midnight, local).  Seconds and a fraction of them are optional (the
 * fraction is dropped); the zone is Z, +HH:MM, +HHMM or +HH.
 */
#ifndef TOOL_ISOTIME_H
#define TOOL_ISOTIME_H

#include <stdint.h>

/**
 * Parse text into seconds since the epoch and the zone it was written in
 * (minutes east of UTC).  Returns 0, or -1 for anything else (a date that
 * does not exist, such as 2026-02-30, included).
 */
int tool_parse_iso8601(const char *text, int64_t *t, int *offset_min);

#endif
