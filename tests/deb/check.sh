#!/bin/sh
# make check-deb: the package as an admin meets it.  Lints it, installs
# it with dpkg into a fresh root (an overlay of this machine's, so that
# its dependencies are there and nothing of this machine changes), checks
# the installed configuration by hand as root without the token, runs the
# installed kefud as the service would (user kefu, the credential, the
# state and runtime directories) against the sandbox platform, reaches it
# with kefuctl both as an operator and as a read-only viewer, then purges
# the package and looks for anything left behind.
#
# Needs root (mount, chroot), as CI has.  Usage: check.sh build/deb
set -eu
deb_tag= deb_needs="mount, chroot, dpkg" deb_dir=root
. "$(dirname "$0")/lib.sh"
! dpkg -s kefu >/dev/null 2>&1 || fail "kefu is installed on this machine"

say "lintian $(basename "$deb")"
lintian --fail-on error --info "$deb" >"$out/lintian.txt" 2>&1 ||
    { cat "$out/lintian.txt"; fail "lintian found errors"; }
cat "$out/lintian.txt"
say "lintian: $(grep -c '^E:' "$out/lintian.txt" || true) errors, $(grep -c '^W:' "$out/lintian.txt" || true) warnings"

cleanup() {
	[ -z "${sandbox:-}" ] || kill "$sandbox" 2>/dev/null || true
	[ -z "${kefud:-}" ] || kill "$kefud" 2>/dev/null || true
	wait 2>/dev/null || true
	for m in "$R/dev" "$R/proc" "$R"; do
		! mountpoint -q "$m" 2>/dev/null || umount -R "$m" || true
	done
}
trap cleanup EXIT
trap 'cleanup; exit 1' INT TERM
overlay_root
mount -t proc proc "$R/proc"
mount --rbind /dev "$R/dev"
in_root() { chroot "$R" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }

say "dpkg -i"
cp "$deb" "$R/tmp/kefu.deb"
in_root dpkg -i /tmp/kefu.deb
rm -f "$R/tmp/kefu.deb"
for f in /usr/sbin/kefud /usr/sbin/kefuctl /usr/lib/kefu/plugins/faq.so \
    /usr/lib/kefu/plugins/greeting.so /usr/lib/kefu/plugins/escalate.so \
    /lib/systemd/system/kefud.service /lib/systemd/system/kefud@.service \
    /usr/lib/sysusers.d/kefu.conf /usr/lib/tmpfiles.d/kefu.conf \
    /usr/share/man/man8/kefud.8.gz \
    /usr/share/man/man8/kefuctl.8.gz /usr/share/man/man5/kefud.conf.5.gz \
    /usr/share/kefu/holidays-cn.conf /usr/share/kefu/lang/synonyms.conf \
    /usr/share/kefu/lang/profanity-zh.txt /usr/share/doc/kefu/copyright \
    /usr/share/doc/kefu/README.Debian /usr/share/doc/kefu/platform-protocol.md.gz \
    /usr/share/doc/kefu/zh-CN/knowledge-base.md.gz \
    /usr/include/kefu/plugin.h /usr/share/pkgconfig/kefu-plugin.pc \
    /etc/kefu/kefud.conf /etc/kefu/faq.conf; do
	[ -e "$R$f" ] || fail "not installed: $f"
done
[ ! -e "$R/usr/lib/kefu/plugins/hello.so" ] || fail "the example plugin is installed"
[ ! -e "$R/etc/kefu/lang" ] && [ ! -e "$R/etc/kefu/holidays-cn.conf" ] ||
    fail "vendor data in /etc"
conffiles=$(in_root dpkg-query -W -f='${Conffiles}' kefu)
for f in kefud.conf platform.conf faq.conf synonyms.conf escalate.conf; do
	echo "$conffiles" | grep -q " /etc/kefu/$f " || fail "/etc/kefu/$f is not a conffile"
done
in_root getent passwd kefu >/dev/null || fail "no user kefu after install"
in_root getent group kefu-view >/dev/null || fail "no group kefu-view after install"

