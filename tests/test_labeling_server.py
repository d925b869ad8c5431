"""Local-server bookkeeping and connection resolution, without starting Label Studio."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

from labeling import server
from labeling.client import LabelStudioAuthError, resolve_connection
from labeling.server import LabelStudioUnavailableError, ServerState


def _state(data_dir: Path, pid: int) -> ServerState:
    return ServerState("http://127.0.0.1:9", pid, 9, str(data_dir), str(data_dir / "files"), str(data_dir / "log"))


def test_a_stale_record_never_stops_an_unrelated_process(tmp_path):
    """After a reboot the recorded PID may belong to anything: `serve --stop` must not kill it."""
    data_dir = tmp_path / "ls"
    data_dir.mkdir()
    (data_dir / server.STATE_FILE).write_text(json.dumps(asdict(_state(data_dir, os.getpid()))))
    assert not server.is_our_server(_state(data_dir, os.getpid()))
    assert server.status(data_dir) == (_state(data_dir, os.getpid()), False)
    assert server.stop(data_dir) is None
    assert server.pid_alive(os.getpid())
    assert not (data_dir / server.STATE_FILE).exists()  # the stale record is gone


def test_stop_pid_ends_a_process_group_and_reports_dead_ones():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    assert server.pid_alive(proc.pid)
    assert server.stop_pid(proc.pid, timeout_s=5, process=proc) is True
    assert proc.returncode is not None and not server.pid_alive(proc.pid)
    assert server.stop_pid(proc.pid, process=proc) is False


def test_credentials_come_from_the_environment_or_are_generated(tmp_path, monkeypatch):
    for k in ("CRUXLAB_LS_USER", "CRUXLAB_LS_PASSWORD", "CRUXLAB_LS_TOKEN"):
        monkeypatch.delenv(k, raising=False)
    creds, generated = server._new_credentials()
    assert generated and creds.user == server.DEFAULT_USER and len(creds.token) == 40 and len(creds.password) >= 12
    assert server._new_credentials()[0].token != creds.token
    monkeypatch.setenv("CRUXLAB_LS_USER", "a@b.c")
    monkeypatch.setenv("CRUXLAB_LS_PASSWORD", "pw-123456")
    monkeypatch.setenv("CRUXLAB_LS_TOKEN", "tok-123456")
    assert server._new_credentials() == (server.Credentials("a@b.c", "pw-123456", "tok-123456"), False)
    path = server._save_credentials(tmp_path / "ls", creds)
    assert path == tmp_path / "ls-credentials.json"
    assert path.stat().st_mode & 0o777 == 0o600
    assert server.load_credentials(tmp_path / "ls") == creds


def test_server_environment_is_offline_and_private(tmp_path, monkeypatch):
    monkeypatch.setenv("LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT", "/")  # the user's own settings do not leak in
    monkeypatch.setenv("USER_TOKEN", "leak")
    env = server.server_env(tmp_path, tmp_path / "files")
    assert env["HOME"] == str(tmp_path / "home")
    assert env["LABEL_STUDIO_BASE_DATA_DIR"] == str(tmp_path)
    assert env["LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT"] == str(tmp_path / "files")
    assert env["SENTRY_DSN"] == "" and env["FRONTEND_SENTRY_DSN"] == ""
    assert env["COLLECT_ANALYTICS"] == "false" and env["LATEST_VERSION_CHECK"] == "false"
    assert "USER_TOKEN" not in env


def test_connection_precedence(tmp_path, monkeypatch):
    for k in ("CRUXLAB_LS_URL", "CRUXLAB_LS_TOKEN", "CRUXLAB_LS_DOCUMENT_ROOT"):
        monkeypatch.delenv(k, raising=False)
    data_dir = tmp_path / "ls"
    with pytest.raises(LabelStudioUnavailableError, match="cruxlab label serve.*CRUXLAB_LS_URL"):
        resolve_connection(data_dir=data_dir)
    # the local server recorded by `serve`
    data_dir.mkdir()
    (data_dir / server.STATE_FILE).write_text(json.dumps(asdict(_state(data_dir, 1))))
    server._save_credentials(data_dir, server.Credentials("u@x", "p", "local-token"))
    conn = resolve_connection(data_dir=data_dir)
    assert (conn.url, conn.token, conn.document_root) == ("http://127.0.0.1:9", "local-token", data_dir / "files")
    # an external server from the environment wins, and needs its token
    monkeypatch.setenv("CRUXLAB_LS_URL", "http://ls.example:8080/")
    with pytest.raises(LabelStudioAuthError, match="CRUXLAB_LS_TOKEN"):
        resolve_connection(data_dir=data_dir)
    monkeypatch.setenv("CRUXLAB_LS_TOKEN", "env-token")
    conn = resolve_connection(data_dir=data_dir)
    assert (conn.url, conn.token, conn.document_root) == ("http://ls.example:8080", "env-token", None)
    monkeypatch.setenv("CRUXLAB_LS_DOCUMENT_ROOT", str(tmp_path / "served"))
    assert resolve_connection(data_dir=data_dir).document_root == tmp_path / "served"
    # explicit arguments win over everything
    assert resolve_connection("http://other:1", "arg-token", data_dir=data_dir).token == "arg-token"


def test_push_without_a_document_root_says_what_to_set(tmp_path):
    from cruxlab.errors import InputError
    from labeling import sync
    from labeling.client import Connection, LabelStudioClient

    client = LabelStudioClient(Connection("http://127.0.0.1:9", "t", None, "test"))
    with pytest.raises(InputError, match="CRUXLAB_LS_DOCUMENT_ROOT"):
        sync.push(tmp_path / "none.duckdb", client)
