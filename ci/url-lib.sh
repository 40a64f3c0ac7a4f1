# shellcheck shell=bash
# Shell helpers for tier URLs, shared by ci/remote-restore.sh and
# bench/remote.sh (sourced; defines functions only).

# redact TEXT: TEXT with the password of every URL's user info as ***.
redact() { sed -E 's#(://[^/:@?]*):[^@/?]*@#\1:***@#g' <<<"$1"; }

# q_opt QUERY NAME: an sftp URL's query option, percent-decoded like the tools do.
q_opt() {
	local p v parts=()
	IFS='&' read -ra parts <<<"$1"
	for p in "${parts[@]}"; do
		if [ "${p%%=*}" = "$2" ]; then
			v=${p#*=}
			printf '%b\n' "${v//%/\\x}"
		fi
	done
}
