/* Tier URL parsing, naming, redaction and copying. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "tier/errors.h"
#include "tier/location.h"

/* Every bad URL in this file carries this password; no message may show it. */
#define SECRET "hunter2"

static char dir[4096];

static void setup(void)
{
	const char *d = tt_tmpdir();
	cr_assert_not_null(d);
	strcpy(dir, d);
	cr_assert_eq(chdir(dir), 0);
}

static void teardown(void)
{
	if (chdir("/") == 0)
		tt_rmrf(dir);
}

TestSuite(url, .init = setup, .fini = teardown);

static tier_url *ok(const char *spec)
{
	tier_url *u = (tier_url *)1;
	int rc = tier_url_parse(&u, spec);
	cr_assert_eq(rc, 0, "parse '%s' failed: %s", spec, tier_error_last());
	cr_assert_not_null(u);
	return u;
}

/* A bad URL: TIER_EUSAGE, nothing returned, a message naming it, no password. */
static void bad(const char *spec, const char *expect)
{
	tier_url *u = (tier_url *)1;
	int rc = tier_url_parse(&u, spec);
	const char *msg = tier_error_last();

	cr_assert_eq(rc, TIER_EUSAGE, "'%s' gave %d (%s)",
	             spec ? spec : "(null)", rc, msg);
	cr_assert_null(u, "'%s' returned a url", spec);
	cr_assert_eq(tier_error_last_code(), TIER_EUSAGE);
	cr_assert(strstr(msg, expect), "message for '%s' lacks '%s': %s", spec,
	          expect, msg);
	cr_assert_null(strstr(msg, SECRET), "message shows the password: %s",
	               msg);
	cr_assert_null(strchr(msg, '\n'), "message is not one line: %s", msg);
}

static void redacted_is(const tier_url *u, const char *want)
{
	char *s = tier_url_redacted(u);
	cr_assert_not_null(s);
	cr_assert_str_eq(s, want);
	free(s);
}

Test(url, file_good)
{
	tier_url *u = ok("file:///srv/backup");
	cr_assert_str_eq(u->scheme, "file");
	cr_assert_null(u->host);
	cr_assert_null(u->user);
	cr_assert_null(u->password);
	cr_assert_eq(u->port, 0);
	cr_assert_str_eq(u->path, "/srv/backup");
	cr_assert_null(u->query);
	cr_assert_null(u->inner);
	cr_assert_str_eq(u->name, "backup");
	redacted_is(u, "file:///srv/backup");
	tier_url_free(u);

	/* localhost is the same as no host; a trailing slash goes */
	u = ok("file://localhost/srv/backup/");
	cr_assert_null(u->host);
	cr_assert_str_eq(u->path, "/srv/backup");
	redacted_is(u, "file:///srv/backup");
	tier_url_free(u);

	u = ok("file:///");
	cr_assert_str_eq(u->path, "/");
	cr_assert_str_eq(u->name, "file");
	redacted_is(u, "file:///");
	tier_url_free(u);
}

Test(url, ftp_good)
{
	tier_url *u = ok("ftp://alice:s3cret@nas.example.com:2121/backups/pc");
	cr_assert_str_eq(u->scheme, "ftp");
	cr_assert_str_eq(u->user, "alice");
	cr_assert_str_eq(u->password, "s3cret");
	cr_assert_str_eq(u->host, "nas.example.com");
	cr_assert_eq(u->port, 2121);
	cr_assert_str_eq(u->path, "/backups/pc");
	cr_assert_str_eq(u->name, "nas.example.com");
	tier_url_free(u);

	u = ok("ftp://nas");
	cr_assert_str_eq(u->path, "/");
	cr_assert_eq(u->port, 0);
	cr_assert_null(u->user);
	tier_url_free(u);
}

