#!/usr/bin/env bash
# Issue 20: errors name the connection that failed.  An FTPS server whose
# control connection is sound and whose data connections close before
# their TLS handshake (fixtures/servers/ftps-baddata.py, pyftpdlib): libcurl
# says "SSL_connect ... in connection to 127.0.0.1:<control port>", the
# port that was up.  The tools must say "data connection (port N)", N the
# passive port the server gave, in one line, without the password.
. "$(dirname "$0")/../lib.sh"

/usr/bin/python3 -c 'import OpenSSL' 2>/dev/null || skip "no python3-openssl"
root=$TT_TMP/ftproot
mkdir -p "$root/t"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
	-addext "subjectAltName=IP:127.0.0.1" \
	-keyout "$TT_TMP/key.pem" -out "$TT_TMP/cert.pem" 2>/dev/null
# passive ports of its own (ci/servers*.sh use 30000-31499)
fixture_server ftps-baddata.py "$root" tierx tierxsecret "$TT_TMP/cert.pem" \
	"$TT_TMP/key.pem" 31700 31709
ctl=$FIXTURE_PORT
url="srv=ftps://tierx:tierxsecret@127.0.0.1:$ctl/t"
RETRY=(--cacert "$TT_TMP/cert.pem" --retries 2 --retry-delay 5ms)

# $1: what the last stderr says after "data connection (port N): "
data_failure_named() {
	local port
	port=$(grep -o 'data connection (port [0-9]*)' "$TT_STDERR" | head -n 1 | grep -o '[0-9]*')
	if [ -n "$port" ] && [ "$port" -ge 31700 ] && [ "$port" -le 31709 ]; then
		pass "$1: the data connection is named with its port ($port)"
	else
		fail "$1: no data connection with a passive port named: $(head -c 300 "$TT_STDERR")"
	fi
	if sed 's/.*data connection (port [0-9]*)//' "$TT_STDERR" | grep -q "[: ]$ctl\b"; then
		fail "$1: the control port $ctl is named as the one that failed"
	else
		pass "$1: the control port is not named as the one that failed"
	fi
	expect_stderr_no_match "tierxsecret"
	expect_stderr_match "SSL_connect|Recv failure|reset"
}

step "tier-init onto the server: the listing's data connection fails"
run_tool tier-init -s state "${RETRY[@]}" -t "local=$(file_tier local)" -t "$url"
expect_exit 1
expect_stderr_one_line
data_failure_named "tier-init"

step "tier-restore from it alone: the same failure, named the same"
# a vault in the directory the server serves, written as a file:// tier
mkdir -p src
echo "some bytes" >src/a.txt
run_tool tier-init -s state2 -t "disk=file://$root/t"
expect_exit 0
run_tool tier-push -s state2 src
expect_exit 0
run_tool tier-restore "${RETRY[@]}" -t "$url" out
expect_exit 1
# the tier's warning, then the error
expect_stderr_match "^tier-restore: no tier of the vault is readable: .*data connection \(port"
data_failure_named "tier-restore"
if [ -e out ] && [ -n "$(ls -A out)" ]; then fail "restore wrote files"; else pass "nothing restored"; fi
