"""A local Label Studio server: install on first use, start, health, stop, and the API token.

Label Studio lives in its own virtual environment (`.venv-ls`, made by scripts/setup_labelstudio.sh) because
it pins numpy/Django versions the analysis stack does not want. Its first start migrates a fresh database for
over a minute; scripts/setup_labelstudio.sh keeps a migrated, user-less TEMPLATE data dir, and a new data dir
starts as a copy of it (about ten seconds).

Traps this module handles (Label Studio 1.23.2, see ../shared/notes/service-stack.md):
- `label-studio --version` STARTS a server on 0.0.0.0; we only ever run `label-studio start`.
- `--host` is the public URL, not the bind address: we bind with `--internal-host 127.0.0.1`.
- A busy port is silently replaced by the next free one: we choose a free port and check who answers.
- Legacy API tokens ("Token <key>") work only when the organization is created with them enabled: the admin
  user is created on the first start with `--user-token` and `--enable-legacy-api-token`.
- Offline: no version check, no Sentry, no analytics; HOME points into the data dir.
- Local files (the videos we push) are served only with LOCAL_FILES_SERVING_ENABLED and a DOCUMENT_ROOT; each
  project's local storage must be a sub-directory of that root.

A running server is described by `server.json` in its data dir (url, pid, document root); its admin
credentials are saved once, readable only by the user, in `<data dir>-credentials.json` beside it. Secrets
never appear on a command line (they reach Label Studio through its environment), and the data dir, whose
sqlite file holds the API token, is mode 700 (the file 600).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from cruxlab.errors import BackendUnavailableError, CruxlabError
from cruxlab.processes import free_port, pid_alive, process_runs

log = logging.getLogger(__name__)

LS_VERSION = "1.23.2"
DEFAULT_USER = "coach@cruxlab.local"
DEFAULT_PORT = 8080
STATE_FILE = "server.json"
FILES_DIR = "files"  # LOCAL_FILES_DOCUMENT_ROOT inside the data dir


class LabelStudioUnavailableError(BackendUnavailableError):
    """No Label Studio server answers (not installed, not started, or stopped)."""


class LabelStudioStartError(CruxlabError):
    """A local Label Studio server did not come up."""


# --------------------------------------------------------------------------------------------------- paths
def project_root() -> Path:
    """The cruxlab checkout (holds scripts/setup_labelstudio.sh) when running from one, else the cwd."""
    here = Path(__file__).resolve().parents[1]
    return here if (here / "scripts" / "setup_labelstudio.sh").is_file() else Path.cwd()


def ls_venv() -> Path:
    """Label Studio's own virtual environment (env CRUXLAB_LS_VENV, default <checkout>/.venv-ls)."""
    return Path(os.environ.get("CRUXLAB_LS_VENV") or project_root() / ".venv-ls")


def ls_executable() -> Path:
    return ls_venv() / "bin" / "label-studio"


def template_dir() -> Path:
    """The migrated, user-less data dir every new data dir is copied from."""
    return Path(os.environ.get("CRUXLAB_LS_TEMPLATE") or project_root() / "cache" / "labelstudio" /
                f"template-{LS_VERSION}")


def default_data_dir() -> Path:
    """Where `cruxlab label serve` keeps its database and files (env CRUXLAB_LS_DATA_DIR)."""
    return Path(os.environ.get("CRUXLAB_LS_DATA_DIR") or Path("data") / "labelstudio").absolute()


def credentials_path(data_dir: Path) -> Path:
    return data_dir.parent / f"{data_dir.name}-credentials.json"


# ------------------------------------------------------------------------------------------------ records
@dataclass(frozen=True)
class Credentials:
    """The admin user of a local server: e-mail (the login), password (web UI) and API token."""

    user: str
    password: str
    token: str


@dataclass(frozen=True)
class ServerState:
    """A local server as `serve` started it: URL, process id, data dir and the local-files document root."""

    url: str
    pid: int
    port: int
    data_dir: str
    document_root: str
    log_path: str


def install(quiet: bool = False) -> None:
    """Create .venv-ls and the template data dir when missing (scripts/setup_labelstudio.sh, ~1 min once)."""
    if ls_executable().is_file() and (template_dir() / ".cruxlab-template").is_file():
        return
    script = project_root() / "scripts" / "setup_labelstudio.sh"
    if not script.is_file():
        raise LabelStudioUnavailableError(
            f"Label Studio is not installed at {ls_venv()} and scripts/setup_labelstudio.sh is not here to "
            f"install it; create that venv with `uv venv {ls_venv()} && uv pip install --python "
            f"{ls_venv()}/bin/python label-studio=={LS_VERSION}` or set CRUXLAB_LS_VENV"
        )
    if not quiet:
        print(f"Installing Label Studio {LS_VERSION} into {ls_venv()} (first use, about a minute) ...",
              file=sys.stderr, flush=True)
    proc = subprocess.run(["bash", str(script)], cwd=project_root(), capture_output=True, text=True)
    if proc.returncode != 0:
        raise LabelStudioUnavailableError(
            f"installing Label Studio failed (scripts/setup_labelstudio.sh exit {proc.returncode}):\n"
            f"{(proc.stderr or proc.stdout)[-2000:]}\nFix the error above and run `cruxlab label serve` again"
        )


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def is_healthy(url: str, timeout_s: float = 2.0) -> bool:
    """True when a Label Studio answers `GET /health` with status UP."""
    import requests

    try:
        r = requests.get(url.rstrip("/") + "/health", timeout=timeout_s)
        return r.ok and r.json().get("status") == "UP"
    except (requests.RequestException, ValueError):
        return False


