#!/bin/sh
# make check-deb, second half: the package under a real systemd (252, as
# Debian 12 has it), booted in a container (systemd-nspawn) over an
# overlay of this machine's root, with a network of its own.  What the
# unit promises, tried as an admin would:
#   - without /etc/kefu/token the start is skipped, not failed;
#   - with it, kefud starts with the whole hardening, connects to a
#     platform (the sandbox, inside the container), and answers;
#   - the store writer runs at nice 10 (setpriority under the filter);
#   - kefuctl works for the kefu group, and read-only for kefu-view;
#   - systemctl reload goes through kefuctl -c and the configuration;
#   - a broken configuration exits 78 and is not restarted; a crash is,
#     until five starts in five minutes, then it is given up on;
#   - kefud@SHOP runs beside it with its own state (its StateDirectory=,
#     by default) and sockets, which a restart of the plain unit leaves
#     alone;
#   - an upgrade restarts both; a purge stops both and deletes the state.
#
# Needs root and systemd-nspawn (package systemd-container).
# Usage: systemd.sh build/deb
set -eu
deb_tag="systemd: " deb_needs="mount, systemd-nspawn" deb_dir=systemd
# On a failure, the container's journal says what happened.
deb_on_fail() {
	[ -z "${C:-}" ] || $C journalctl --no-pager -n 60 >&2 2>/dev/null || true
}
. "$(dirname "$0")/lib.sh"
command -v systemd-nspawn >/dev/null || fail "no systemd-nspawn (systemd-container)"

cleanup() {
	if [ -n "${nspawn:-}" ]; then
		[ -z "${C:-}" ] || $C systemctl poweroff 2>/dev/null || true
		i=0
		while kill -0 "$nspawn" 2>/dev/null && [ $i -lt 300 ]; do
			i=$((i + 1))
			sleep 0.1
		done
		kill -9 "$nspawn" 2>/dev/null || true
	fi
	# The sandboxes' nsenter, whose children died with the container.
	[ -z "${sandboxes:-}" ] || kill -9 $sandboxes 2>/dev/null || true
	if [ -n "${P:-}" ]; then
		kill -9 "$P" 2>/dev/null || true
		i=0
		while [ -d "/proc/$P" ] && [ $i -lt 100 ]; do
			i=$((i + 1))
			sleep 0.1
		done
	fi
	wait 2>/dev/null || true
	! mountpoint -q "$R" 2>/dev/null || umount -R "$R" || true
}
trap cleanup EXIT
trap 'cleanup; exit 1' INT TERM
overlay_root
# A server, not an image builder: services may start.
rm -f "$R/usr/sbin/policy-rc.d"
mkdir -p "$R/var/tmp/kefu-check"
cp "$deb" "$R/var/tmp/kefu-check/kefu.deb"
"$top/tests/sandbox/mkcerts.sh" "$R/var/tmp/kefu-check/certs" >/dev/null
# The sandbox too: the checkout may be on a file system the overlay of /
# does not show.
cp -R "$top/tests/sandbox" "$R/var/tmp/kefu-check/sandbox"
for s in main shop1; do
	(umask 077 && head -c 24 /dev/urandom | base64 >"$R/var/tmp/kefu-check/token-$s")
done

say "booting"
systemd-nspawn --register=no --keep-unit --link-journal=no --private-network \
    -M kefu-check -D "$R" -b --console=passive </dev/null >"$t/boot.log" 2>&1 \
    systemd.unit=basic.target &
nspawn=$!
P=
i=0
while [ -z "$P" ]; do
	for p in $(pgrep -x systemd); do # the one nspawn started
		q=$p
		while [ "$q" -gt 1 ] && [ "$q" != "$nspawn" ]; do
			q=$(awk '/^PPid:/ { print $2 }' "/proc/$q/status" 2>/dev/null || echo 1)
		done
		[ "$q" = "$nspawn" ] && P=$p
	done
	i=$((i + 1))
	[ $i -le 600 ] || { cat "$t/boot.log"; fail "no systemd in the container"; }
	[ -n "$P" ] || sleep 0.1
