#!/usr/bin/env bash
# The systemd units (issue 18, SPEC section 9): `cmake --install` puts
# tier-push@.service, tier-push@.timer (daily, Persistent, randomised),
# tier-sync@.service (tier-sync --watch), tier-status@.service and .timer
# into <prefix>/lib/systemd/system, ExecStart naming the tools of that
# prefix; the command line of each unit runs as written against a real
# installation; `systemd-analyze verify` accepts them where it works here
# (in a container it may not: that part is skipped, saying so).
. "$(dirname "$0")/../lib.sh"

build=$(cd "$TIER_TOOLS_DIR/.." && pwd)
[ -f "$build/cmake_install.cmake" ] || fail "no cmake_install.cmake in $build"
units="tier-push@.service tier-push@.timer tier-sync@.service tier-status@.service tier-status@.timer"

step "cmake --install into a DESTDIR, prefix /usr"
if DESTDIR=$TT_TMP/dest cmake --install "$build" --prefix /usr >install.log 2>&1; then
	pass "cmake --install"
else
	fail "cmake --install failed: $(tail -n 3 install.log)"
fi
dir=$TT_TMP/dest/usr/lib/systemd/system
for u in $units; do
	if [ -f "$dir/$u" ] && [ "$(stat -c %a "$dir/$u")" = 644 ]; then
		pass "$u installed in /usr/lib/systemd/system, mode 0644"
	else
		fail "$u not installed: $(ls -l "$dir" 2>&1 | head -6)"
	fi
done
grep -q '@[A-Z_]*@' "$dir"/* && fail "a placeholder left: $(grep -h '@[A-Z_]*@' "$dir"/*)" ||
	pass "no placeholder left"
have() { # FILE LINE-REGEX
	if grep -Eq "$2" "$1"; then pass "$(basename "$1"): $2"; else fail "$(basename "$1") lacks /$2/"; fi
}
have "$dir/tier-push@.service" '^ExecStart=/usr/bin/tier-push -q \$TIER_PUSH_PATHS$'
have "$dir/tier-push@.service" '^EnvironmentFile=-/etc/tier/%i.env$'
have "$dir/tier-push@.service" '^Environment=TIER_STATE_DIR=/var/lib/tier/%i$'
have "$dir/tier-push@.service" '^Type=oneshot$'
have "$dir/tier-push@.timer" '^OnCalendar=daily$'
have "$dir/tier-push@.timer" '^Persistent=true$'
have "$dir/tier-push@.timer" '^RandomizedDelaySec=[0-9]+[a-z]*$'
have "$dir/tier-push@.timer" '^WantedBy=timers.target$'
have "$dir/tier-sync@.service" '^ExecStart=/usr/bin/tier-sync -q --watch'
have "$dir/tier-sync@.service" '^Restart=on-failure$'
have "$dir/tier-status@.service" '^ExecStart=/usr/bin/tier-status -q --prometheus '
have "$dir/tier-status@.service" '^SuccessExitStatus=7$'

step "installed into a prefix: ExecStart names the installed tools"
prefix=$TT_TMP/prefix
if cmake --install "$build" --prefix "$prefix" >install2.log 2>&1; then
	pass "cmake --install --prefix $prefix"
else
	fail "cmake --install failed: $(tail -n 3 install2.log)"
fi
pdir=$prefix/lib/systemd/system
for u in tier-push@.service tier-sync@.service tier-status@.service; do
	exe=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$pdir/$u")
	if [ "$exe" = "$prefix/bin/${u%%@*}" ] && [ -x "$exe" ]; then
		pass "$u runs $exe"
	else
		fail "$u: ExecStart '$exe' is not $prefix/bin/${u%%@*}"
	fi
done

# cmdline UNIT INSTANCE: its ExecStart line with %i, and ${VAR} or $VAR
# from its Environment= lines or else (an EnvironmentFile) from ours,
# expanded as systemd would (quoting aside)
cmdline() {
	local u=$1 i=$2 line k v
	local -A env=()
	line=$(sed -n 's/^ExecStart=//p' "$pdir/$u")
	line=${line//%i/$i}
	while IFS='=' read -r k v; do env[$k]=$v; done < <(sed -n 's/^Environment=//p' "$pdir/$u")
	while [[ $line =~ \$\{?([A-Z_][A-Z0-9_]*)\}? ]]; do
		k=${BASH_REMATCH[1]}
		v=${env[$k]-${!k-}}
		line=${line/"${BASH_REMATCH[0]}"/$v}
	done
	echo "$line"
}

step "each unit's command line works on an installation"
mkdir -p src textfile
echo data >src/a
run_tool tier-init -s state -t "local=$(file_tier local)"
expect_exit 0
export TIER_STATE_DIR=$TT_TMP/state TIER_PUSH_PATHS="$TT_TMP/src $TT_TMP/src/a"
read -ra cmd <<<"$(cmdline tier-push@.service home)"
out=$("${cmd[@]}" 2>&1)
rc=$?
[ "$rc" = 0 ] && pass "tier-push@home: '${cmd[*]}' exit 0" || fail "tier-push@home: exit $rc: $out"
read -ra cmd <<<"$(cmdline tier-status@.service home | sed "s|/var/lib/prometheus/node-exporter|$TT_TMP/textfile|")"
out=$("${cmd[@]}" 2>&1)
rc=$?
[ "$rc" = 0 ] && [ -s textfile/tier-home.prom ] && grep -q '^tier_revision{.*tier="local"} 2$' textfile/tier-home.prom &&
	pass "tier-status@home wrote textfile/tier-home.prom" || fail "tier-status@home: exit $rc: $out"
read -ra cmd <<<"$(cmdline tier-sync@.service home)"
"${cmd[@]}" >sync.log 2>&1 &
pid=$!
sleep 2
kill -TERM $pid
rc=0
wait $pid || rc=$?
ok=$(sed -n 's/^SuccessExitStatus=//p' "$pdir/tier-sync@.service")
if [ "$rc" = 0 ] || [[ " $ok " == *" $rc "* ]]; then
	pass "tier-sync@home ran until SIGTERM, exit $rc (a success for the unit)"
else
	fail "tier-sync@home: exit $rc: $(cat sync.log)"
fi
unset TIER_STATE_DIR TIER_PUSH_PATHS

step "systemd-analyze verify"
if ! command -v systemd-analyze >/dev/null; then
	echo "SKIP  systemd-analyze verify: systemd-analyze is not installed here" >&3
else
	# a unit that must pass tells whether verify works here at all
	mkdir -p probe
	printf '[Unit]\nDescription=probe\n[Service]\nType=oneshot\nExecStart=/bin/true\n' >probe/probe@.service
	if ! systemd-analyze verify --man=no "$TT_TMP/probe/probe@x.service" >probe.log 2>&1 || [ -s probe.log ]; then
		echo "SKIP  systemd-analyze verify does not work here (a trivial unit fails: $(head -n 1 probe.log))" >&3
	else
		paths=()
		for u in $units; do paths+=("$pdir/${u/@./@home.}"); done
		if systemd-analyze verify --man=no "${paths[@]}" >verify.log 2>&1 && [ ! -s verify.log ]; then
			pass "systemd-analyze verify: no complaint about the units (instance home)"
		else
			fail "systemd-analyze verify: $(head -n 5 verify.log)"
		fi
		# an unknown key is only a warning: the check above fails on any output
		if systemd-analyze calendar daily >/dev/null 2>&1; then
			pass "OnCalendar=daily parses"
		else
			fail "systemd-analyze calendar daily"
		fi
	fi
fi
