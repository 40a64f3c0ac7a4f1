/* Parsers of the libcurl driver: URL query options and "ls -l" listings. */
#include "driver/curl_impl.h"
#include "util/posix.h"
#include "util/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void curl_query_dispose(curl_query *q)
{
	free(q->key);
	free(q->known_hosts);
	free(q->hostkey);
	memset(q, 0, sizeof(*q));
}

int curl_query_parse(curl_query *out, const char *query, int sftp,
                     const char *where)
{
	memset(out, 0, sizeof(*out));
	for (const char *p = query; p && *p;) {
		size_t n = strcspn(p, "&");
		size_t klen = strcspn(p, "=");
		char **slot = NULL;
		int bad = 0;
		if (klen > n)
			klen = n;
		if (n == 0) {
			p++;
			continue;
		}
		if (sftp && klen == 3 && !strncmp(p, "key", 3))
			slot = &out->key;
		else if (sftp && klen == 11 && !strncmp(p, "known_hosts", 11))
			slot = &out->known_hosts;
		else if (sftp && klen == 7 && !strncmp(p, "hostkey", 7))
			slot = &out->hostkey;
		if (!slot) {
			curl_query_dispose(out);
			return tier_error_set(
			        TIER_EUSAGE,
			        "unknown option '%.*s' in tier url %s (%s)",
			        (int)klen, p, where,
			        sftp ? "sftp takes key=, known_hosts=, hostkey="
			             : "ftp takes no options in the url");
		}
		if (klen == n || klen + 1 == n) {
			curl_query_dispose(out);
			return tier_error_set(
			        TIER_EUSAGE,
			        "option '%.*s' in tier url %s needs a value",
			        (int)klen, p, where);
		}
		free(*slot);
		*slot = tier_percent_decode(p + klen + 1, n - klen - 1,
		                            TIER_DECODE_STRICT, &bad);
		if (!*slot) {
			curl_query_dispose(out);
			if (bad)
				return tier_error_set(
				        TIER_EUSAGE,
				        "bad %%-escape in option '%.*s' of tier url %s",
				        (int)klen, p, where);
			return TIER_ERROR;
		}
		p += n;
		if (*p == '&')
			p++;
	}
	return 0;
}

/* ---- listings ---------------------------------------------------------- */

