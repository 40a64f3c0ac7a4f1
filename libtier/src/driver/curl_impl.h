/* Internals of the libcurl driver (ftp, ftps, sftp), shared with its parsers. */
#ifndef TIER_DRIVER_CURL_IMPL_H
#define TIER_DRIVER_CURL_IMPL_H

#include <stdint.h>
#include <time.h>

#include <curl/curl.h>

#include "driver/curl_util.h"
#include "driver/drivers.h"
#include "util/buf.h"

enum { PROTO_FTP, PROTO_FTPS, PROTO_SFTP };

typedef struct {
	tier_driver base;
	CURL *h;
	CURLM *m; /* our own multi handle: see perform() */
	int proto;
	char *base_url; /* "ftp://host:port": no user, no password, no path */
	char *root; /* decoded tier root without trailing '/' ("" for "/") */
	char *where; /* for messages: "sftp://user@host:port/root", never a password */
	char *host; /* decoded, without brackets: the netrc's machine */
	char *user, *password;
	char *key, *key_pub, *passphrase; /* sftp */
	char *known_hosts, *hostkey;      /* sftp: file, or SHA-256 base64 */
	char *cacert;
	/* no password in the URL: the netrc file libcurl reads, and what it
	 * finds there for this host (and user) */
	char *netrc;
	char *netrc_login; /* the login of the netrc entry, for messages */
	int netrc_hit;     /* the netrc has a password for us */
	unsigned int timeout;
	uint64_t max_send, max_recv;
	int insecure;

	/* per operation */
	char errbuf[CURL_ERROR_SIZE];
	tier_buf reply; /* last final FTP reply line */
	int reply_code;
	int saw_350;
	curl_off_t last_dl, last_ul;
	time_t last_move;
	int stalled;
	int moved; /* a data callback ran: the transfer cannot simply run again */
	int probe_hit;
	tier_buf listing;
	/* get */
	tier_sink_cb get_sink;
	void *get_payload;
	uint64_t get_left, get_delivered;
	int get_stopped, get_enough;
	/* put */
	tier_curl_upload up;
} curl_driver;

/* Options from the query of an sftp:// URL (decoded; NULL when absent). */
typedef struct {
	char *key;         /* ?key=/path/to/id_ed25519 */
	char *known_hosts; /* ?known_hosts=/path */
	char *hostkey;     /* ?hostkey=SHA256:base64 */
} curl_query;

/**
 * Parse the raw query.  ftp/ftps take no options; an unknown name is
 * TIER_EUSAGE (a typo must not silently weaken the host key check).
 * where names the tier in messages.
 */
int curl_query_parse(curl_query *out, const char *query, int sftp,
                     const char *where);
void curl_query_dispose(curl_query *q);

/**
 * Parse one line of a Unix "ls -l" style listing (FTP LIST of vsftpd,
 * pure-ftpd, proftpd; OpenSSH's SFTP long names).  line is modified;
 * *name points into it.  now resolves dates without a year.  Returns 0,
 * or -1 for a line in another format.
 */
int curl_parse_ls_line(char *line, const char **name, tier_stat *st,
                       time_t now);

#endif
