"""`make run`: the whole platform on one machine, under one supervisor.

Starts a Tansu broker, creates the topics, migrates every service (SQLite files under
var/ by default, or PostgreSQL schemas; an older install's directory, users and API keys
are carried from the gateway's database into the people service's first), carries an
older install's audit chain and webhooks from the gateway's database into the audit
service (once), starts the services and the gateway as child processes, waits until the
gateway reports the platform ready, loads the demo data once, and prints the URLs. Ctrl-C
stops everything cleanly. A child that crashes is reported (with the end of its log) and
restarted; a broker restart recreates the topics.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVICES = {
    "talent": 8001,
    "learning": 8002,
    "kpi": 8003,
    "commission": 8004,
    "retention": 8005,
    "people": 8006,
    "audit": 8007,
}
# Tables the gateway kept before the people service existed (carried over by
# `python -m zhanli_people import-from-gateway`).
LEGACY_GATEWAY_TABLES = ("org_units", "employees", "directory_imports", "local_users", "api_keys")
GATEWAY_PORT = 8000
BROKER_PORT = 9092
# Prometheus /metrics of each process, on a listener of its own bound to 127.0.0.1 (never
# on the API ports): the gateway on METRICS_PORT_BASE, the services on +1, +2, ... in the
# order of SERVICES; with --port-base (tests, benches) any free ports. The ports are written
# to <var>/metrics-ports.json for a local Prometheus (or a test) to read.
METRICS_PORT_BASE = 9400


def _die_with_parent() -> None:
    """Linux: a child gets SIGTERM when the supervisor dies, even by SIGKILL, so no
    orphaned service keeps its port."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def say(message: str) -> None:
    print(f"[zhanli] {message}", flush=True)


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = 0.0
    history: list[float] = field(default_factory=list)

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            self.argv,
            preexec_fn=_die_with_parent,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )
        log.close()
        self.started_at = time.monotonic()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        if not self.alive():
            return
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def ensure_secrets(var: Path) -> dict[str, Path]:
    """Keys and passwords of the embedded install, made once and kept under var/keys."""
    keys = var / "keys"
    keys.mkdir(parents=True, exist_ok=True)
    os.chmod(keys, 0o700)
    paths = {
        n: keys / f
        for n, f in [
            ("private", "jwt-private.pem"),
            ("public", "jwt-public.pem"),
            ("data", "data-keys"),
            ("admin", "admin-password"),
            ("demo", "demo-password"),
        ]
    }
    if not paths["private"].exists():
        from zhanli_shared.auth import generate_rsa_keypair

        private, public = generate_rsa_keypair()
        paths["private"].write_text(private)
        paths["public"].write_text(public)
    if not paths["data"].exists():
        from zhanli_shared.crypto import KeyRing

        paths["data"].write_text(KeyRing.generate("k1").to_text())
    for name in ("admin", "demo"):
        if not paths[name].exists():
            paths[name].write_text(secrets.token_urlsafe(9))
    for p in paths.values():
        os.chmod(p, 0o600)
    return paths


