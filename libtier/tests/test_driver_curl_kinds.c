/*
 * What a libcurl error means: every row of the tables in
 * docs/remote-tiers.md ("What a libcurl error means") against the
 * driver's classifier, so that the page and the code cannot disagree;
 * and the connection a message names.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver/curl_impl.h"
#include "driver/curl_kinds.h"
#include "tier/errors.h"
#include "util/error.h"

static const struct {
	const char *name;
	int code;
} names[] = {
        {"TIER_ERROR", TIER_ERROR},
        {"TIER_EOFFLINE", TIER_EOFFLINE},
        {"TIER_ENOTFOUND", TIER_ENOTFOUND},
        {"TIER_EAUTH", TIER_EAUTH},
        {"TIER_ENOSPC", TIER_ENOSPC},
        {"TIER_ECORRUPT", TIER_ECORRUPT},
        {"TIER_ECONFLICT", TIER_ECONFLICT},
        {"TIER_EABORTED", TIER_EABORTED},
        {"TIER_EUSAGE", TIER_EUSAGE},
        {"TIER_EUNSUPPORTED", TIER_EUNSUPPORTED},
};

static int code_of(const char *cell)
{
	char name[64];
	if (sscanf(cell, " `%63[A-Z_]`", name) != 1)
		return 1;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(names[i].name, name))
			return names[i].code;
	return 1;
}

/* The table rows of the section, split into cells (caller frees). */
static char **section_rows(size_t *n)
{
	char path[4096], line[2048];
	const char *src = getenv("TIER_SOURCE_DIR");
	cr_assert_not_null(src, "TIER_SOURCE_DIR not set");
	snprintf(path, sizeof(path), "%s/docs/remote-tiers.md", src);
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "cannot open %s", path);
	char **rows = NULL;
	int in = 0;
	*n = 0;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "## ", 3))
			in = !strncmp(line, "## What a libcurl error means",
			              29);
		if (!in || line[0] != '|' || !strncmp(line, "|---", 4))
			continue;
		rows = realloc(rows, (*n + 1) * sizeof(*rows));
		rows[(*n)++] = strdup(line);
	}
	fclose(f);
	return rows;
}

/* cell i (0-based) of a row, trimmed, into out */
static void cell(const char *row, int i, char *out, size_t outsz)
{
	const char *p = row + 1, *e;
	while (i-- > 0 && (p = strchr(p, '|')))
		p++;
	cr_assert_not_null(p, "row %s has too few cells", row);
	e = strchr(p, '|');
	while (*p == ' ')
		p++;
	size_t len = e ? (size_t)(e - p) : strlen(p);
	while (len && p[len - 1] == ' ')
		len--;
	snprintf(out, outsz, "%.*s", (int)len, p);
}

Test(curl_kinds, every_libcurl_code_as_the_page_says)
{
	size_t n, checked = 0;
	char **rows = section_rows(&n);
	char num[16], ftp[64], sftp[64];
	for (size_t i = 0; i < n; i++) {
		cell(rows[i], 0, num, sizeof(num));
		if (!num[0] || strspn(num, "0123456789") != strlen(num))
			continue; /* the header, or a row of the reply table */
		if (atoi(num) >= 100)
			continue; /* an FTP reply code of the next table */
		CURLcode rc = (CURLcode)atoi(num);
		cell(rows[i], 2, ftp, sizeof(ftp));
		cell(rows[i], 3, sftp, sizeof(sftp));
		cr_expect_eq(tier_curl_classify(0, rc, 0, NULL, ""),
		             code_of(ftp), "code %d on FTP: the page says %s",
		             rc, ftp);
		cr_expect_eq(tier_curl_classify(1, rc, 0, NULL, ""),
		             code_of(sftp), "code %d on SFTP: the page says %s",
		             rc, sftp);
		checked++;
	}
	/* every code libcurl 7.88 has, 1 to 99 */
	cr_assert_eq(checked, 99, "%zu rows", checked);
	for (size_t i = 0; i < n; i++)
		free(rows[i]);
	free(rows);
}

/* The FTP reply rows: one concrete failure per row. */
static const struct {
	const char *row; /* the first cell */
	CURLcode rc;
	int reply;
	const char *text;
} reply_cases[] = {
        {"530", CURLE_QUOTE_ERROR, 530, "530 Login incorrect."},
        {"552, 452", CURLE_UPLOAD_FAILED, 452, "452 No space"},
        {"421, 425, 426, 450, 451 (any 4xx)", CURLE_FTP_COULDNT_RETR_FILE, 450,
         "450 Busy"},
        {"150, 226, 250, 350 (any 1xx-3xx)", CURLE_FTP_COULDNT_USE_REST, 226,
         "226 Transfer complete."},
        {"500, 502, 504 to REST", CURLE_FTP_COULDNT_USE_REST, 502,
         "502 Command not implemented."},
        {"550 to RETR, SIZE, CWD", CURLE_FTP_COULDNT_RETR_FILE, 550,
         "550 No such file."},
        {"550, 553 to STOR", CURLE_UPLOAD_FAILED, 553,
         "553 Could not create file."},
        {"5xx saying \"permission\" or \"denied\"", CURLE_QUOTE_ERROR, 550,
         "550 Permission denied."},
};

