/*
 * What a libcurl error means for a tier, decided on purpose for every
 * CURLcode (docs/remote-tiers.md, "What a libcurl error means", holds the
 * same table, and unit.test_driver_curl_kinds checks each of its rows
 * against this one).  Only what may pass by itself becomes TIER_EOFFLINE,
 * which the reconnect layer of R1 retries on a fresh login.
 */
#include "driver/curl_kinds.h"

#include <stdlib.h>
#include <string.h>

#include "tier/errors.h"

static const struct {
	CURLcode rc;
	enum curl_kind kind;
} curl_kinds[] = {
        {CURLE_UNSUPPORTED_PROTOCOL, KIND_USAGE},
        {CURLE_FAILED_INIT, KIND_LOCAL},
        {CURLE_URL_MALFORMAT, KIND_USAGE},
        {CURLE_NOT_BUILT_IN, KIND_UNSUPPORTED},
        {CURLE_COULDNT_RESOLVE_PROXY, KIND_NETWORK},
        {CURLE_COULDNT_RESOLVE_HOST, KIND_NETWORK},
        {CURLE_COULDNT_CONNECT, KIND_NETWORK},
        {CURLE_WEIRD_SERVER_REPLY, KIND_DESYNC},
        {CURLE_REMOTE_ACCESS_DENIED, KIND_REPLY},
        {CURLE_FTP_ACCEPT_FAILED, KIND_NETWORK},
        {CURLE_FTP_WEIRD_PASS_REPLY, KIND_DESYNC},
        {CURLE_FTP_ACCEPT_TIMEOUT, KIND_NETWORK},
        {CURLE_FTP_WEIRD_PASV_REPLY, KIND_DESYNC},
        {CURLE_FTP_WEIRD_227_FORMAT, KIND_DESYNC},
        {CURLE_FTP_CANT_GET_HOST, KIND_NETWORK},
        {CURLE_HTTP2, KIND_FOREIGN},
        {CURLE_FTP_COULDNT_SET_TYPE, KIND_REPLY},
        {CURLE_PARTIAL_FILE, KIND_NETWORK},
        {CURLE_FTP_COULDNT_RETR_FILE, KIND_REPLY},
        {CURLE_QUOTE_ERROR, KIND_REPLY},
        {CURLE_HTTP_RETURNED_ERROR, KIND_FOREIGN},
        {CURLE_WRITE_ERROR, KIND_LOCAL},
        {CURLE_UPLOAD_FAILED, KIND_REPLY},
        {CURLE_READ_ERROR, KIND_LOCAL},
        {CURLE_OUT_OF_MEMORY, KIND_NOMEM},
        {CURLE_OPERATION_TIMEDOUT, KIND_NETWORK},
        {CURLE_FTP_PORT_FAILED, KIND_NETWORK},
        {CURLE_FTP_COULDNT_USE_REST, KIND_REST},
        {CURLE_RANGE_ERROR, KIND_REST},
        {CURLE_HTTP_POST_ERROR, KIND_FOREIGN},
        {CURLE_SSL_CONNECT_ERROR, KIND_NETWORK},
        {CURLE_BAD_DOWNLOAD_RESUME, KIND_SHORT},
        {CURLE_FILE_COULDNT_READ_FILE, KIND_FOREIGN},
        {CURLE_LDAP_CANNOT_BIND, KIND_FOREIGN},
        {CURLE_LDAP_SEARCH_FAILED, KIND_FOREIGN},
        {CURLE_FUNCTION_NOT_FOUND, KIND_LOCAL},
        {CURLE_ABORTED_BY_CALLBACK, KIND_CANCELLED},
        {CURLE_BAD_FUNCTION_ARGUMENT, KIND_LOCAL},
        {CURLE_INTERFACE_FAILED, KIND_NETWORK},
        {CURLE_TOO_MANY_REDIRECTS, KIND_FOREIGN},
        {CURLE_UNKNOWN_OPTION, KIND_LOCAL},
        {CURLE_SETOPT_OPTION_SYNTAX, KIND_LOCAL},
        {CURLE_GOT_NOTHING, KIND_NETWORK},
        {CURLE_SSL_ENGINE_NOTFOUND, KIND_TLS_SETUP},
        {CURLE_SSL_ENGINE_SETFAILED, KIND_TLS_SETUP},
        {CURLE_SEND_ERROR, KIND_NETWORK},
        {CURLE_RECV_ERROR, KIND_NETWORK},
        {CURLE_SSL_CERTPROBLEM, KIND_UNTRUSTED},
        {CURLE_SSL_CIPHER, KIND_TLS_SETUP},
        {CURLE_PEER_FAILED_VERIFICATION, KIND_UNTRUSTED},
        {CURLE_BAD_CONTENT_ENCODING, KIND_FOREIGN},
        {CURLE_FILESIZE_EXCEEDED, KIND_LOCAL},
        {CURLE_USE_SSL_FAILED, KIND_NO_TLS},
        {CURLE_SEND_FAIL_REWIND, KIND_NETWORK},
        {CURLE_SSL_ENGINE_INITFAILED, KIND_TLS_SETUP},
        {CURLE_LOGIN_DENIED, KIND_LOGIN},
        {CURLE_TFTP_NOTFOUND, KIND_FOREIGN},
        {CURLE_TFTP_PERM, KIND_FOREIGN},
        {CURLE_REMOTE_DISK_FULL, KIND_NOSPC},
        {CURLE_TFTP_ILLEGAL, KIND_FOREIGN},
        {CURLE_TFTP_UNKNOWNID, KIND_FOREIGN},
        {CURLE_REMOTE_FILE_EXISTS, KIND_EXISTS},
        {CURLE_TFTP_NOSUCHUSER, KIND_FOREIGN},
        {CURLE_SSL_CACERT_BADFILE, KIND_UNTRUSTED},
        {CURLE_REMOTE_FILE_NOT_FOUND, KIND_NOTFOUND},
        {CURLE_SSH, KIND_SSH},
        {CURLE_SSL_SHUTDOWN_FAILED, KIND_NETWORK},
        {CURLE_AGAIN, KIND_NETWORK},
        {CURLE_SSL_CRL_BADFILE, KIND_UNTRUSTED},
        {CURLE_SSL_ISSUER_ERROR, KIND_UNTRUSTED},
        {CURLE_FTP_PRET_FAILED, KIND_REPLY},
        {CURLE_RTSP_CSEQ_ERROR, KIND_FOREIGN},
        {CURLE_RTSP_SESSION_ERROR, KIND_FOREIGN},
        {CURLE_FTP_BAD_FILE_LIST, KIND_DESYNC},
        {CURLE_CHUNK_FAILED, KIND_LOCAL},
        {CURLE_NO_CONNECTION_AVAILABLE, KIND_NETWORK},
        {CURLE_SSL_PINNEDPUBKEYNOTMATCH, KIND_UNTRUSTED},
        {CURLE_SSL_INVALIDCERTSTATUS, KIND_UNTRUSTED},
        {CURLE_HTTP2_STREAM, KIND_FOREIGN},
        {CURLE_RECURSIVE_API_CALL, KIND_LOCAL},
        {CURLE_AUTH_ERROR, KIND_LOGIN},
        {CURLE_HTTP3, KIND_FOREIGN},
        {CURLE_QUIC_CONNECT_ERROR, KIND_FOREIGN},
        {CURLE_PROXY, KIND_NETWORK},
        {CURLE_SSL_CLIENTCERT, KIND_TLS_SETUP},
        {CURLE_UNRECOVERABLE_POLL, KIND_LOCAL},
};