class Platform:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.var = Path(args.var_dir).resolve()
        self.python = sys.executable
        self.broker: Child | None = None
        self.children: dict[str, Child] = {}
        self._metrics_ports: dict[str, int] | None = None
        self.stopping = False

    def ports(self) -> dict[str, int]:
        ports = {
            name: int(os.environ.get(f"ZHANLI_{name.upper()}_PORT", port))
            for name, port in SERVICES.items()
        }
        if self.args.port_base:
            ports = {name: self.args.port_base + i + 1 for i, name in enumerate(SERVICES)}
        return ports

    def metrics_ports(self) -> dict[str, int]:
        """The metrics listener of every process (gateway first), chosen once."""
        if self._metrics_ports is None:
            names = ["gateway", *SERVICES]
            base = getattr(self.args, "metrics_port_base", None)
            if base is None and self.args.port_base:
                self._metrics_ports = {name: _free_port() for name in names}
            else:
                base = METRICS_PORT_BASE if base is None else base
                self._metrics_ports = {name: base + i for i, name in enumerate(names)}
        return dict(self._metrics_ports)

    def env_for(self, secrets_: dict[str, Path]) -> dict[str, str]:
        ports = self.ports()
        env = {
            **os.environ,
            "ZHANLI_HOME": str(ROOT),
            "ZHANLI_VAR_DIR": str(self.var),
            "ZHANLI_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{self.args.broker_port}",
            "ZHANLI_AUTH_PUBLIC_KEY_FILE": str(secrets_["public"]),
            "ZHANLI_DATA_KEYS_FILE": str(secrets_["data"]),
            "ZHANLI_GATEWAY_AUTH_PRIVATE_KEY_FILE": str(secrets_["private"]),
            # The people service signs the built-in sign-in with the same key.
            "ZHANLI_PEOPLE_AUTH_PRIVATE_KEY_FILE": str(secrets_["private"]),
            # The audit service signs checkpoints of its chain with it.
            "ZHANLI_AUDIT_AUTH_PRIVATE_KEY_FILE": str(secrets_["private"]),
            "ZHANLI_PEOPLE_BOOTSTRAP_ADMIN_PASSWORD": secrets_["admin"].read_text().strip(),
            "ZHANLI_GATEWAY_PORT": str(self.args.gateway_port),
            "ZHANLI_GATEWAY_UPSTREAMS": json.dumps(
                {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
            ),
            "PYTHONUNBUFFERED": "1",
        }
        for name, port in ports.items():
            env[f"ZHANLI_{name.upper()}_PORT"] = str(port)
        env["ZHANLI_METRICS_HOST"] = "127.0.0.1"
        for name, port in self.metrics_ports().items():
            env[f"ZHANLI_{name.upper()}_METRICS_PORT"] = str(port)
        if self.args.database_url:
            for name in ["gateway", *SERVICES]:
                env[f"ZHANLI_{name.upper()}_DATABASE_URL"] = self.args.database_url
                env[f"ZHANLI_{name.upper()}_DATABASE_SCHEMA"] = f"{self.args.schema_prefix}{name}"
        return env

    def start_broker(self) -> None:
        from zhanli_shared.testing.broker import broker_command, wait_for_port

        self.broker = Child(
            "broker",
            broker_command(self.args.broker_port),
            {**os.environ, "RUST_LOG": "warn"},
            self.var / "log" / "broker.log",
        )
        self.broker.start()
        wait_for_port("127.0.0.1", self.args.broker_port, 15)
        self.create_topics()

    def create_topics(self) -> None:
        from zhanli_shared.topics import TopicSettings, create_all, platform_topics

        settings = TopicSettings(kafka_bootstrap_servers=f"127.0.0.1:{self.args.broker_port}")
        created = asyncio.run(create_all(settings))
        say(
            f"broker on 127.0.0.1:{self.args.broker_port}: {len(platform_topics())} topics "
            f"({len(created)} created)"
        )

    def migrate(self, env: dict[str, str]) -> None:
        # The services first, then what the gateway's database still holds of theirs is
        # carried over (the people service's directory, users and API keys; the audit
        # service's chain and webhooks), then the gateway (whose migrations drop the
        # carried tables, and refuse to drop the people tables while they hold rows).
        self._migrate(env, [*SERVICES])
        if self.gateway_holds_people(env):
            self.carry_from_gateway(env)
        self.carry_audit_from_gateway(env)
        self._migrate(env, ["gateway"])
        say("migrations applied: gateway, " + ", ".join(SERVICES))

    def _migrate(self, env: dict[str, str], names: list[str]) -> None:
        procs = {
            name: subprocess.Popen(
                [self.python, "-m", f"zhanli_{name}", "migrate"],
                env=env,
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            for name in names
        }
        failed = []
        for name, proc in procs.items():
            out, _ = proc.communicate(timeout=600)  # a busy machine: migrations queue for the CPU
            if proc.returncode != 0:
                failed.append(name)
                say(f"migration of {name} failed:\n{out.decode(errors='replace')[-2000:]}")
        if failed:
            raise SystemExit(f"migrations failed: {', '.join(failed)}")

    def gateway_holds_people(self, env: dict[str, str]) -> bool:
        """Does the gateway's database still hold the directory, users or API keys of an
        install older than the people service? (SQLite: looked at here; PostgreSQL: the
        carry step itself finds out, and does nothing when there is nothing.)"""
        if self.args.database_url:
            return True
        import sqlite3

        path = self.var / "gateway.db"
        if not path.exists():
            return False
        with contextlib.closing(sqlite3.connect(path)) as db:
            names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            return any(
                db.execute(f'SELECT 1 FROM "{t}" LIMIT 1').fetchone() is not None
                for t in LEGACY_GATEWAY_TABLES
                if t in names
            )

    def carry_from_gateway(self, env: dict[str, str]) -> None:
        url = self.args.database_url or f"sqlite:///{self.var / 'gateway.db'}"
        argv = [self.python, "-m", "zhanli_people", "import-from-gateway", "--url", url]
        if self.args.database_url:
            argv += ["--schema", env["ZHANLI_GATEWAY_DATABASE_SCHEMA"]]
        proc = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, timeout=300)
        out = (proc.stdout + proc.stderr).decode(errors="replace")
        if proc.returncode != 0:
            raise SystemExit(f"carrying the gateway's people data failed:\n{out[-2000:]}")
        for line in out.splitlines():
            if line.startswith("import-from-gateway:") and "nothing to carry" not in line:
                say(line)

    def carry_audit_from_gateway(self, env: dict[str, str]) -> None:
        """An install from before the audit service kept its audit chain and webhooks in
        the gateway's database: carry them over (hashes unchanged; zhanli_audit.carryover)
        after the audit service is migrated and before the gateway's migration drops its
        old tables (which it refuses to do while a chain there was not carried)."""
        if self.args.database_url:
            argv = [
                "--url",
                self.args.database_url,
                "--schema",
                f"{self.args.schema_prefix}gateway",
            ]
        else:
            old = self.var / "gateway.db"
            if not old.exists():
                return  # a new install: nothing to carry
            argv = ["--url", f"sqlite+aiosqlite:///{old}"]
        proc = subprocess.run(
            [self.python, "-m", "zhanli_audit", "import-from-gateway", *argv],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
        out = (proc.stdout + proc.stderr).strip()
        if proc.returncode != 0:
            raise SystemExit(f"carrying the audit chain from the gateway failed:\n{out[-2000:]}")
        last = out.splitlines()[-1] if out else ""
        if "nothing to carry" not in last:
            say(last)

    def start_services(self, env: dict[str, str]) -> None:
        split = set(getattr(self.args, "split", None) or [])
        for name in [*SERVICES, "gateway"]:
            if name in split:
                self.start_split(name, env)
                continue
            child = Child(
                name,
                [self.python, "-m", f"zhanli_{name}", "serve"],
                env,
                self.var / "log" / f"{name}.log",
            )
            child.start()
            self.children[name] = child

    def start_split(self, name: str, env: dict[str, str]) -> None:
        """A service scaled as a customer would: the API (on the service's port, behind
        the gateway), the outbox relay and the event consumer as three processes, each
        restarted on its own. The relay and consumer get ports of their own (health and
        metrics)."""
        for mode in ("api", "relay", "consume"):
            child_env = dict(env)
            if mode != "api":
                child_env[f"ZHANLI_{name.upper()}_PORT"] = str(_free_port())
                child_env[f"ZHANLI_{name.upper()}_METRICS_PORT"] = str(_free_port())
            child_name = name if mode == "api" else f"{name}-{mode}"
            child = Child(
                child_name,
                [self.python, "-m", f"zhanli_{name}", mode],
                child_env,
                self.var / "log" / f"{child_name}.log",
            )
            child.start()
            self.children[child_name] = child

    def wait_ready(self, timeout: float) -> dict:
        url = f"http://127.0.0.1:{self.args.gateway_port}/health/ready"
        deadline = time.monotonic() + timeout
        last: dict = {}
        while time.monotonic() < deadline:
            self.check_children()
            try:
                with urllib.request.urlopen(url, timeout=3) as resp:
                    return json.loads(resp.read())
            except urllib.error.HTTPError as exc:
                last = json.loads(exc.read() or b"{}")
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.25)
        raise SystemExit(f"the platform was not ready within {timeout:.0f}s: {json.dumps(last)}")

    def check_children(self) -> None:
        if self.stopping:
            return
        if self.broker is not None and not self.broker.alive():
            say(
                f"broker exited (code {self.broker.proc.returncode if self.broker.proc else '?'}); "
                "restarting it and recreating the topics (its storage is memory only; the "
                "relays send again what it had acknowledged and forgotten)"
            )
            self.start_broker()
        for child in self.children.values():
            if child.alive():
                continue
            code = child.proc.returncode if child.proc else None
            say(
                f"{child.name} exited with code {code}; last lines of {child.log_path}:\n"
                f"{child.tail()}"
            )
            now = time.monotonic()
            child.history = [t for t in child.history if now - t < 60] + [now]
            if len(child.history) > 5:
                say(f"{child.name} crashed {len(child.history)} times in a minute; not restarting")
                continue
            child.restarts += 1
            child.start()
            say(f"{child.name} restarted (restart #{child.restarts})")

    def stop(self) -> None:
        self.stopping = True
        for child in self.children.values():
            if child.alive() and child.proc is not None:
                child.proc.send_signal(signal.SIGTERM)
        for child in self.children.values():
            child.stop()
        if self.broker is not None:
            self.broker.stop(5)
        say("stopped")

    def check_ports_free(self) -> None:
        import socket

        wanted = {
            "broker": self.args.broker_port,
            "gateway": self.args.gateway_port,
            **self.ports(),
            **{f"{name} metrics": port for name, port in self.metrics_ports().items()},
        }
        for name, port in wanted.items():
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    raise SystemExit(
                        f"port {port} ({name}) is already in use: another "
                        "`make run`? Stop it, or pick other ports (--help)."
                    )

    def run(self) -> int:
        started = time.monotonic()
        self.check_ports_free()
        self.var.mkdir(parents=True, exist_ok=True)
        secrets_ = ensure_secrets(self.var)
        env = self.env_for(secrets_)
        (self.var / "metrics-ports.json").write_text(json.dumps(self.metrics_ports(), indent=2))
        os.environ.update({k: v for k, v in env.items() if k.startswith("ZHANLI_")})
        self.start_broker()
        self.migrate(env)
        self.start_services(env)
        ready = self.wait_ready(self.args.ready_timeout)
        say(
            f"platform ready in {time.monotonic() - started:.1f}s: "
            + ", ".join(f"{k}={v['state']}" for k, v in ready["components"].items())
        )
        base = f"http://127.0.0.1:{self.args.gateway_port}"
        if not self.args.no_demo:
            marker = self.var / "demo-loaded"
            if marker.exists():
                say("demo data already loaded (delete var/ to start over)")
            else:
                sys.path.insert(0, str(Path(__file__).parent))
                from demo import load_demo

                summary = load_demo(
                    base,
                    admin_password=secrets_["admin"].read_text().strip(),
                    demo_password=secrets_["demo"].read_text().strip(),
                )
                marker.write_text(json.dumps(summary, ensure_ascii=False, indent=2))
                say(
                    "demo data loaded: "
                    + ", ".join(f"{k}={v}" for k, v in summary.items() if isinstance(v, int))
                )
        say(f"gateway:   {base}  (API docs: {base}/docs, readiness: {base}/health/ready)")
        for name, port in self.ports().items():
            say(f"{name:<10} http://127.0.0.1:{port}  (internal; reach it through the gateway)")
        say(
            f"sign in:   POST {base}/api/v1/auth/token  user 'admin', password in "
            f"{secrets_['admin']}; demo users (see {self.var / 'demo-loaded'}) use the password "
            f"in {secrets_['demo']}"
        )
        metrics_ports = self.metrics_ports()
        say(
            f"metrics:   http://127.0.0.1:{metrics_ports['gateway']}/metrics (gateway), "
            + ", ".join(f"{n} {p}" for n, p in metrics_ports.items() if n != "gateway")
            + f" (127.0.0.1 only; {self.var / 'metrics-ports.json'})"
        )
        say(f"logs:      {self.var / 'log'}/  -  Ctrl-C stops everything")
        while True:
            time.sleep(1)
            self.check_children()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make run", description=__doc__)
    parser.add_argument("--var-dir", default=os.environ.get("ZHANLI_VAR_DIR", str(ROOT / "var")))
    parser.add_argument(
        "--gateway-port", type=int, default=int(os.environ.get("ZHANLI_GATEWAY_PORT", GATEWAY_PORT))
    )
    parser.add_argument(
        "--broker-port", type=int, default=int(os.environ.get("ZHANLI_BROKER_PORT", BROKER_PORT))
    )
    parser.add_argument(
        "--port-base",
        type=int,
        default=None,
        help="services on port-base+1, +2, ... (in the order of SERVICES)",
    )
    parser.add_argument(
        "--metrics-port-base",
        type=int,
        default=int(os.environ["ZHANLI_METRICS_PORT_BASE"])
        if os.environ.get("ZHANLI_METRICS_PORT_BASE")
        else None,
        help=f"metrics listeners (127.0.0.1) on base, base+1, ... (gateway first); default "
        f"{METRICS_PORT_BASE}, or free ports with --port-base",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("ZHANLI_RUN_DATABASE_URL"),
        help="PostgreSQL URL instead of SQLite files (one schema per service)",
    )
    parser.add_argument("--schema-prefix", default="zhanli_")
    parser.add_argument("--ready-timeout", type=float, default=60.0)
    parser.add_argument("--no-demo", action="store_true", help="do not load the demo data")
    parser.add_argument(
        "--split",
        action="append",
        choices=list(SERVICES),
        help="run this service as three processes (api, relay, consume) instead of one "
        "`serve` (repeatable)",
    )
    args = parser.parse_args(argv)
    platform = Platform(args)

    def on_signal(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        return platform.run()
    except KeyboardInterrupt:
        return 0
    finally:
        platform.stop()


if __name__ == "__main__":
    sys.exit(main())