def is_our_server(state: ServerState) -> bool:
    """The recorded PID is alive AND is Label Studio serving that data dir (not a process that reused the PID
    after a reboot)."""
    return process_runs(state.pid, "label-studio", state.data_dir)


def server_env(data_dir: Path, document_root: Path) -> dict[str, str]:
    """Environment of a Label Studio process: offline, files under the data dir, local files served."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LABEL_STUDIO_", "DJANGO_"))}
    env.update({
        "HOME": str(data_dir / "home"),
        "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
        "LATEST_VERSION_CHECK": "false",
        "LABEL_STUDIO_LATEST_VERSION_CHECK": "false",
        "SENTRY_DSN": "",
        "FRONTEND_SENTRY_DSN": "",
        "COLLECT_ANALYTICS": "false",
        "LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED": "true",
        "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(document_root),
        "PYTHONUNBUFFERED": "1",
    })
    for key in ("USERNAME", "PASSWORD", "USER_TOKEN"):  # LS reads these too; ours are set by `launch`
        env.pop(key, None)
    return env


def _make_private(data_dir: Path) -> None:
    """Only the user may enter the data dir (its sqlite file holds the API token) or read that file."""
    os.chmod(data_dir, 0o700)
    db = data_dir / "label_studio.sqlite3"
    if db.is_file():
        os.chmod(db, 0o600)


def _new_credentials() -> tuple[Credentials, bool]:
    """Credentials from CRUXLAB_LS_USER/PASSWORD/TOKEN, generating what is missing. Returns (creds, generated)."""
    user = os.environ.get("CRUXLAB_LS_USER") or DEFAULT_USER
    password = os.environ.get("CRUXLAB_LS_PASSWORD")
    token = os.environ.get("CRUXLAB_LS_TOKEN")
    generated = not password or not token
    return Credentials(user, password or secrets.token_urlsafe(12), token or secrets.token_hex(20)), generated


def load_credentials(data_dir: Path) -> Credentials | None:
    path = credentials_path(data_dir)
    if not path.is_file():
        return None
    return Credentials(**json.loads(path.read_text()))


def _save_credentials(data_dir: Path, creds: Credentials) -> Path:
    path = credentials_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(asdict(creds), fh, indent=2)
    return path


def read_state(data_dir: Path) -> ServerState | None:
    path = data_dir / STATE_FILE
    if not path.is_file():
        return None
    try:
        return ServerState(**json.loads(path.read_text()))
    except (ValueError, TypeError):
        return None


def prepare_data_dir(data_dir: Path) -> bool:
    """Make `data_dir` a migrated Label Studio data dir (a copy of the template). True when it was new."""
    if (data_dir / "label_studio.sqlite3").is_file():
        return False
    template = template_dir()
    if not (template / ".cruxlab-template").is_file():
        install()
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(data_dir, 0o700)  # before the token lands in it
    shutil.copytree(template, data_dir, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns(".cruxlab-template", "migrate.log", ".env"))
    return True


@dataclass
class RunningServer:
    """A Label Studio process started by `start`; `stop()` ends it by its PID."""

    state: ServerState
    credentials: Credentials
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return self.state.url

    @property
    def token(self) -> str:
        return self.credentials.token

    @property
    def document_root(self) -> Path:
        return Path(self.state.document_root)

    def wait_ready(self, timeout_s: float = 180.0) -> None:
        """Wait until the server answers /health. A server this object started is stopped when it fails to
        come up or the wait is interrupted; one found already running is left alone."""
        proc = self.process
        state = self.state
        log_path = Path(state.log_path)
        deadline = time.monotonic() + timeout_s
        try:
            while time.monotonic() < deadline:
                if (proc.poll() is not None) if proc is not None else not pid_alive(state.pid):
                    break
                if is_healthy(state.url, timeout_s=1.0):
                    return
                time.sleep(0.3)
        except BaseException:  # interrupted while it boots: do not leave a half-started server behind
            if proc is not None:
                self.stop(5.0)
            raise
        tail = log_path.read_text(errors="replace")[-3000:] if log_path.is_file() else ""
        if proc is not None:
            self.stop(5.0)
        exited = proc.returncode if proc is not None else None
        reason = f"exited with status {exited}" if exited is not None else f"did not answer within {timeout_s:.0f} s"
        raise LabelStudioStartError(
            f"Label Studio {reason} (log {log_path}):\n{tail}\nFix the problem above, or delete "
            f"{state.data_dir} to start from a fresh copy of the template (this loses its projects)"
        )

    def stop(self, timeout_s: float = 15.0) -> None:
        stop_pid(self.state.pid, timeout_s, self.process)
        (Path(self.state.data_dir) / STATE_FILE).unlink(missing_ok=True)


def stop_pid(pid: int, timeout_s: float = 15.0, process: subprocess.Popen | None = None) -> bool:
    """SIGTERM the server's process group (it was started in its own session), SIGKILL after `timeout_s`.
    Returns False when no such process was running."""
    if not pid_alive(pid):
        if process is not None:
            process.wait()
        return False
    try:
        os.killpg(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            return True
        if process is None and not pid_alive(pid):
            return True
        time.sleep(0.1)
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if process is not None:
        process.wait(timeout=5)
    return True


def launch(data_dir: str | Path | None = None, *, port: int | None = None) -> tuple[RunningServer, bool]:
    """Spawn Label Studio on 127.0.0.1 for `data_dir` without waiting for it (see `start`); call
    `RunningServer.wait_ready()` before using it. Returns the server and whether credentials were generated."""
    data_dir = Path(data_dir).absolute() if data_dir else default_data_dir()
    install()
    existing = read_state(data_dir)
    if existing and is_our_server(existing):  # running, or still booting: `wait_ready` waits for it
        creds = load_credentials(data_dir)
        if creds is None:
            raise LabelStudioStartError(
                f"a Label Studio server already runs for {data_dir} at {existing.url} (PID {existing.pid}) but "
                f"its credentials file {credentials_path(data_dir)} is gone; stop it with `cruxlab label serve "
                "--stop` and start again"
            )
        return RunningServer(existing, creds), False
    new = prepare_data_dir(data_dir)
    creds = None if new else load_credentials(data_dir)
    generated = False
    if creds is None:
        creds, generated = _new_credentials()
        _save_credentials(data_dir, creds)
    document_root = data_dir / FILES_DIR
    document_root.mkdir(parents=True, exist_ok=True)
    (data_dir / "home").mkdir(exist_ok=True)
    if port is None:
        port = DEFAULT_PORT if not port_in_use(DEFAULT_PORT) else free_port()
    elif port_in_use(port):
        raise LabelStudioStartError(
            f"port {port} on 127.0.0.1 is in use; choose another with --port (or omit it for a free one)"
        )
    url = f"http://127.0.0.1:{port}"
    # The admin user is passed on every start: the first creates it, its token and (with legacy tokens
    # enabled) the organization; later ones find the user and change nothing. Through the environment, never
    # the command line: anyone on the machine can read a command line (`ps`), only the user its environment.
    cmd = [str(ls_executable()), "start", "--data-dir", str(data_dir), "--internal-host", "127.0.0.1",
           "--port", str(port), "--no-browser", "--log-level", "WARNING", "--enable-legacy-api-token"]
    env = server_env(data_dir, document_root)
    env.update({"LABEL_STUDIO_USERNAME": creds.user, "LABEL_STUDIO_PASSWORD": creds.password,
                "LABEL_STUDIO_USER_TOKEN": creds.token})
    _make_private(data_dir)
    log_path = data_dir / "server.log"
    with open(log_path, "ab") as log_fh:
        proc = subprocess.Popen(cmd, cwd=data_dir, env=env, stdout=log_fh, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    state = ServerState(url, proc.pid, port, str(data_dir), str(document_root), str(log_path))
    # Recorded at once, so `serve --stop` finds the process even if whoever launched it dies while it boots.
    (data_dir / STATE_FILE).write_text(json.dumps(asdict(state), indent=2))
    return RunningServer(state, creds, proc), generated


def start(
    data_dir: str | Path | None = None,
    *,
    port: int | None = None,
    timeout_s: float = 180.0,
) -> tuple[RunningServer, bool]:
    """Start Label Studio on 127.0.0.1 for `data_dir` and wait until it answers.

    The first start of a data dir copies the template, creates the admin user with the API token (from
    CRUXLAB_LS_USER / CRUXLAB_LS_PASSWORD / CRUXLAB_LS_TOKEN or generated) and saves the credentials beside
    the data dir. Port: the given one, else 8080, else a free one. Returns the server and whether credentials
    were generated now (print them once). Raises LabelStudioStartError (with the tail of the server log) when
    it does not come up.
    """
    server, generated = launch(data_dir, port=port)
    server.wait_ready(timeout_s)
    return server, generated


def status(data_dir: str | Path | None = None) -> tuple[ServerState | None, bool]:
    """The recorded local server of `data_dir` and whether it answers now."""
    data_dir = Path(data_dir).absolute() if data_dir else default_data_dir()
    state = read_state(data_dir)
    return state, bool(state and is_our_server(state) and is_healthy(state.url))


def stop(data_dir: str | Path | None = None) -> ServerState | None:
    """Stop the local server recorded in `data_dir` (by its PID). Returns its state, or None if none ran."""
    data_dir = Path(data_dir).absolute() if data_dir else default_data_dir()
    state = read_state(data_dir)
    if state is None:
        return None
    ran = is_our_server(state) and stop_pid(state.pid)
    (data_dir / STATE_FILE).unlink(missing_ok=True)
    return state if ran else None