enum curl_kind tier_curl_kind(CURLcode rc)
{
	for (size_t i = 0; i < sizeof(curl_kinds) / sizeof(curl_kinds[0]); i++)
		if (curl_kinds[i].rc == rc)
			return curl_kinds[i].kind;
	/* the obsolete numbers, and any code a newer libcurl adds */
	return KIND_LOCAL;
}

static int contains(const char *hay, const char *needle)
{
	return hay && strstr(hay, needle) != NULL;
}

/*
 * The texts libcurl gives the SFTP status codes (sftp_libssh2_strerror)
 * and what each means.  The server answered: only its "not connected"
 * and "connection lost" are the network's doing.
 */
static const struct {
	const char *text;
	int code;
} sftp_statuses[] = {
        {"No such file", TIER_ENOTFOUND},
        {"not found", TIER_ENOTFOUND},
        {"Permission denied", TIER_EAUTH},
        {"write protected", TIER_EAUTH},
        {"Disk full", TIER_ENOSPC},
        {"quota", TIER_ENOSPC},
        {"No space", TIER_ENOSPC},
        {"already exists", TIER_ECONFLICT},
        {"not empty", TIER_ECONFLICT},
        {"lock conflict", TIER_ECONFLICT},
        {"Not connected to SFTP server", TIER_EOFFLINE},
        {"Connection to SFTP server lost", TIER_EOFFLINE},
        {"Operation failed", TIER_ERROR},
        {"Bad message", TIER_ERROR},
        {"Operation not supported", TIER_ERROR},
        {"Invalid handle", TIER_ERROR},
        {"Not a directory", TIER_ERROR},
        {"Invalid filename", TIER_ERROR},
        {"Link points to itself", TIER_ERROR},
        {"No media", TIER_ERROR},
        {"Unknown principle", TIER_ERROR},
};