Test(url, ftps_and_sftp_good)
{
	tier_url *u = ok("ftps://backup.example.org/vault");
	cr_assert_str_eq(u->scheme, "ftps");
	cr_assert_str_eq(u->host, "backup.example.org");
	cr_assert_str_eq(u->path, "/vault");
	tier_url_free(u);

	u = ok("SFTP://bob@[::1]:22/home/bob/vault/");
	cr_assert_str_eq(u->scheme, "sftp");
	cr_assert_str_eq(u->user, "bob");
	cr_assert_null(u->password);
	cr_assert_str_eq(u->host, "[::1]");
	cr_assert_eq(u->port, 22);
	cr_assert_str_eq(u->path, "/home/bob/vault");
	redacted_is(u, "sftp://bob@[::1]:22/home/bob/vault");
	tier_url_free(u);
}

Test(url, s3_good)
{
	tier_url *u = ok(
	        "s3://my-bucket/hosts/pc1?endpoint=http://127.0.0.1:9000&region=us-east-1&style=path");
	cr_assert_str_eq(u->scheme, "s3");
	cr_assert_str_eq(u->host, "my-bucket");
	cr_assert_str_eq(u->path, "/hosts/pc1");
	cr_assert_str_eq(
	        u->query,
	        "endpoint=http://127.0.0.1:9000&region=us-east-1&style=path");
	cr_assert_str_eq(u->name, "my-bucket");
	redacted_is(
	        u,
	        "s3://my-bucket/hosts/pc1?endpoint=http://127.0.0.1:9000&region=us-east-1&style=path");
	tier_url_free(u);

	u = ok("s3://AKIAEXAMPLE:wJalr%2FXUtn@bucket");
	cr_assert_str_eq(u->user, "AKIAEXAMPLE");
	cr_assert_str_eq(u->password, "wJalr/XUtn");
	cr_assert_str_eq(u->path, "/");
	cr_assert_null(u->query);
	redacted_is(u, "s3://AKIAEXAMPLE:***@bucket/");
	tier_url_free(u);

	bad("s3:///prefix", "missing bucket");
	bad("s3://bucket:9000/x", "endpoint=");
	bad("s3://bucket/x?style=sideways", "style");
}

Test(url, given_name)
{
	tier_url *u = ok("offsite=sftp://h.example/x");
	cr_assert_str_eq(u->name, "offsite");
	cr_assert_str_eq(u->scheme, "sftp");
	redacted_is(u, "sftp://h.example/x"); /* no NAME= in the URL text */
	tier_url_free(u);

	u = ok("usb.disk_2-a=file:///media/usb");
	cr_assert_str_eq(u->name, "usb.disk_2-a");
	tier_url_free(u);

	/* a '=' after a ':' or '/' belongs to the URL, not to a name */
	u = ok("s3://b/p?region=eu");
	cr_assert_str_eq(u->name, "b");
	cr_assert_str_eq(u->query, "region=eu");
	tier_url_free(u);

	char name[80];
	memset(name, 'n', 64);
	strcpy(name + 64, "=file:///x");
	u = ok(name);
	cr_assert_eq(strlen(u->name), 64);
	tier_url_free(u);
}

