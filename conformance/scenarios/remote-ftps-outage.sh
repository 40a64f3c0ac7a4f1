#!/usr/bin/env bash
# Real ftps outages: server killed mid-push and mid-sync, a wrong login, a
# silent server.  The steps are in remote-outage.bash.
. "$(dirname "$0")/remote-outage.bash"
