#!/bin/sh
# kpoll guest agent: the guest side of the host<->guest control channel (a serial port).
#
# Usage: agent.sh [TTY] [READY_FILE]     (defaults: /dev/ttyS1, /run/kpoll-agent/ready)
#
# Protocol (one request per line, "\n"-terminated, the tty is in raw mode):
#   host -> guest   RUN <id> <base64 of a shell script>
#   guest -> host   BEGIN <id>
#                   <combined stdout+stderr of the script, base64, 76-char lines>
#                   END <id> <exit status>
#   host -> guest   RUNL <id> <n>\n<n bytes: base64 of a shell script>\n
#                   same as RUN, for big scripts (the host uses it above 1 KiB)
#   host -> guest   PING <id>        guest -> host   PONG <id>
#   host -> guest   KILL <id>        SIGKILLs the process group of the running script <id>
#                                    (the host uses it when its own timeout expires); the
#                                    script's END then reports status 137.
# The script runs under `sh` with stdin from /dev/null, in its own session and with cwd /.
# Commands run one at a time: a RUN that arrives while an earlier script is still running
# kills the earlier one first (the host only does that after giving up on it).
# Lines that are not requests (noise, partial lines) are ignored.

TTY=${1:-/dev/ttyS1}
READY=${2:-/run/kpoll-agent/ready}
D=/run/kpoll-agent
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root

mkdir -p "$D"
exec 0<>"$TTY" 1>&0 2>>"$D/agent.log"
stty raw -echo -ixon -ixoff -crtscts clocal || exit 1
set -f
cd / || exit 1
cr=$(printf '\r')

# The script runs in a grandchild of this loop (double fork), so no child of the loop ever exits
# while it sits in `read`: busybox ash's read builtin drops the part of a line it had already
# read when a SIGCHLD interrupts it. $D/busy holds the running script's id until its reply has
# been written; $D/pgid the script's process group.

# Kill the running script if asked, then wait until its reply has been written.
reap_job() {
	while [ -e "$D/busy" ]; do
		if [ "$1" = kill ] && [ -s "$D/pgid" ]; then
			kill -KILL -- "-$(cat "$D/pgid")" 2>/dev/null
		fi
		usleep 10000
	done
}

# Runs detached: execute $D/cmd.sh and send the reply for request $1.
run_job() {
	id=$1
	rm -f "$D/out" "$D/reply"
	# setsid makes the script a session + process-group leader, so KILL reaches all of it.
	setsid sh "$D/cmd.sh" </dev/null >"$D/out" 2>&1 &
	echo $! >"$D/pgid"
	wait $!
	rc=$?
	rm -f "$D/pgid"
	{
		echo "BEGIN $id"
		base64 <"$D/out"
		echo "END $id $rc"
	} >"$D/reply"
	cat "$D/reply"
	rm -f "$D/busy"
}

rm -f "$D/busy" "$D/pgid"
touch "$READY"
while IFS= read -r line; do
	line=${line%"$cr"}
	# shellcheck disable=SC2086
	set -- $line
	case "$1" in
	PING)
		echo "PONG $2"
		;;
	KILL)
		[ -e "$D/busy" ] && [ "$2" = "$(cat "$D/busy")" ] && reap_job kill
		;;
	RUN | RUNL)
		[ $# -ge 2 ] || continue
		reap_job kill
		if [ "$1" = RUNL ]; then
			# RUNL <id> <n>: the base64 script follows as exactly n bytes (then a newline);
			# head -c never reads past n bytes and is far faster than `read` on big scripts.
			head -c "${3:-0}" | base64 -d >"$D/cmd.sh" 2>"$D/decode.err"
		else
			printf '%s\n' "${3:-}" | base64 -d >"$D/cmd.sh" 2>"$D/decode.err"
		fi
		if [ $? -ne 0 ]; then
			printf 'kpoll agent: cannot decode the script: %s\n' "$(cat "$D/decode.err")" >"$D/cmd.sh.err"
			printf 'cat %s/cmd.sh.err; exit 126\n' "$D" >"$D/cmd.sh"
		fi
		echo "$2" >"$D/busy"
		(run_job "$2" &)
		;;
	esac
done
echo "kpoll agent: $TTY closed" >&2
