/* ISO 8601 times (isotime.h). */
#include "isotime.h"

#include <string.h>
#include <time.h>

/* Exactly n digits at *s, moved past. */
static int digits(const char **s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if ((*s)[i] < '0' || (*s)[i] > '9')
			return -1;
		v = v * 10 + ((*s)[i] - '0');
	}
	*s += n;
	*out = v;
	return 0;
}

static int days_in(int year, int month)
{
	static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
	return month == 2 && leap ? 29 : d[month - 1];
}

/* Z, +HH:MM, +HHMM, +HH; 1 when a zone was given, 0 none, -1 bad. */
static int zone(const char *s, int *offset)
{
	int sign, hh, mm = 0;
	if (!*s)
		return 0;
	if (!strcmp(s, "Z") || !strcmp(s, "z")) {
		*offset = 0;
		return 1;
	}
	if (*s != '+' && *s != '-')
		return -1;
	sign = *s++ == '-' ? -1 : 1;
	if (digits(&s, 2, &hh) < 0 || hh > 23)
		return -1;
	if (*s == ':')
		s++;
	if (*s && (digits(&s, 2, &mm) < 0 || mm > 59))
		return -1;
	if (*s)
		return -1;
	*offset = sign * (hh * 60 + mm);
	return 1;
}

int tool_parse_iso8601(const char *text, int64_t *t, int *offset_min)
{
	const char *s = text;
	struct tm tm;
	int y, mo, d, h = 0, mi = 0, sec = 0, off = 0, z;

	memset(&tm, 0, sizeof(tm));
	if (!s || digits(&s, 4, &y) < 0 || *s++ != '-' ||
	    digits(&s, 2, &mo) < 0 || *s++ != '-' || digits(&s, 2, &d) < 0)
		return -1;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > days_in(y, mo))
		return -1;
	if (*s == 'T' || *s == 't' || *s == ' ') {
		s++;
		if (digits(&s, 2, &h) < 0 || *s++ != ':' ||
		    digits(&s, 2, &mi) < 0 || h > 23 || mi > 59)
			return -1;
		if (*s == ':') {
			s++;
			if (digits(&s, 2, &sec) < 0 || sec > 59)
				return -1;
			if (*s == '.' || *s == ',') {
				s++;
				if (*s < '0' || *s > '9')
					return -1;
				while (*s >= '0' && *s <= '9')
					s++;
			}
		}
	}
	if ((z = zone(s, &off)) < 0)
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	if (z) {
		*t = (int64_t)timegm(&tm) - (int64_t)off * 60;
	} else {
		/* local time: mktime, and the zone it fell in */
		tm.tm_isdst = -1;
		time_t lt = mktime(&tm);
		if (lt == (time_t)-1)
			return -1;
		off = (int)(((int64_t)timegm(&tm) - (int64_t)lt) / 60);
		*t = (int64_t)lt;
	}
	if (*t < 0)
		return -1;
	*offset_min = off;
	return 0;
}
