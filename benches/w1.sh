#!/bin/sh
# W1 end to end: heka-flood over TCP -> TcpInput (HekaFramingSplitter,
# ProtobufDecoder) -> router -> CounterFilter, on this machine, against a
# baseline measured in the same run: heka-flood into a reader that only
# discards bytes (the most any receiver could take).
#
# Run from the repository root: sh benches/w1.sh [messages] [poolsize]
# (W1_MAXPROCS=2 in the environment spreads the runners over two threads)
# Prints both rates and their ratio; fails if the CounterFilter did not
# count every message.
set -eu
N=${1:-5000000}
POOL=${2:-100}
cargo build --release --bins -q
BIN=target/release
LOG=$(mktemp)
trap 'rm -f "$LOG"; kill $(jobs -p) 2>/dev/null || true' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Baseline: a reader that discards.
PORT=$(free_port)
python3 - "$PORT" <<'PY' &
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1)
c, _ = s.accept(); buf = bytearray(1 << 20)
while c.recv_into(buf): pass
PY
sleep 0.5
BASE=$("$BIN"/heka-flood -address 127.0.0.1:"$PORT" -num "$N" 2>/dev/null | sed -n 's/^Sent [0-9]* messages. \([0-9.]*\) msg\/sec.*/\1/p')
wait

# hekad.
PORT=$(free_port)
W1_PORT=$PORT W1_POOLSIZE=$POOL W1_MAXPROCS=${W1_MAXPROCS:-1} "$BIN"/hekad -config=benches/w1.toml 2>"$LOG" &
HEKAD=$!
until grep -q Listening "$LOG"; do sleep 0.1; done
RATE=$("$BIN"/heka-flood -address 127.0.0.1:"$PORT" -num "$N" 2>/dev/null | sed -n 's/^Sent [0-9]* messages. \([0-9.]*\) msg\/sec.*/\1/p')
sleep 1.5
kill -USR1 $HEKAD
sleep 0.5
kill -TERM $HEKAD
wait $HEKAD
COUNTED=$(sed -n '/^CounterFilter:/,/ProcessMessageCount/s/^ *ProcessMessageCount: //p' "$LOG")
echo "messages: $N  poolsize: $POOL  maxprocs: ${W1_MAXPROCS:-1}  counted by CounterFilter: $COUNTED"
echo "baseline (discarding reader): $BASE msg/s"
echo "hekad W1:                     $RATE msg/s"
python3 -c "print('ratio hekad/baseline: %.3f' % ($RATE / $BASE))"
[ "$COUNTED" = "$N" ] || { echo "CounterFilter counted $COUNTED of $N" >&2; exit 1; }
