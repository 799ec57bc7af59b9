#!/bin/sh
# make run: kefud with the example configuration against the sandbox
# platform, and a terminal to chat with it as a customer.  Everything it
# makes (a throwaway CA, a token, logs) stays in build/run/.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
run=$top/build/run
mkdir -p "$run"
"$top/tests/sandbox/mkcerts.sh" "$run/certs"
if [ ! -s "$run/token" ]; then
	(umask 077 && head -c 24 /dev/urandom | base64 >"$run/token")
fi
port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# Each run starts a new sandbox, whose events start again at 1: the state
# of the last run would make kefud skip them as already handled.
rm -rf "$run/state"

# The example configuration as it is, with the plugins of this build and
# the sandbox as its platform.
{
	printf '# Made by make run from etc/kefu/kefud.conf.\nplugin_dir = "%s";\nstate_dir = "state";\ncontrol_socket = "kefud.sock";\n' "$top/build/plugins"
	cat "$top/etc/kefu/kefud.conf"
} >"$run/kefud.conf"
cp "$top/etc/kefu/holidays-cn.conf" "$top/etc/kefu/faq.conf" \
    "$top/etc/kefu/synonyms.conf" "$top/etc/kefu/escalate.conf" "$run/"
rm -rf "$run/lang"
cp -r "$top/etc/kefu/lang" "$run/"
cat >"$run/platform.conf" <<CONF
# Made by make run: the sandbox platform on this machine.
platform = {
	url = "wss://localhost:$port/bot";
	ca_file = "certs/ca.pem";
	token_file = "token";
};
CONF

: >"$run/sandbox.log"
/usr/bin/python3 "$top/tests/sandbox/sandbox.py" --port "$port" \
    --cert "$run/certs/server.pem" --key "$run/certs/server.key" \
    --token-file "$run/token" --control "$run/control.sock" \
    --action-log "$run/actions.jsonl" >>"$run/sandbox.log" 2>&1 &
sandbox=$!
kefud=
trap 'kill $sandbox $kefud 2>/dev/null; wait 2>/dev/null' EXIT INT TERM
i=0
until grep -q "sandbox: listening" "$run/sandbox.log"; do
	i=$((i + 1))
	if [ $i -gt 100 ]; then
		cat "$run/sandbox.log" >&2
		exit 1
	fi
	sleep 0.1
done
"$top/build/kefud" -c "$run/kefud.conf" >"$run/kefud.log" 2>&1 &
kefud=$!
i=0
until grep -q "link: ready" "$run/kefud.log"; do
	i=$((i + 1))
	if [ $i -gt 100 ] || ! kill -0 $kefud 2>/dev/null; then
		cat "$run/kefud.log" >&2
		exit 1
	fi
	sleep 0.1
done
echo "kefud is up (pid $kefud) against the sandbox at wss://localhost:$port/bot"
echo "in another terminal: $top/build/kefuctl -s $run/kefud.sock status"
/usr/bin/python3 "$top/tests/sandbox/chat.py" --control "$run/control.sock" \
    --kefud-log "$run/kefud.log"