Test(url, derived_name)
{
	struct {
		const char *spec, *name;
	} cases[] = {
	        {"file:///mnt/My%20Disk", "My_Disk"},
	        {"file:///mnt/b%C3%A4ckup", "b_ckup"},
	        {"ftp://ftp.example.com/x", "ftp.example.com"},
	        {"sftp://[::1]/x", "1"},
	        {"s3://photos/2024", "photos"},
	        {"fault+file:///srv/vault?fault=/tmp/c", "vault"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		tier_url *u = ok(cases[i].spec);
		cr_assert_str_eq(u->name, cases[i].name, "%s", cases[i].spec);
		tier_url_free(u);
	}
}

Test(url, unknown_scheme_suggests)
{
	bad("ftpp://u:" SECRET "@h/x", "did you mean 'ftp'?");
	bad("sfpt://h/x", "did you mean 'sftp'?");
	bad("S4://bucket", "did you mean 's3'?");
	bad("fiel:///x", "did you mean 'file'?");
	bad("fault+ftpp://h/x?fault=/c", "did you mean 'fault+ftp'?");
	bad("fualt+file:///x?fault=/c", "did you mean 'fault+file'?");
	bad("gopher://h/x", "unknown tier scheme 'gopher'");
	bad("https://minio:9000/b", "s3://bucket/prefix?endpoint=");
	bad("ftp://u:p@" SECRET "@h/x", "%40");
}

Test(url, relative_file_path)
{
	bad("file:backup", "relative file path");
	bad("file:./backup", "relative file path");
	bad("file://./backup", "relative file path");
	bad("file://~/backup", "relative file path");
}

Test(url, file_remote_host)
{
	bad("file://nas/share", "remote host 'nas'");
	bad("file://u:" SECRET "@nas/share", "remote host");
	bad("file://127.0.0.1/x", "remote host");
}

Test(url, missing_host)
{
	bad("ftp:///x", "missing host");
	bad("ftps://", "missing host");
	bad("sftp://u:" SECRET "@/x", "tier url 'sftp://u:***@/x'");
}

Test(url, bad_port)
{
	bad("ftp://u:" SECRET "@h:0/x", "bad port '0'");
	bad("ftp://u:" SECRET "@h:65536/x", "port");
	bad("ftp://h:abc/x", "port");
	bad("sftp://h:-22/x", "port");
	/* an unencoded '/' in a password makes curl see a port: still hidden */
	bad("ftp://u:hun/" SECRET "@h/x", "port");
	/* an empty password is hidden too (this once looped for ever) */
	bad("ftp://u:@h:0/x", "tier url 'ftp://u:***@h:0/x'");

	tier_url *u = ok("ftp://h:65535/x");
	cr_assert_eq(u->port, 65535);
	tier_url_free(u);
	u = ok("ftp://h:1/x");
	cr_assert_eq(u->port, 1);
	tier_url_free(u);
}

Test(url, empty)
{
	bad("", "empty tier url");
	bad(NULL, "empty tier url");
	bad("local=", "empty tier url for tier 'local'");
}

Test(url, bad_name)
{
	bad("my tier=file:///x", "bad tier name 'my tier'");
	bad("=file:///x", "bad tier name");
	bad("caf\xc3\xa9=ftp://u:" SECRET "@h/", "bad tier name");

	char name[80];
	memset(name, 'n', 65);
	strcpy(name + 65, "=file:///x");
	bad(name, "bad tier name");
}

Test(url, spaces_and_control_characters)
{
	bad("ftp://u:" SECRET "@h/my backup", "contains a space");
	bad(" file:///x", "contains a space");
	bad("ftp://u:" SECRET "@h/a\tb", "control character");
	bad("file:///x\n", "control character");
	/* the message escapes the character instead of breaking the line */
	bad("file:///x\n", "file:///x\\x0a");
}

Test(url, missing_scheme_separator)
{
	bad("/mnt/backup", "write file:///mnt/backup");
	bad("backup", "has no scheme");
	bad("ftp:h/x", "missing '://'");
	bad("file:/mnt/x", "missing '://'");
	bad("localhost:/srv/x", "missing '://'");
}

Test(url, dot_segments_nul_and_fragment)
{
	bad("file:///srv/../etc", "'.' or '..'");
	bad("file:///srv/./x", "'.' or '..'");
	bad("file:///srv/%2e%2E/etc", "'.' or '..'");
	bad("ftp://h/a%2F..%2Fb", "'.' or '..'");
	bad("file:///srv/..", "'.' or '..'");
	bad("ftp://u:" SECRET "@h/a%00b", "NUL byte");
	bad("ftp://h/x#frag", "'#'");

	/* dots inside a name are fine */
	tier_url *u = ok("file:///srv/a..b/.hidden/c.");
	cr_assert_str_eq(u->path, "/srv/a..b/.hidden/c.");
	tier_url_free(u);
}

Test(url, percent_decoding)
{
	tier_url *u = ok(
	        "ftp://al%40ice:p%3Ass%2Fw%40rd@h/my%20dir/%C3%A9t%C3%A9%3F/");
	cr_assert_str_eq(u->user, "al@ice");
	cr_assert_str_eq(u->password, "p:ss/w@rd");
	cr_assert_str_eq(u->path, "/my dir/\xc3\xa9t\xc3\xa9?");

	/* the canonical text encodes again and parses back to the same thing */
	char *s = tier_url_redacted(u);
	cr_assert_not_null(s);
	cr_assert_null(strstr(s, "p:ss"));
	tier_url *v = ok(s);
	cr_assert_str_eq(v->user, "al@ice");
	cr_assert_str_eq(v->password, "***");
	cr_assert_str_eq(v->path, u->path);
	cr_assert_str_eq(v->host, "h");
	tier_url_free(v);
	free(s);
	tier_url_free(u);
}

Test(url, redaction)
{
	tier_url *u = ok("backup=ftp://alice:" SECRET "@h:21/x");
	cr_assert_str_eq(u->password, SECRET); /* kept for the driver */
	redacted_is(u, "ftp://alice:***@h:21/x");
	tier_url_free(u);

	u = ok("ftps://alice@h/x");
	redacted_is(u, "ftps://alice@h/x");
	tier_url_free(u);

	/* an empty password is still a password: hide that there is one */
	u = ok("ftp://alice:@h/x");
	redacted_is(u, "ftp://alice:***@h/x");
	tier_url_free(u);

	cr_assert_null(tier_url_redacted(NULL));
}

Test(url, fault_wrapper)
{
	tier_url *u = ok("fault+s3://k:" SECRET
	                 "@b/p?region=r&fault=%2Ftmp%2Fctl%20x&style=path");
	cr_assert_str_eq(u->scheme, "fault");
	cr_assert_str_eq(u->fault_control, "/tmp/ctl x");
	cr_assert_str_eq(u->name, "b");
	cr_assert_not_null(u->inner);
	cr_assert_str_eq(u->inner->scheme, "s3");
	cr_assert_str_eq(u->inner->host, "b");
	cr_assert_str_eq(u->inner->password, SECRET);
	cr_assert_str_eq(u->inner->query, "region=r&style=path");
	cr_assert_null(u->inner->inner);
	redacted_is(
	        u,
	        "fault+s3://k:***@b/p?region=r&style=path&fault=/tmp/ctl%20x");
	tier_url_free(u);

	/* the only query parameter was the control: the inner has none */
	u = ok("flaky=fault+file:///srv/v?fault=/tmp/c");
	cr_assert_str_eq(u->name, "flaky");
	cr_assert_null(u->inner->query);
	cr_assert_str_eq(u->inner->path, "/srv/v");
	cr_assert_null(u->query);
	redacted_is(u, "fault+file:///srv/v?fault=/tmp/c");
	tier_url_free(u);

	bad("fault+file:///srv/v", "needs a control file");
	bad("fault+file:///srv/v?fault=", "needs a control file");
	bad("fault+ftp://u:" SECRET "@h/x?fault=/a&fault=/b",
	    "more than one 'fault'");
	bad("fault+fault+file:///x?fault=/c", "fault+ in fault+");
	bad("fault+ftp://u:" SECRET "@h:0/x?fault=/c",
	    "tier url 'fault+ftp://u:***@h:0/x?fault=/c'");
	bad("fault+file:///x?fault=/c%00d", "NUL byte");
}

Test(url, dup_and_free)
{
	tier_url *u = ok("t=fault+sftp://bob:pw@h:2222/x?o=1&fault=/c");
	tier_url *d = (tier_url *)1;

	cr_assert_eq(tier_url_dup(&d, u), 0);
	cr_assert_not_null(d);
	cr_assert_neq(d->inner, u->inner);
	cr_assert_neq(d->name, u->name);
	cr_assert_str_eq(d->name, "t");
	cr_assert_str_eq(d->fault_control, "/c");
	cr_assert_str_eq(d->inner->password, "pw");
	cr_assert_str_eq(d->inner->query, "o=1");
	cr_assert_eq(d->inner->port, 2222);
	tier_url_free(u);
	/* the copy outlives the original */
	redacted_is(d, "fault+sftp://bob:***@h:2222/x?o=1&fault=/c");
	tier_url_free(d);

	d = (tier_url *)1;
	cr_assert_eq(tier_url_dup(&d, NULL), 0);
	cr_assert_null(d);
	tier_url_free(NULL);
}