int tier_curl_sftp_status(const char *text)
{
	for (size_t i = 0; i < sizeof(sftp_statuses) / sizeof(sftp_statuses[0]);
	     i++)
		if (contains(text, sftp_statuses[i].text))
			return sftp_statuses[i].code;
	return 0;
}

int tier_curl_ftp_reply(CURLcode rc, int r, const char *reply)
{
	if (r == 552 || r == 452)
		return TIER_ENOSPC;
	if (r >= 400 && r < 500)
		return TIER_EOFFLINE; /* "try again later" in FTP terms */
	/* a positive reply where libcurl wanted another: the replies are
	 * out of step with the commands (pyftpdlib after a dropped data
	 * connection); a fresh login is in step again */
	if (r >= 100 && r < 400)
		return TIER_EOFFLINE;
	if (rc == CURLE_FTP_COULDNT_USE_REST || rc == CURLE_RANGE_ERROR)
		/* 500/502/504: the server cannot resume at all */
		return r == 500 || r == 502 || r == 504 ? TIER_EUNSUPPORTED
		                                        : TIER_EOFFLINE;
	if (contains(reply, "ermission") || contains(reply, "denied"))
		return TIER_EAUTH;
	if (rc == CURLE_UPLOAD_FAILED && (r == 553 || r == 550))
		return TIER_EAUTH; /* the directory exists (we are in it): a refusal */
	if (r == 550 || rc == CURLE_REMOTE_ACCESS_DENIED ||
	    rc == CURLE_FTP_COULDNT_RETR_FILE)
		return TIER_ENOTFOUND;
	return TIER_ERROR; /* CURLE_QUOTE_ERROR, CURLE_UPLOAD_FAILED, the rest */
}

static int kind_code(enum curl_kind k)
{
	switch (k) {
	case KIND_LOGIN:
	case KIND_UNTRUSTED:
	case KIND_NO_TLS:
	case KIND_TLS_SETUP:
		return TIER_EAUTH;
	case KIND_NOTFOUND:
		return TIER_ENOTFOUND;
	case KIND_NOSPC:
		return TIER_ENOSPC;
	case KIND_EXISTS:
		return TIER_ECONFLICT;
	case KIND_SHORT:
		return TIER_ECORRUPT;
	case KIND_CANCELLED:
		return TIER_EABORTED;
	case KIND_USAGE:
		return TIER_EUSAGE;
	case KIND_UNSUPPORTED:
		return TIER_EUNSUPPORTED;
	case KIND_NETWORK:
	case KIND_DESYNC:
		return TIER_EOFFLINE;
	case KIND_NOMEM:
	case KIND_LOCAL:
	case KIND_FOREIGN:
	case KIND_REPLY:
	case KIND_REST:
	case KIND_SSH:
		break;
	}
	return TIER_ERROR;
}

int tier_curl_classify(int sftp, CURLcode rc, int reply_code, const char *reply,
                       const char *detail)
{
	enum curl_kind k = tier_curl_kind(rc);
	int code;
	switch (k) {
	case KIND_SSH:
		/* a status the server sent, else libssh2's transport trouble */
		code = tier_curl_sftp_status(detail);
		return code ? code : TIER_EOFFLINE;
	case KIND_REST:
		if (sftp)
			return TIER_EOFFLINE;
		return tier_curl_ftp_reply(rc, reply_code, reply);
	case KIND_REPLY:
		if (sftp) {
			code = tier_curl_sftp_status(detail);
			if (rc == CURLE_REMOTE_ACCESS_DENIED)
				return TIER_EAUTH;
			return code ? code : TIER_ERROR;
		}
		if (reply_code == 530)
			return TIER_EAUTH;
		return tier_curl_ftp_reply(rc, reply_code, reply);
	case KIND_NETWORK:
		/* SFTP: a server answering mid-stream is not the network */
		if (sftp && (code = tier_curl_sftp_status(detail)) != 0)
			return code;
		return TIER_EOFFLINE;
	default:
		return kind_code(k);
	}
}