static int all_digits(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

static int month_of(const char *s)
{
	static const char *const m[] = {"jan", "feb", "mar", "apr",
	                                "may", "jun", "jul", "aug",
	                                "sep", "oct", "nov", "dec"};
	if (strlen(s) != 3)
		return -1;
	for (int i = 0; i < 12; i++)
		if (!strcasecmp(s, m[i]))
			return i;
	return -1;
}

#define MAX_TOKENS 9

/*
 * Split the fields before the name: perms links owner [group] size month
 * day time-or-year.  The group is missing on some servers, so the month
 * anchors the parse.  The month's token index (*mon its number), *pp at
 * the name; -1 for another format.
 */
static int ls_fields(char *line, char **tok, char **pp, int *mon)
{
	int ntok = 0, m = -1;
	char *p = line;

	*mon = -1;
	while (ntok < MAX_TOKENS) {
		while (*p == ' ')
			p++;
		if (!*p)
			return -1;
		tok[ntok++] = p;
		p += strcspn(p, " ");
		if (!*p)
			return -1;
		*p++ = '\0';
		/* the month is token 5 (with a group) or 4 (without) */
		if (ntok - 1 >= 4 && *mon < 0 &&
		    (*mon = month_of(tok[ntok - 1])) >= 0) {
			m = ntok - 1;
			if (m > 5) {
				*mon = -1;
				m = -1;
			}
		}
		if (m >= 0 && ntok == m + 3)
			break;
	}
	if (m < 0 || ntok != m + 3)
		return -1;
	*pp = p;
	return m;
}

/* The mtime of month mon, day and "HH:MM" or a year; -1 if ty is neither. */
static int ls_time(tier_stat *st, int mon, const char *day, const char *ty,
                   time_t now)
{
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	tm.tm_mon = mon;
	tm.tm_mday = atoi(day);
	if (strchr(ty, ':')) {
		/* "HH:MM": within the last six months or so, year not shown */
		struct tm nowtm;
		gmtime_r(&now, &nowtm);
		tm.tm_hour = atoi(ty);
		tm.tm_min = atoi(strchr(ty, ':') + 1);
		tm.tm_year = nowtm.tm_year;
		time_t t = timegm(&tm);
		if (t > now + 86400) {
			tm.tm_year--;
			t = timegm(&tm);
		}
		st->mtime = (int64_t)t;
	} else if (all_digits(ty)) {
		tm.tm_year = atoi(ty) - 1900;
		st->mtime = (int64_t)timegm(&tm);
	} else {
		return -1;
	}
	return 0;
}

int curl_parse_ls_line(char *line, const char **name, tier_stat *st, time_t now)
{
	char *tok[MAX_TOKENS];
	char *p;
	int mon, m;

	memset(st, 0, sizeof(*st));
	if (!strchr("-dlbcps", line[0]) || strlen(line) < 10)
		return -1;
	if ((m = ls_fields(line, tok, &p, &mon)) < 0)
		return -1;
	/* the name follows after one space; more would be part of the name */
	if (!*p)
		return -1;
	*name = p;
	if (line[0] == 'l') {
		char *arrow = strstr(p, " -> ");
		if (arrow)
			*arrow = '\0';
	}
	/* "l... 12:00  -> x": no name before the arrow */
	if (!**name)
		return -1;
	if (!all_digits(tok[m - 1]) || !all_digits(tok[m + 1]))
		return -1;
	st->size = strtoull(tok[m - 1], NULL, 10);
	st->is_dir = line[0] == 'd';
	return ls_time(st, mon, tok[m + 1], tok[m + 2], now);
}

int curl_parse_listing(char *buf, size_t size, int names_only, time_t now,
                       tier_listing *items)
{
	char *p = buf, *end = buf ? buf + size : NULL;
	while (p && p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char *line_end = nl ? nl : end;
		char *next = nl ? nl + 1 : end;
		const char *name = NULL;
		tier_stat st;
		if (line_end > p && line_end[-1] == '\r')
			line_end--;
		*line_end = '\0';
		memset(&st, 0, sizeof(st));
		if (!*p || (!names_only && !strncmp(p, "total ", 6))) {
			p = next;
			continue;
		}
		if (names_only)
			name = p;
		else if (curl_parse_ls_line(p, &name, &st, now) < 0)
			return 1;
		if (strcmp(name, ".") && strcmp(name, "..") &&
		    !tier_is_temp_name(name) &&
		    tier_listing_add(items, name, strlen(name), &st) < 0)
			return TIER_ERROR;
		p = next;
	}
	return 0;
}

/* ---- passive replies --------------------------------------------------- */

int tier_curl_pasv_port(const char *line, size_t len)
{
	char buf[256];
	unsigned a[6];
	const char *p;
	if (len >= sizeof(buf))
		len = sizeof(buf) - 1;
	memcpy(buf, line, len);
	buf[len] = '\0';
	if (!strncmp(buf, "229",
	             3)) { /* 229 Entering Extended Passive Mode (|||port|) */
		unsigned port;
		if ((p = strstr(buf, "|||")) &&
		    sscanf(p, "|||%u|", &port) == 1 && port > 0 && port < 65536)
			return (int)port;
		return 0;
	}
	/* 227 Entering Passive Mode (h1,h2,h3,h4,p1,p2), parentheses optional */
	for (p = buf + 3; *p && !(*p >= '0' && *p <= '9'); p++)
		;
	if (sscanf(p, "%u,%u,%u,%u,%u,%u", &a[0], &a[1], &a[2], &a[3], &a[4],
	           &a[5]) != 6 ||
	    a[4] > 255 || a[5] > 255)
		return 0;
	return (int)(a[4] * 256 + a[5]);
}