Test(curl_kinds, every_ftp_reply_as_the_page_says)
{
	size_t n, checked = 0;
	char **rows = section_rows(&n);
	char first[128], code[64];
	for (size_t i = 0; i < n; i++) {
		cell(rows[i], 0, first, sizeof(first));
		for (size_t k = 0;
		     k < sizeof(reply_cases) / sizeof(reply_cases[0]); k++) {
			if (strcmp(first, reply_cases[k].row))
				continue;
			cell(rows[i], 1, code, sizeof(code));
			cr_expect_eq(tier_curl_classify(0, reply_cases[k].rc,
			                                reply_cases[k].reply,
			                                reply_cases[k].text,
			                                ""),
			             code_of(code), "reply row '%s'", first);
			checked++;
		}
	}
	cr_assert_eq(checked, sizeof(reply_cases) / sizeof(reply_cases[0]),
	             "%zu of the reply rows found", checked);
	for (size_t i = 0; i < n; i++)
		free(rows[i]);
	free(rows);
}

Test(curl_kinds, every_sftp_status_as_the_page_says)
{
	size_t n, checked = 0;
	char **rows = section_rows(&n);
	char first[128], code[64], msg[256];
	int in = 0;
	for (size_t i = 0; i < n; i++) {
		cell(rows[i], 0, first, sizeof(first));
		if (!strcmp(first, "SFTP status text")) {
			in = 1;
			continue;
		}
		if (!in)
			continue;
		cell(rows[i], 1, code, sizeof(code));
		snprintf(msg, sizeof(msg),
		         "Could not open directory for reading: %s", first);
		cr_expect_eq(tier_curl_classify(1, CURLE_SSH, 0, NULL, msg),
		             code_of(code), "status '%s'", first);
		checked++;
	}
	cr_assert_geq(checked, 16, "%zu status rows", checked);
	for (size_t i = 0; i < n; i++)
		free(rows[i]);
	free(rows);
}

/* pyftpdlib's desync: transient, and the next transfer logs in afresh. */
Test(curl_kinds, a_reply_out_of_step_drops_the_login)
{
	curl_driver d;
	memset(&d, 0, sizeof(d));
	d.proto = PROTO_FTP;
	d.where = "ftp://u@127.0.0.1:2131/t";
	d.base_url = "ftp://127.0.0.1:2131";
	d.reply_code = 226;
	tier_buf_sets(&d.reply, "226 Transfer complete.");
	snprintf(d.errbuf, sizeof(d.errbuf), "REST failed");
	cr_assert_eq(tier_curl_fail(&d, CURLE_FTP_COULDNT_USE_REST, "get",
	                            "data/ab/x.pack"),
	             TIER_EOFFLINE);
	cr_assert(d.drop_connection);
	tier_buf_dispose(&d.reply);
}

/* A TLS failure on the data connection names that connection's port. */
Test(curl_kinds, a_data_connection_failure_names_its_port)
{
	curl_driver d;
	memset(&d, 0, sizeof(d));
	d.proto = PROTO_FTPS;
	d.where = "ftps://u@127.0.0.1:2135/t";
	d.base_url = "ftps://127.0.0.1:2135";
	d.data_port = 31005;
	snprintf(d.errbuf, sizeof(d.errbuf),
	         "OpenSSL SSL_connect: Connection reset by peer in connection "
	         "to 127.0.0.1:2135 ");
	cr_assert_eq(tier_curl_fail(&d, CURLE_SSL_CONNECT_ERROR, "get", "x"),
	             TIER_EOFFLINE);
	const char *m = tier_error_last();
	cr_assert(strstr(m,
	                 "data connection (port 31005): OpenSSL SSL_connect: "
	                 "Connection reset by peer in connection to "
	                 "127.0.0.1:31005"),
	          "%s", m);
	/* before any passive reply, the control connection is the one */
	d.data_port = 0;
	snprintf(
	        d.errbuf, sizeof(d.errbuf),
	        "Failed to connect to 127.0.0.1 port 2135: Connection refused");
	cr_assert_eq(tier_curl_fail(&d, CURLE_COULDNT_CONNECT, "get", "x"),
	             TIER_EOFFLINE);
	cr_assert(strstr(tier_error_last(), "port 2135: Connection refused"),
	          "%s", tier_error_last());
	cr_assert_null(strstr(tier_error_last(), "data connection"));
}

Test(curl_kinds, passive_replies_give_the_data_port)
{
	const char *epsv = "229 Entering Extended Passive Mode (|||31005|)";
	const char *pasv = "227 Entering Passive Mode (127,0,0,1,121,45).";
	cr_assert_eq(tier_curl_pasv_port(epsv, strlen(epsv)), 31005);
	cr_assert_eq(tier_curl_pasv_port(pasv, strlen(pasv)), 121 * 256 + 45);
	cr_assert_eq(tier_curl_pasv_port("227 nothing", 11), 0);
}
