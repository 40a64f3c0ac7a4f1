/*
 * Internals of the libcurl driver (ftp, ftps, sftp), shared by its files:
 * curl.c (open, free, the table of operations), curl_xfer.c (one
 * transfer), curl_fail.c (what a failed transfer means), curl_read.c and
 * curl_write.c (the operations), curl_parse.c (listings, URL options).
 */
#ifndef TIER_DRIVER_CURL_IMPL_H
#define TIER_DRIVER_CURL_IMPL_H

#include <stdint.h>
#include <time.h>

#include <curl/curl.h>

#include "driver/curl_util.h"
#include "driver/drivers.h"
#include "driver/listing.h"
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
	int data_port; /* FTP: the port of the last 227/229 reply, 0: none */
	/* the cached connection may be out of step or dead: the next
	 * transfer logs in afresh (set by tier_curl_fail) */
	int drop_connection;
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
	/* FTP: bytes past the range read (and dropped) to the end of the
	 * file rather than stop early, which costs a new login */
	uint64_t get_tail_left;
	/* what a new login costs here, as bytes this server sends meanwhile
	 * (measured on each transfer; 0: not yet) */
	uint64_t login_bytes;
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

/**
 * Parse a whole listing (buf of size bytes, modified in place; NULL is
 * empty) into items: "ls -l" lines, or names only.  ".", ".." and our
 * temporary names are left out.  Returns 0, 1 when a line is in no known
 * format (the caller asks again for names only), or TIER_ERROR.
 */
int curl_parse_listing(char *buf, size_t size, int names_only, time_t now,
                       tier_listing *items);

/** The data port of a 227 or 229 reply line (len bytes), 0 when none. */
int tier_curl_pasv_port(const char *line, size_t len);

static inline curl_driver *tier_curl_of(tier_driver *drv)
{
	return (curl_driver *)drv;
}

/* ---- one transfer (curl_xfer.c) ----------------------------------------- */

/**
 * Reset the easy handle and the per-operation state, then set what every
 * transfer has: timeouts, callbacks, login, TLS or SSH options.  Also
 * refuses an FTP login that has no password (TIER_EAUTH).
 */
int tier_curl_set_common(curl_driver *d);
/** An option set per call: only fails for out of memory or an old libcurl. */
int tier_curl_opt(curl_driver *d, CURLcode rc);
/** CURLOPT_URL for rel below the root; dir adds the trailing '/'. */
int tier_curl_set_url(curl_driver *d, const char *rel, int dir);
/** Append a printf-formatted command to a quote list (caller frees the list). */
int tier_curl_add_cmd(struct curl_slist **list, const char *fmt, ...)
        TIER_PRINTF(2, 3);
/** Append the absolute path of rel, quoted as curl parses SFTP quote commands. */
int tier_curl_sftp_quoted(curl_driver *d, tier_buf *out, const char *rel);
/** Run the transfer set up on d->h (once more for a lost SFTP start). */
CURLcode tier_curl_perform(curl_driver *d);
/**
 * Is rel an existing directory?  0 yes, TIER_ENOTFOUND no, or another
 * code.  quote: SFTP commands to run before.
 */
int tier_curl_dir_probe(curl_driver *d, const char *rel, const char *verb,
                        struct curl_slist *quote);
/** Run quote commands on the tier root, without a transfer. */
int tier_curl_run_quote(curl_driver *d, struct curl_slist *cmds,
                        const char *verb, const char *rel);

/* ---- errors (curl_fail.c) ------------------------------------------------ */

/**
 * The tier code and message of a failed transfer: TIER_EOFFLINE only for
 * what may pass by itself (the reconnect layer retries it).  verb and rel
 * name the operation in the message.
 */
int tier_curl_fail(curl_driver *d, CURLcode rc, const char *verb,
                   const char *rel);

/* ---- operations (curl_read.c, curl_write.c) ------------------------------ */

/** 1 rel exists, 0 it does not (the error cleared), or a negative code. */
int tier_curl_exists(curl_driver *d, const char *rel);

int tier_curl_ping(tier_driver *drv);
int tier_curl_stat(tier_driver *drv, const char *path, tier_stat *out);
int tier_curl_get(tier_driver *drv, const char *path, uint64_t offset,
                  uint64_t len, tier_sink_cb sink, void *payload);
int tier_curl_list(tier_driver *drv, const char *dir, tier_list_cb cb,
                   void *payload);
int tier_curl_put(tier_driver *drv, const char *path, const tier_source *src,
                  unsigned int flags);
int tier_curl_rename(tier_driver *drv, const char *from, const char *to);
int tier_curl_remove(tier_driver *drv, const char *path);
int tier_curl_mkdir_p(tier_driver *drv, const char *path);

#endif