done
C="nsenter -t $P -a env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8"
i=0
until $C systemctl is-system-running 2>/dev/null | grep -qx 'running\|degraded'; do
	i=$((i + 1))
	[ $i -le 1200 ] || fail "the container's systemd did not finish booting"
	sleep 0.1
done
say "$($C systemctl --version | head -1)"

# The platform: the sandbox, inside the container (its own loopback).
sandbox() { # name port
	$C sh -c "exec /usr/bin/python3 /var/tmp/kefu-check/sandbox/sandbox.py \
	    --port $2 --cert /var/tmp/kefu-check/certs/server.pem \
	    --key /var/tmp/kefu-check/certs/server.key \
	    --token-file /var/tmp/kefu-check/token-$1 \
	    --control /var/tmp/kefu-check/$1.sock \
	    --action-log /var/tmp/kefu-check/$1.jsonl" \
	    >"$t/sandbox-$1.log" 2>&1 &
	sandboxes="${sandboxes:-} $!"
}
sandbox main 8601
sandbox shop1 8602
platform() { # conf-dir port
	sed -i -e "s#url = \"[^\"]*\"#url = \"wss://localhost:$2/bot\"#" \
	    -e "s#^\([[:space:]]*\)\# ca_file = \"[^\"]*\"#\1ca_file = \"/etc/kefu/ca.pem\"#" \
	    "$R$1/platform.conf"
}
ready() { # kefuctl arguments
	i=0
	until $C kefuctl "$@" status 2>/dev/null | grep -q '^link: ready'; do
		i=$((i + 1))
		[ $i -le 600 ] || fail "kefud $* did not connect"
		sleep 0.1
	done
}
prop() { $C systemctl show -p "$2" --value "$1"; }

say "install without a token: enabled, skipped"
$C dpkg -i /var/tmp/kefu-check/kefu.deb >"$t/dpkg.log" 2>&1 ||
    { cat "$t/dpkg.log"; fail "dpkg -i"; }
[ "$($C systemctl is-enabled kefud)" = enabled ] || fail "not enabled"
$C systemctl start kefud
[ "$(prop kefud ConditionResult)" = no ] || fail "started without a token"
[ "$(prop kefud ActiveState)" = inactive ] || fail "not inactive without a token"

say "the token: it starts, connects and answers"
install -m 600 "$R/var/tmp/kefu-check/token-main" "$R/etc/kefu/token"
# The CA where an admin puts it: the unit's /var/tmp is its own.
install -m 644 "$R/var/tmp/kefu-check/certs/ca.pem" "$R/etc/kefu/ca.pem"
platform /etc/kefu 8601
$C systemctl start kefud || fail "start"
ready
customer_says "$R/var/tmp/kefu-check/main.sock" c-sd 几天能到 >/dev/null
i=0
until grep -q '"c-sd"' "$R/var/tmp/kefu-check/main.jsonl" 2>/dev/null; do
	i=$((i + 1))
	[ $i -le 600 ] || fail "no reply"
	sleep 0.1
done
pid=$(prop kefud MainPID)
$C ps -L -o ni= -p "$pid" | grep -qw 10 || fail "no thread at nice 10"
[ "$($C stat -c %U:%a /var/lib/kefu/kefu.db)" = kefu:600 ] || fail "kefu.db"

say "kefuctl: the kefu group acts, kefu-view only looks"
$C useradd -M -N -g nogroup -G kefu ops
$C useradd -M -N -g nogroup -G kefu-view viewer
$C runuser -u ops -- kefuctl reload >/dev/null || fail "ops reload"
$C runuser -u viewer -- kefuctl status | grep -q '^link: ready' ||
    fail "viewer status"
if $C runuser -u viewer -- kefuctl reload >"$t/v.txt" 2>&1; then
	fail "a viewer reloaded"
fi
grep -q "read-only socket" "$t/v.txt" || { cat "$t/v.txt"; fail "viewer reload"; }
$C systemctl reload kefud || fail "systemctl reload"

