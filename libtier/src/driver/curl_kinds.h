/*
 * What a libcurl error means for a tier (curl_kinds.c): the table of
 * every CURLcode, and the rules for what the server said.  Pure functions,
 * so that each row can be tested (docs/remote-tiers.md).
 */
#ifndef TIER_DRIVER_CURL_KINDS_H
#define TIER_DRIVER_CURL_KINDS_H

#include <curl/curl.h>

enum curl_kind {
	KIND_REPLY, /* the server refused: its FTP reply or SFTP status decides */
	KIND_LOGIN,     /* user or password refused: TIER_EAUTH */
	KIND_UNTRUSTED, /* certificate or host key: TIER_EAUTH */
	KIND_NO_TLS,    /* the server refused TLS: TIER_EAUTH */
	KIND_TLS_SETUP, /* our TLS setup cannot work: TIER_EAUTH */
	KIND_NOTFOUND,
	KIND_NOSPC,
	KIND_EXISTS,
	KIND_SHORT, /* shorter than asked for: TIER_ECORRUPT */
	KIND_CANCELLED,
	KIND_USAGE,
	KIND_UNSUPPORTED,
	KIND_NOMEM,
	KIND_LOCAL, /* our side of the call (a callback, an option): TIER_ERROR */
	KIND_FOREIGN, /* a code of another protocol: TIER_ERROR */
	KIND_NETWORK, /* may pass: TIER_EOFFLINE */
	KIND_DESYNC,  /* replies out of step with commands: TIER_EOFFLINE */
	KIND_REST,    /* resuming failed: TIER_EOFFLINE unless 5xx "cannot" */
	KIND_SSH      /* the SFTP status decides, else TIER_EOFFLINE */
};

/** The kind of a CURLcode (KIND_LOCAL for obsolete and unknown codes). */
enum curl_kind tier_curl_kind(CURLcode rc);

/**
 * The tier code of a failure: rc is libcurl's, reply_code and reply the
 * last FTP reply (0, NULL: none), detail curl's message (SFTP statuses are
 * read from it).  sftp: the transfer was SFTP.
 */
int tier_curl_classify(int sftp, CURLcode rc, int reply_code, const char *reply,
                       const char *detail);

/** The code of an SFTP status text in msg, 0 when it holds none. */
int tier_curl_sftp_status(const char *msg);

/** The code of an FTP refusal from the server's reply. */
int tier_curl_ftp_reply(CURLcode rc, int reply_code, const char *reply);

#endif
