"""A known-hash list uploaded through the web app: wall time and the server's peak memory.

Writes an N-line Trawl CSV list (random md5 and sha256 values, one bad line at the end with
--bad), starts `trawl serve` in its own process on a fresh SQLite file, and uploads the file
as an admin with `POST /api/v1/lists` (multipart, streamed from disk by httpx). Reports the
HTTP status, the wall time of the upload and import, and the server process's peak resident
memory (VmHWM) before and after, so the streaming claim (memory independent of the list's
length) can be read off two sizes. Prints a Markdown table.

    python3 bench/bench_web_upload.py                 # 100,000 and 1,000,000 lines
    python3 bench/bench_web_upload.py --lines 200000 --bad
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from crawler.services import users  # noqa: E402
from storage.db import open_store  # noqa: E402


def write_list(path: Path, lines: int, *, bad: bool) -> int:
    with path.open("w") as out:
        out.write("hash_type,hash,label\n")
        for n in range(lines):
            if n % 2:
                out.write(f"md5,{secrets.token_hex(16)},item-{n}\n")
            else:
                out.write(f"sha256,{secrets.token_hex(32)},item-{n}\n")
        if bad:
            out.write("md5,not-a-hash,broken\n")
    return path.stat().st_size


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def run(lines: int, *, bad: bool, folder: Path) -> dict[str, object]:
    db_url = f"sqlite:///{folder / f'upload-{lines}.db'}"
    store = open_store(db_url)
    users.add_user(store, "ada", "admin", "correct horse battery", actor="bench")
    token = users.issue_token(store, "ada", "bench", actor="bench").token
    store.close()
    listed = folder / f"list-{lines}.csv"
    size = write_list(listed, lines, bad=bad)
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TRAWL_WEB_MAX_UPLOAD_MB": "4096"}
    server = subprocess.Popen(
        [sys.executable, "-m", "crawler.cli.main", "--db", db_url, "serve", "--port",
         str(port)], env=env, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/login", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        before = peak_rss_kib(server.pid)
        started = time.perf_counter()
        with listed.open("rb") as upload:
            response = httpx.post(f"{base}/api/v1/lists",
                                  headers={"Authorization": f"Bearer {token}"},
                                  files={"file": (listed.name, upload, "text/csv")},
                                  timeout=3600)
        seconds = time.perf_counter() - started
        after = peak_rss_kib(server.pid)
    finally:
        server.terminate()
        server.wait(30)
    detail = response.json()
    outcome = (f"{detail['added']:,} added" if response.status_code == 201
               else detail.get("errors", [{}])[0].get("line", detail.get("detail", "")))
    return {"lines": lines, "mib": size / 2**20, "status": response.status_code,
            "outcome": outcome, "seconds": seconds, "rss_before": before / 1024,
            "rss_peak": after / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, action="append",
                        help="List length (repeatable); default 100,000 and 1,000,000.")
    parser.add_argument("--bad", action="store_true", help="End each list with a bad line.")
    args = parser.parse_args()
    sizes = args.lines or [100_000, 1_000_000]
    print(f"load average {os.getloadavg()[0]:.1f}")
    print("| lines | file MiB | status | outcome | seconds | server RSS before MiB | "
          "server peak RSS MiB |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="trawl-bench-upload-") as tmp:
        for lines in sizes:
            row = run(lines, bad=args.bad, folder=Path(tmp))
            print(f"| {row['lines']:,} | {row['mib']:.1f} | {row['status']} | {row['outcome']}"
                  f" | {row['seconds']:.1f} | {row['rss_before']:.0f} | {row['rss_peak']:.0f} |",
                  flush=True)


if __name__ == "__main__":
    main()