say "a crash is restarted; a broken configuration is not"
$C kill -SEGV "$pid"
i=0
until [ "$(prop kefud NRestarts)" = 1 ] && [ "$(prop kefud ActiveState)" = active ]; do
	i=$((i + 1))
	[ $i -le 600 ] || fail "not restarted after a crash"
	sleep 0.1
done
cp "$R/etc/kefu/kefud.conf" "$t/kefud.conf"
echo 'log_level = "loud";' >>"$R/etc/kefu/kefud.conf"
$C systemctl restart kefud 2>/dev/null && fail "started on a broken configuration"
sleep 7 # past RestartSec=5s
[ "$(prop kefud ExecMainStatus)" = 78 ] || fail "not 78"
[ "$(prop kefud NRestarts)" = 0 ] || fail "a configuration error restarted"
[ "$(prop kefud ActiveState)" = failed ] || fail "not failed"
cp "$t/kefud.conf" "$R/etc/kefu/kefud.conf"
$C systemctl reset-failed kefud
$C systemctl start kefud
ready

say "a kefud that keeps crashing is given up on (start limit)"
# systemd 252 leaves Result at the crash's; the unit is failed, not
# waiting to restart, and the journal says why.
crashes=0
while :; do
	i=0
	until [ "$(prop kefud ActiveState)" = active ] ||
	    [ "$(prop kefud ActiveState)" = failed ]; do
		i=$((i + 1))
		[ $i -le 300 ] || fail "neither restarted nor given up"
		sleep 0.1
	done
	[ "$(prop kefud ActiveState)" = failed ] && break
	$C kill -SEGV "$(prop kefud MainPID)"
	crashes=$((crashes + 1))
	[ $crashes -le 6 ] || fail "still restarted after $crashes crashes"
	sleep 1
done
[ $crashes -ge 4 ] || fail "given up after $crashes crashes only"
$C journalctl -u kefud --no-pager | grep -q "Start request repeated too quickly" ||
    fail "not the start limit"
say "given up after $crashes crashes"
$C systemctl reset-failed kefud
$C systemctl start kefud
ready

say "kefud@shop1 beside it"
mkdir "$R/etc/kefu/shop1"
cp "$R/etc/kefu/"*.conf "$R/etc/kefu/shop1/"
platform /etc/kefu/shop1 8602
install -m 600 "$R/var/tmp/kefu-check/token-shop1" "$R/etc/kefu/shop1/token"
# No state_dir line: the unit's StateDirectory= is its default.
$C systemctl enable --now kefud@shop1 2>/dev/null || fail "start kefud@shop1"
ready -i shop1
$C runuser -u viewer -- kefuctl -i shop1 status | grep -q '^link: ready' ||
    fail "viewer status of shop1"
$C systemctl reload kefud@shop1 || fail "reload kefud@shop1"
$C test -f /var/lib/kefu/shop1/kefu.lock || fail "shop1's own state"
$C systemctl restart kefud
ready -i shop1 # its sockets are its own

say "upgrade restarts both; purge stops both and deletes the state"
a=$(prop kefud@shop1 MainPID)
b=$(prop kefud MainPID)
$C dpkg -i /var/tmp/kefu-check/kefu.deb >"$t/dpkg.log" 2>&1 ||
    { cat "$t/dpkg.log"; fail "dpkg -i again"; }
ready
ready -i shop1
[ "$(prop kefud@shop1 MainPID)" != "$a" ] || fail "shop1 not restarted"
[ "$(prop kefud MainPID)" != "$b" ] || fail "kefud not restarted"
$C dpkg --purge kefu >"$t/dpkg.log" 2>&1 || { cat "$t/dpkg.log"; fail "purge"; }
[ "$(prop kefud@shop1 ActiveState)" = inactive ] || fail "shop1 still runs"
[ "$(prop kefud ActiveState)" = inactive ] || fail "kefud still runs"
! $C test -e /var/lib/kefu || fail "/var/lib/kefu left"
left=$($C sh -c 'ls /etc/systemd/system/*.wants/kefud* 2>/dev/null' || true)
[ -z "$left" ] || fail "left after purge: $left"
cleanup
nspawn=
P=
sandboxes=
say "ok"
