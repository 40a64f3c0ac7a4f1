/*
 * What the two libcurl drivers (curl.c: ftp, ftps, sftp; s3.c) share:
 * libcurl's one-time global set-up and the upload source callbacks.
 * Internal header.
 */
#ifndef TIER_DRIVER_CURL_UTIL_H
#define TIER_DRIVER_CURL_UTIL_H

#include <stdint.h>

#include <curl/curl.h>

#include "tier/location.h"

/** curl_global_init() once per process; TIER_ERROR with a message if it failed. */
int tier_curl_global_init(void);

/**
 * An upload: bytes [base, base + len) of a tier_source, read at pos.  The
 * reconnect layer retries a put by rewinding (seek to 0), so the source is
 * read with pread, never consumed.
 */
typedef struct {
	const tier_source *src;
	uint64_t base, len, pos;
	int read_errno; /* set when reading the source failed (the put aborts) */
	int moved;      /* a byte was handed to libcurl */
} tier_curl_upload;

/** Start an upload of [base, base + len) of src. */
void tier_curl_upload_start(tier_curl_upload *u, const tier_source *src,
                            uint64_t base, uint64_t len);

/**
 * The netrc file libcurl is to read: `configured` (the location option)
 * when given, else $NETRC, else ~/.netrc ($HOME, else the password
 * database).  NULL when there is no home either, or out of memory.
 * Caller frees.
 */
char *tier_curl_netrc_path(const char *configured);

/**
 * What the netrc file says for host, read as libcurl 7.88 reads it
 * (tokens machine, default, login, password, account, macdef; '#'
 * comments; double-quoted tokens with backslash escapes).  With user (the login
 * of the URL) only an entry with that login matches, as libcurl matches
 * machine and login.  1 and *login, *password (caller frees, either may be
 * NULL) for the first matching entry that has a password; 0 when there is
 * none, the file is missing or unreadable (libcurl then finds none
 * either); TIER_ERROR for out of memory.  The password is never put in a
 * message.
 */
int tier_curl_netrc_lookup(const char *file, const char *host, const char *user,
                           char **login, char **password);

/** CURLOPT_READFUNCTION / CURLOPT_SEEKFUNCTION, with the upload as data. */
size_t tier_curl_on_read(char *p, size_t size, size_t n, void *upload);
int tier_curl_on_seek(void *upload, curl_off_t off, int origin);

#endif
