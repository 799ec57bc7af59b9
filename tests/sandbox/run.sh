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
: >"$run/sandbox.log"
case ${PLATFORM:-kefu} in
kefu)
	cat >"$run/platform.conf" <<CONF
# Made by make run: the sandbox platform on this machine.
platform = {
	url = "wss://localhost:$port/bot";
	ca_file = "certs/ca.pem";
	token_file = "token";
};
CONF
	/usr/bin/python3 "$top/tests/sandbox/sandbox.py" --port "$port" \
	    --cert "$run/certs/server.pem" --key "$run/certs/server.key" \
	    --token-file "$run/token" --control "$run/control.sock" \
	    --action-log "$run/actions.jsonl" >>"$run/sandbox.log" 2>&1 &
	ready="link: ready"
	;;
wechat-kf)
	# The fake 微信客服 (tests/sandbox/wecom.py): its API over HTTPS, its
	# callbacks to kefud's platform.listen.  The token of this kind is
	# "corpsecret:callback token:EncodingAESKey".
	(umask 077 && printf '%s:%s:%s\n' "$(head -c 24 /dev/urandom | base64 | tr -d '/+=')" \
	    "$(head -c 12 /dev/urandom | base64 | tr -d '/+=')" \
	    "$(head -c 32 /dev/urandom | base64 | tr -d '=')" >"$run/wx-token")
	cb=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	cat >"$run/platform.conf" <<CONF
# Made by make run: the fake 微信客服 on this machine.
platform = {
	kind = "wechat-kf";
	url = "https://localhost:$port/";
	ca_file = "certs/ca.pem";
	token_file = "wx-token";
	listen = "127.0.0.1:$cb";
	corp_id = "ww-kefu-sandbox";
	open_kfid = "wk-sandbox";
	agent_id = 1000002;
	notify = ["zhangsan"];
};
CONF
	/usr/bin/python3 "$top/tests/sandbox/wecom.py" --port "$port" \
	    --cert "$run/certs/server.pem" --key "$run/certs/server.key" \
	    --token-file "$run/wx-token" --callback-port "$cb" \
	    --control "$run/control.sock" \
	    --action-log "$run/actions.jsonl" >>"$run/sandbox.log" 2>&1 &
	ready="wechat-kf: access token"
	;;
*)
	echo "PLATFORM is kefu or wechat-kf" >&2
	exit 2
	;;
esac
sandbox=$!
kefud=
trap 'kill $sandbox $kefud 2>/dev/null; wait 2>/dev/null' EXIT INT TERM
i=0
until grep -q "listening" "$run/sandbox.log"; do
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
until grep -q "$ready" "$run/kefud.log"; do
	i=$((i + 1))
	if [ $i -gt 100 ] || ! kill -0 $kefud 2>/dev/null; then
		cat "$run/kefud.log" >&2
		exit 1
	fi
	sleep 0.1
done
echo "kefud is up (pid $kefud) against the ${PLATFORM:-kefu} sandbox on port $port"
echo "in another terminal: $top/build/kefuctl -s $run/kefud.sock status"
/usr/bin/python3 "$top/tests/sandbox/chat.py" --control "$run/control.sock" \
    --kefud-log "$run/kefud.log"
