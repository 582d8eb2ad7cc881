#!/bin/sh
# W2 end to end: a generated nginx combined log (LINES lines of about 193
# bytes, benches/w2/tool.rs) -> LogstreamerInput -> PayloadRegexDecoder
# (nine named fields) -> a Lua filter reading one field and counting ->
# FileOutput (benches/w2/w2.toml). Reports lines/s, CPU seconds and peak
# RSS of hekad, and in the same run the ceiling: one core splitting the
# same file into lines and applying the same regex.
#
# Run from the repository root: sh benches/w2.sh [lines] [poolsize]
# (W2_MAXPROCS=2 in the environment spreads the runners over two threads)
set -eu
LINES=${1:-1000000}
POOL=${2:-100}
cargo build --release --bin hekad --example w2 -q
DIR=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$DIR"' EXIT
mkdir -p "$DIR/logs"
target/release/examples/w2 gen "$LINES" "$DIR/logs/access.log"

CEILING=$(target/release/examples/w2 ceiling "$DIR/logs/access.log")

TICKS=$(getconf CLK_TCK)
START=$(date +%s.%N)
W2_DIR=$DIR W2_LINES=$LINES W2_POOLSIZE=$POOL W2_MAXPROCS=${W2_MAXPROCS:-1} \
    target/release/hekad -config=benches/w2/w2.toml >"$DIR/out.txt" 2>"$DIR/log.txt" &
HEKAD=$!
until grep -q "done $LINES" "$DIR/out.txt"; do
    kill -0 $HEKAD 2>/dev/null || { cat "$DIR/log.txt" >&2; exit 1; }
    sleep 0.02
done
END=$(date +%s.%N)
# utime + stime (fields 14, 15) and the peak resident set.
CPU=$(awk -v t="$TICKS" '{printf "%.2f", ($14 + $15) / t}' /proc/$HEKAD/stat)
RSS=$(awk '/VmHWM/ {print $2}' /proc/$HEKAD/status)
kill -TERM $HEKAD
wait $HEKAD
echo "lines: $LINES  poolsize: $POOL  maxprocs: ${W2_MAXPROCS:-1}"
echo "$CEILING"
python3 - "$START" "$END" "$LINES" "$CPU" "$RSS" "$CEILING" <<'PY'
import re, sys
start, end, lines, cpu, rss, ceiling = sys.argv[1:]
secs = float(end) - float(start)
rate = int(lines) / secs
ceil = float(re.search(r": ([0-9.]+) lines/s", ceiling).group(1))
print(f"hekad W2: {rate:,.0f} lines/s ({secs:.2f} s wall, {cpu} s CPU, peak RSS {int(rss)/1024:.1f} MiB)")
print(f"ratio hekad/ceiling: {rate / ceil:.3f}")
PY
