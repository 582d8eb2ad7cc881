#!/bin/sh
# W2 end to end: a generated nginx combined log (LINES lines of about 193
# bytes, benches/w2/tool.rs) -> LogstreamerInput -> PayloadRegexDecoder
# (nine named fields) -> a Lua filter reading one field and counting ->
# FileOutput (benches/w2/w2.toml). Reports lines/s, CPU seconds and peak
# RSS of hekad, and in the same run the ceiling: one core splitting the
# same file into lines and applying the same regex. The clock stops when
# the filter counted every line and out.heka stopped growing (checked to
# hold every record with heka-cat).
#
# Run from the repository root: sh benches/w2.sh [lines] [poolsize]
# (W2_MAXPROCS=2 in the environment spreads the runners over two threads;
# W2_BUFFERING=1 runs hekad twice, FileOutput unbuffered then with its
# disk queue, and prints the ratio)
set -eu
LINES=${1:-1000000}
POOL=${2:-100}
cargo build --release --bin hekad --bin heka-cat --example w2 -q
DIR=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$DIR"' EXIT
mkdir -p "$DIR/logs"
target/release/examples/w2 gen "$LINES" "$DIR/logs/access.log"

CEILING=$(target/release/examples/w2 ceiling "$DIR/logs/access.log")
TICKS=$(getconf CLK_TCK)

# arm BUFFERING: one hekad run; prints "seconds cpu rss_kib".
arm() {
    rm -rf "$DIR/state" "$DIR/out.heka" "$DIR/out.txt"
    # Write back the previous arm's half gigabyte first: otherwise this
    # arm pays for it (page reclaim in its write calls).
    sync
    START=$(date +%s.%N)
    W2_DIR=$DIR W2_LINES=$LINES W2_POOLSIZE=$POOL W2_MAXPROCS=${W2_MAXPROCS:-1} \
        W2_USE_BUFFERING=$1 \
        target/release/hekad -config=benches/w2/w2.toml >"$DIR/out.txt" 2>"$DIR/log.txt" &
    HEKAD=$!
    until grep -q "done $LINES" "$DIR/out.txt" 2>/dev/null; do
        kill -0 $HEKAD 2>/dev/null || { cat "$DIR/log.txt" >&2; exit 1; }
        sleep 0.02
    done
    # Wait until out.heka has not grown for 300 ms; the end is its last growth.
    SIZE=-1; END=$(date +%s.%N); STILL=0
    while [ $STILL -lt 15 ]; do
        NOW=$(stat -c %s "$DIR/out.heka")
        if [ "$NOW" != "$SIZE" ]; then SIZE=$NOW; END=$(date +%s.%N); STILL=0; else STILL=$((STILL + 1)); fi
        sleep 0.02
    done
    CPU=$(awk -v t="$TICKS" '{printf "%.2f", ($14 + $15) / t}' /proc/$HEKAD/stat)
    RSS=$(awk '/VmHWM/ {print $2}' /proc/$HEKAD/status)
    kill -TERM $HEKAD
    wait $HEKAD
    GOT=$(target/release/heka-cat -format count "$DIR/out.heka" 2>/dev/null)
    [ "$GOT" = "$LINES" ] || { echo "out.heka holds $GOT records, not $LINES" >&2; exit 1; }
    echo "$(echo "$END - $START" | bc) $CPU $RSS"
}

OFF=$(arm false)
ON=""
if [ "${W2_BUFFERING:-0}" = 1 ]; then ON=$(arm true); fi
echo "lines: $LINES  poolsize: $POOL  maxprocs: ${W2_MAXPROCS:-1}"
echo "$CEILING"
python3 - "$LINES" "$CEILING" "$OFF" "$ON" <<'PY'
import re, sys
lines, ceiling, off, on = sys.argv[1:]
ceil = float(re.search(r": ([0-9.]+) lines/s", ceiling).group(1))
rates = {}
for name, arm in (("hekad W2", off), ("hekad W2 buffered", on)):
    if not arm:
        continue
    secs, cpu, rss = arm.split()
    rates[name] = int(lines) / float(secs)
    print(f"{name}: {rates[name]:,.0f} lines/s ({float(secs):.2f} s wall, {cpu} s CPU, peak RSS {int(rss)/1024:.1f} MiB)")
print(f"ratio hekad/ceiling: {rates['hekad W2'] / ceil:.3f}")
if len(rates) == 2:
    print(f"ratio buffered/unbuffered: {rates['hekad W2 buffered'] / rates['hekad W2']:.3f}")
PY
