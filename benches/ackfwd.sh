#!/bin/sh
# W1 through a forwarding hop, acknowledgements off and on:
# heka-flood -> hekad A (TcpInput -> TcpOutput) -> hekad B (TcpInput ->
# CounterFilter). With ACKS=1, A's TcpOutput has `require_acks = true` and
# B's TcpInput `acknowledge = true`. The rate is heka-flood's (A pushes
# back on it once its output waits), checked by B's CounterFilter count.
#
# Run from the repository root: sh benches/ackfwd.sh [messages] [poolsize]
# Prints the rate with acknowledgements off, on, and their ratio.
set -eu
N=${1:-1000000}
POOL=${2:-100}
cargo build --release --bins -q
BIN=${CARGO_TARGET_DIR:-target}/release
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"; kill $(jobs -p) 2>/dev/null || true' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

listening() { # $1 = log, $2 = pid: waits for "Listening", fails if hekad died
  until grep -qs Listening "$1"; do
    kill -0 "$2" 2>/dev/null || { cat "$1" >&2; exit 1; }
    sleep 0.1
  done
}

run() { # $1 = 1 for acknowledgements
  IN=$(free_port); MID=$(free_port)
  ACK_IN=""; ACK_OUT=""
  [ "$1" = 1 ] && { ACK_IN="acknowledge = true"; ACK_OUT="require_acks = true"; }
  mkdir -p "$DIR/a$1" "$DIR/b$1"
  cat >"$DIR/b$1/hekad.toml" <<TOML
[hekad]
poolsize = $POOL
base_dir = "$DIR/b$1"
[TcpInput]
address = "127.0.0.1:$MID"
$ACK_IN
[CounterFilter]
ticker_interval = 1
TOML
  cat >"$DIR/a$1/hekad.toml" <<TOML
[hekad]
poolsize = $POOL
base_dir = "$DIR/a$1"
[TcpInput]
address = "127.0.0.1:$IN"
[TcpOutput]
message_matcher = "TRUE"
address = "127.0.0.1:$MID"
encoder = "ProtobufEncoder"
use_buffering = false
$ACK_OUT
TOML
  "$BIN"/hekad -config="$DIR/b$1/hekad.toml" 2>"$DIR/b$1.log" & B=$!
  listening "$DIR/b$1.log" $B
  "$BIN"/hekad -config="$DIR/a$1/hekad.toml" 2>"$DIR/a$1.log" & A=$!
  listening "$DIR/a$1.log" $A
  RATE=$("$BIN"/heka-flood -address 127.0.0.1:"$IN" -num "$N" 2>/dev/null | sed -n 's/^Sent [0-9]* messages. \([0-9.]*\) msg\/sec.*/\1/p')
  kill -TERM $A; wait $A
  sleep 1.5
  kill -USR1 $B; sleep 0.5; kill -TERM $B; wait $B
  COUNTED=$(sed -n '/^CounterFilter:/,/ProcessMessageCount/s/^ *ProcessMessageCount: //p' "$DIR/b$1.log")
  [ "$COUNTED" = "$N" ] || { echo "acks=$1: B counted $COUNTED of $N" >&2; exit 1; }
  echo "$RATE"
}
OFF=$(run 0)
ON=$(run 1)
echo "messages: $N  poolsize: $POOL (every message counted at the far end)"
echo "acknowledgements off: $OFF msg/s"
echo "acknowledgements on:  $ON msg/s"
python3 -c "print('ratio on/off: %.3f' % ($ON / $OFF))"
