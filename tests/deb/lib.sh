# Shared by check.sh and systemd.sh (sourced; the caller sets deb_tag, the
# prefix of its lines, deb_needs, what it needs root for, and deb_dir, its
# work directory under build/deb).
#
# They run as root only, in a mount namespace of their own with private
# propagation: their mounts never reach the host's (on a systemd host / is
# shared, and unmounting a bound /dev would take the host's /dev/pts with
# it), and they vanish with the process, however it ends.
if [ "$(id -u)" -ne 0 ]; then
	echo "check-deb: ${deb_tag}SKIPPED: needs root ($deb_needs); run make check-deb as root" >&2
	exit 0
fi
if [ -z "${KEFU_DEB_NS:-}" ]; then
	KEFU_DEB_NS=1 exec unshare --mount --propagation private "$0" "$@"
fi
top=$(cd "$(dirname "$0")/../.." && pwd)
out=$(cd "$1" && pwd)
version=$(cd "$top" && dpkg-parsechangelog -S Version)
deb=$out/kefu_${version}_amd64.deb
t=$out/$deb_dir
R=$t/merged

# deb_on_fail, if the caller defines it, says more before the exit.
fail() {
	echo "check-deb: ${deb_tag}FAIL: $*" >&2
	! command -v deb_on_fail >/dev/null || deb_on_fail
	exit 1
}
say() { echo "check-deb: ${deb_tag}$*"; }

# A customer in conversation $2 writes $3 through the sandbox's control
# socket $1; prints the sandbox's answer.
customer_says() {
	/usr/bin/python3 - "$1" "$2" "$3" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(json.dumps({"cmd": "message", "conversation": sys.argv[2],
                      "text": sys.argv[3]}).encode() + b"\n")
print(s.makefile().readline().strip())
PY
}

# A fresh root at $R: an overlay of this machine's, so that the package's
# dependencies are there and nothing of this machine changes.
overlay_root() {
	rm -rf --one-file-system "$t"
	mkdir -p "$t/upper" "$t/work" "$R"
	mount -t overlay overlay \
	    -o "lowerdir=/,upperdir=$t/upper,workdir=$t/work" "$R" ||
	    fail "cannot mount an overlay of / on $R"
}

[ -f "$deb" ] || fail "no $deb"