say "a plugin of one's own, built against the installed plugin.h"
in_root sh -c 'cc -std=c11 -Wall -Werror $(pkg-config --cflags kefu-plugin) \
    -fPIC -shared -fvisibility=hidden -Wl,-z,defs \
    -o /tmp/hello.so /usr/share/doc/kefu/examples/hello/hello.c' ||
    fail "building a plugin against the package"
rm -f "$R/tmp/hello.so"

say "kefud -t as root, by hand, without the token"
in_root /usr/sbin/kefud -t -c /etc/kefu/kefud.conf >"$t/check.log" 2>&1 ||
    { cat "$t/check.log"; fail "kefud -t on the installed configuration"; }
cat "$t/check.log"
grep -q "platform token not checked" "$t/check.log" || fail "no token warning"
say "kefud --replay as root, without the token"
printf '在吗\n几天能到\n' | in_root /usr/sbin/kefud -c /etc/kefu/kefud.conf \
    --replay - >"$t/replay.log" 2>&1 || { cat "$t/replay.log"; fail "--replay"; }
cat "$t/replay.log"
[ "$(grep -c '"action":"reply"' "$t/replay.log")" -eq 2 ] || fail "replay answered"

say "the installed kefud against the sandbox, as the unit runs it"
"$top/tests/sandbox/mkcerts.sh" "$t/certs" >/dev/null
port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(umask 077 && head -c 24 /dev/urandom | base64 >"$t/token")
install -m 600 "$t/token" "$R/etc/kefu/token"
install -m 644 "$t/certs/ca.pem" "$R/etc/kefu/ca.pem"
# The admin points platform.conf at the platform (here, the sandbox).
sed -i -e "s#url = \"[^\"]*\"#url = \"wss://localhost:$port/bot\"#" \
    -e "s#^\([[:space:]]*\)\# ca_file = \"[^\"]*\"#\1ca_file = \"/etc/kefu/ca.pem\"#" \
    "$R/etc/kefu/platform.conf"
grep -q "ca_file = \"/etc/kefu/ca.pem\"" "$R/etc/kefu/platform.conf" ||
    fail "platform.conf has no ca_file line to set"
/usr/bin/python3 "$top/tests/sandbox/sandbox.py" --port "$port" \
    --cert "$t/certs/server.pem" --key "$t/certs/server.key" \
    --token-file "$t/token" --control "$t/control.sock" \
    --action-log "$t/actions.jsonl" >"$t/sandbox.log" 2>&1 &
sandbox=$!
# What systemd does before ExecStart: the directories, the credential
# (readable by the service only), the viewers' directory (ExecStartPre=+).
# (The names are the root's, not this machine's: numbers here.)
uid=$(in_root id -u kefu)
gid=$(in_root id -g kefu)
vgid=$(in_root getent group kefu-view | cut -d: -f3)
install -d -o "$uid" -g "$gid" -m 750 "$R/var/lib/kefu" "$R/run/kefu"
# The viewers' parent directory as the package's tmpfiles.d makes it
# (root's), and the unit's own as its ExecStartPre=+ does.
in_root systemd-tmpfiles --create kefu.conf
[ "$(stat -c %a:%u:%g "$R/run/kefu-view")" = "755:0:0" ] ||
    fail "/run/kefu-view is $(stat -c %a:%u:%g "$R/run/kefu-view")"
install -d -o "$uid" -g "$vgid" -m 2750 "$R/run/kefu-view/kefud"
install -d -m 700 -o "$uid" "$R/run/credentials/kefud.service"
install -m 400 -o "$uid" "$t/token" "$R/run/credentials/kefud.service/token"
umask 077 # the unit's UMask=
chroot --userspec=kefu:kefu "$R" env -i PATH=/usr/sbin:/usr/bin \
    CREDENTIALS_DIRECTORY=/run/credentials/kefud.service \
    STATE_DIRECTORY=/var/lib/kefu RUNTIME_DIRECTORY=/run/kefu \
    KEFU_VIEW_SOCKET=/run/kefu-view/kefud/kefud.sock \
    /usr/sbin/kefud -c /etc/kefu/kefud.conf >"$t/kefud.log" 2>&1 &
