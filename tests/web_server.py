"""`unwant serve` in a subprocess on a free port, for the page's tests (the API's and the browser's)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A running `unwant serve --model MODEL`; `.url`, `.output()` (what it printed), `.stop()` (SIGTERM, as `kill`)."""

    def __init__(self, model: str, tmp: Path, *extra: str, timeout: float = 180, threads: int | None = 1):
        self.port, self.tmp = free_port(), tmp
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = tmp / "server.log"
        # one thread, as the tests' own Editor: the same pixels; TMPDIR: the server's temporary folder is seen here
        env = {**os.environ, "TMPDIR": str(tmp), "PYTHONUNBUFFERED": "1", **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
        with open(self.log, "w") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--model", model, "--port", str(self.port), "--device", "cpu", *extra],
                                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}:\n{self.output()}")
            try:
                with urllib.request.urlopen(self.url, timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"the server did not answer within {timeout} s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode
