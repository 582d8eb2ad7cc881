#!/usr/bin/env python3
"""statsd end to end: UDP datagrams of counter lines -> StatsdInput ->
StatAccumInput (1 s roll-ups) -> CarbonOutput -> a carbon listener here,
which adds up every `stats.counters.*.count` it receives. Prints the rate
sent and the share of stats counted (UDP: what the kernel dropped while
hekad was busy is lost, so a paced sender shows the sustainable rate).

Run from the repository root, after `cargo build --release --bins`:
    python3 benches/statsd.py [datagrams] [datagrams per second, 0 = flat out]
"""

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

LINES_PER_DATAGRAM = 20


def free_port(kind):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    datagrams = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    pace = float(sys.argv[2]) if len(sys.argv) > 2 else 50_000
    target = os.environ.get("CARGO_TARGET_DIR", "target")
    hekad = os.path.join(target, "release", "hekad")
    statsd, carbon = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM)

    lines = []
    listener = socket.socket()
    listener.bind(("127.0.0.1", carbon))
    listener.listen(64)

    def serve():
        while True:
            conn, _ = listener.accept()
            data = b""
            while chunk := conn.recv(65536):
                data += chunk
            lines.extend(data.decode().splitlines())

    threading.Thread(target=serve, daemon=True).start()
    with tempfile.TemporaryDirectory() as base:
        config = os.path.join(base, "hekad.toml")
        with open(config, "w") as f:
            f.write(
                f"""
[hekad]
base_dir = "{base}"
[StatsdInput]
address = "127.0.0.1:{statsd}"
max_msg_size = 1400
[StatAccumInput]
ticker_interval = 1
[CarbonOutput]
message_matcher = "Type == 'heka.statmetric'"
address = "127.0.0.1:{carbon}"
"""
            )
        proc = subprocess.Popen([hekad, f"-config={config}"], stderr=subprocess.DEVNULL)
        time.sleep(1)
        payload = "".join(f"k{i}:1|c\n" for i in range(LINES_PER_DATAGRAM)).encode()
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        start = time.time()
        for i in range(datagrams):
            sender.sendto(payload, ("127.0.0.1", statsd))
            if pace > 0:
                due = start + (i + 1) / pace
                while time.time() < due:
                    pass
        elapsed = time.time() - start
        time.sleep(3)
        proc.terminate()
        proc.wait(timeout=20)
    counted = 0
    for line in lines:
        words = line.split()
        if len(words) == 3 and words[0].startswith("stats.counters.k") and words[0].endswith(".count"):
            counted += int(words[1])
    sent = datagrams * LINES_PER_DATAGRAM
    print(
        f"sent {sent} stats in {datagrams} datagrams over {elapsed:.2f} s "
        f"({sent / elapsed:.0f} stats/s); counted {counted} ({100 * counted / sent:.1f}%)"
    )


if __name__ == "__main__":
    main()