kefud=$!
umask 022
i=0
until grep -q "link: ready" "$t/kefud.log"; do
	i=$((i + 1))
	if [ $i -gt 600 ] || ! kill -0 $kefud 2>/dev/null; then
		cat "$t/kefud.log" "$t/sandbox.log"
		fail "the installed kefud did not connect"
	fi
	sleep 0.1
done
customer_says "$t/control.sock" c-deb 几天能到
i=0
until grep -q '"conversation": *"c-deb"' "$t/actions.jsonl" 2>/dev/null; do
	i=$((i + 1))
	[ $i -le 600 ] || { cat "$t/kefud.log"; fail "no reply from the installed kefud"; }
	sleep 0.1
done
say "replied: $(grep -m1 '"c-deb"' "$t/actions.jsonl" | cut -c1-160)"
ls -l "$R/var/lib/kefu"
[ "$(stat -c %u:%a "$R/var/lib/kefu/kefu.db")" = "$uid:600" ] ||
    fail "kefu.db not the service's alone"

say "kefuctl as root, and the unit's ExecReload"
in_root kefuctl status | tee "$t/status.txt"
grep -q "^link: ready" "$t/status.txt" || fail "kefuctl status"
chroot --userspec=kefu:kefu "$R" env -i RUNTIME_DIRECTORY=/run/kefu \
    /usr/sbin/kefuctl -c /etc/kefu/kefud.conf reload || fail "ExecReload"
say "kefuctl as a viewer (group kefu-view): looks, may not act"
in_root useradd -M -N -g nogroup -G kefu-view viewer
chroot --userspec=viewer:nogroup --groups=kefu-view "$R" env -i \
    /usr/sbin/kefuctl status >"$t/view.txt" 2>&1 || { cat "$t/view.txt"; fail "viewer status"; }
grep -q "^link: ready" "$t/view.txt" || fail "viewer status"
if chroot --userspec=viewer:nogroup --groups=kefu-view "$R" env -i \
    /usr/sbin/kefuctl reload >"$t/view.txt" 2>&1; then
	fail "a viewer reloaded"
fi
grep -q "not allowed on the read-only socket" "$t/view.txt" || { cat "$t/view.txt"; fail "viewer reload"; }
in_root userdel viewer
kill "$kefud"
wait "$kefud" || fail "kefud did not stop cleanly"
kefud=
grep -q "Sanitizer\|runtime error:" "$t/kefud.log" && fail "sanitizer report"

say "dpkg --purge"
in_root dpkg --purge kefu
# What may stay: dpkg's records and logs, the system users (Debian
# keeps them), and the one file the admin added that the package never
# knew (the platform's CA): dpkg leaves /etc/kefu for it, and says so.
left=$(cd "$t/upper" && find . \( -type f -o -type l \) \
    ! -path './var/lib/dpkg/*' ! -path './var/log/*' ! -path './var/cache/*' \
    ! -path './etc/passwd*' ! -path './etc/group*' ! -path './etc/shadow*' \
    ! -path './etc/gshadow*' ! -path './etc/.pwd.lock' ! -path './tmp/*' \
    ! -path './run/*' ! -path './etc/subuid*' ! -path './etc/subgid*' \
    ! -path './var/mail/*' ! -path './etc/kefu/ca.pem' | sort)
newdirs=$(cd "$t/upper" && find . -mindepth 1 -type d | while read -r d; do
	[ -d "/$d" ] || echo "$d"
done | grep -v '^\./run\|^\./tmp\|^\./etc/kefu$' || true)
if [ -n "$left$newdirs" ]; then
	echo "$left"
	echo "$newdirs"
	fail "left behind after purge"
fi
say "ok: built, lintian clean of errors, installed, checked, served, purged clean"
