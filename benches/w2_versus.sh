#!/bin/sh
# W2 with two hekad binaries, runs interleaved on the same generated log,
# to compare a change against a baseline build on a noisy machine: the
# clock stops when the Lua filter counted every line (so it measures the
# path to the filter; benches/w2.sh also waits for the output file).
#
# Run from the repository root:
#   sh benches/w2_versus.sh BASE_HEKAD [runs] [maxprocs] [poolsize]
# e.g. build the baseline with
#   git worktree add /tmp/base OLD && (cd /tmp/base && cargo build --release --bin hekad)
# and pass /tmp/base/target/release/hekad.
set -eu
BASE=$1
RUNS=${2:-3}
export W2_MAXPROCS=${3:-1} W2_POOLSIZE=${4:-100} W2_LINES=1000000 W2_USE_BUFFERING=false
cargo build --release --bin hekad --example w2 -q
DIR=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$DIR"' EXIT
target/release/examples/w2 gen "$W2_LINES" "$DIR/access.log" 2>/dev/null
TICKS=$(getconf CLK_TCK)

# one BIN: prints "lines/s cpu_seconds"
one() {
    rm -rf "$DIR/run" && mkdir -p "$DIR/run/logs" && cp "$DIR/access.log" "$DIR/run/logs/"
    sync
    START=$(date +%s.%N)
    W2_DIR=$DIR/run "$1" -config=benches/w2/w2.toml >"$DIR/out.txt" 2>"$DIR/log.txt" &
    PID=$!
    until grep -q "done $W2_LINES" "$DIR/out.txt" 2>/dev/null; do
        kill -0 $PID 2>/dev/null || { cat "$DIR/log.txt" >&2; exit 1; }
        sleep 0.02
    done
    END=$(date +%s.%N)
    CPU=$(awk -v t="$TICKS" '{printf "%.2f", ($14 + $15) / t}' /proc/$PID/stat)
    kill -TERM $PID; wait $PID
    echo "$END $START $CPU" | awk -v n="$W2_LINES" '{printf "%.0f %s\n", n / ($1 - $2), $3}'
}

echo "maxprocs $W2_MAXPROCS, poolsize $W2_POOLSIZE, $RUNS runs each, interleaved"
for i in $(seq "$RUNS"); do
    echo "base $(one "$BASE")"
    echo "this $(one target/release/hekad)"
done | awk '{print; r[$1] += $2; c[$1] += $3; k[$1]++}
    END {printf "mean: base %.0f lines/s %.2f s CPU, this %.0f lines/s %.2f s CPU, ratio %.2f\n",
        r["base"]/k["base"], c["base"]/k["base"], r["this"]/k["this"], c["this"]/k["this"],
        (r["this"]/k["this"]) / (r["base"]/k["base"])}'
