#!/bin/sh
# test/unit/check_sans_io.sh: the node core stays sans-IO.
#
# Fails when a file of the core (net/*.c, net/*.h, crypto/noise.*,
# crypto/item.*) includes libuv, SQLite, a socket, network, clock or thread
# header, or a header of a higher layer (src/, store/, rpc/), or calls a
# clock, the system's random source, SQLite or libuv.  The core gets time,
# randomness and every answer from its caller (net/core.h); the shells
# (src/ in rumord, rumor-sim) are the only places that touch the world.
#
# Usage: check_sans_io.sh [SRCDIR]  (default $RUMOR_SRCDIR, then $srcdir, then .)
# Exit 0 when clean, 1 with one line per offence otherwise.  Run without
# an argument (as make check does), it first proves that it can fail: a
# copy of the core with a planted libuv include, and one with a planted
# clock call, must both be refused.

top=${1:-${RUMOR_SRCDIR:-${srcdir:-.}}}
if [ $# -eq 0 ]; then
	tmp=$(mktemp -d) || exit 1
	trap 'rm -rf "$tmp"' EXIT
	for plant in '#include <uv.h>' 'static long f(void) { return (long)time(0); }'; do
		mkdir -p "$tmp/net" "$tmp/crypto" || exit 1
		cp "$top"/net/*.c "$top"/net/*.h "$tmp/net/" || exit 1
		cp "$top"/crypto/noise.* "$top"/crypto/item.* "$tmp/crypto/" || exit 1
		printf '%s\n' "$plant" >>"$tmp/net/core.c"
		if sh "$0" "$tmp" >/dev/null; then
			echo "check_sans_io: a planted '$plant' in net/core.c was not found" >&2
			exit 1
		fi
		rm -rf "$tmp/net" "$tmp/crypto"
	done
fi
cd "$top" || exit 1

files=$(ls net/*.c net/*.h crypto/noise.c crypto/noise.h crypto/item.c crypto/item.h 2>/dev/null)
if [ -z "$files" ]; then
	echo "check_sans_io: no core files under $top" >&2
	exit 1
fi

# Headers the core must not include.
bad_includes='#[[:space:]]*include[[:space:]]*[<"](uv\.h|uv/|sqlite3\.h|sys/socket\.h|netinet/|arpa/|netdb\.h|sys/un\.h|poll\.h|sys/epoll\.h|sys/select\.h|time\.h|sys/time\.h|sys/timeb\.h|pthread\.h|threads\.h|unistd\.h|fcntl\.h|signal\.h|src/|store/|rpc/)'
# Calls the core must not make (a clock, the random source, SQLite, libuv,
# threads, sockets).
bad_calls='(^|[^_[:alnum:]])(uv_[a-z_]+|sqlite3_[a-z_]+|randombytes_[a-z_]+|rumor_random|clock_gettime|gettimeofday|time|clock|rand|random|srand|pthread_[a-z_]+|socket|connect|accept|send|recv|sleep|usleep)[[:space:]]*\('

status=0
for f in $files; do
	# Comments out of the way (block comments are one or more whole lines
	# here; a line's // tail too).
	code=$(sed -e 's://.*$::' -e 's:/\*.*\*/::g' -e '/\/\*/,/\*\//s/.*//' "$f")
	hits=$(printf '%s\n' "$code" | grep -nE "$bad_includes")
	if [ -n "$hits" ]; then
		printf '%s\n' "$hits" | sed "s|^|$f: forbidden include: |"
		status=1
	fi
	hits=$(printf '%s\n' "$code" | grep -v '^[[:space:]]*#' | grep -nE "$bad_calls")
	if [ -n "$hits" ]; then
		printf '%s\n' "$hits" | sed "s|^|$f: forbidden call: |"
		status=1
	fi
done
[ $status -eq 0 ] && echo "check_sans_io: $(echo $files | wc -w) core files are sans-IO"
exit $status
