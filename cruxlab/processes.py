"""Is a recorded process still ours? For anything that writes a PID down and later looks at it again (the Label
Studio server, background analyses): the PID must be alive, not a zombie, and still run what we started
(after a reboot or a long time the number may belong to another program). And a free port for a server
started next."""

from __future__ import annotations

import os
import socket


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on `host` that nothing listens on now (the OS picks it), for a server started next."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def pid_alive(pid: int | None) -> bool:
    """True when process `pid` exists and is not a zombie (an exited child nobody reaped yet)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def command_line(pid: int) -> list[str] | None:
    """The arguments process `pid` runs with, or None where they cannot be read (gone, no /proc)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return [a.decode(errors="replace") for a in fh.read().split(b"\0") if a]
    except OSError:
        return None


def process_runs(pid: int | None, *markers: str) -> bool:
    """True when `pid` is alive and its command line contains every marker (e.g. the program and the folder it
    serves). Without /proc (not Linux) an alive PID is trusted."""
    if not pid_alive(pid):
        return False
    args = command_line(pid)
    if args is None:
        return True
    cmd = " ".join(args)
    return all(m in cmd for m in markers)


def describe(pid: int) -> str:
    """A short name of what a process runs, for messages: "cruxlab sql", "streamlit run app.py", or ''."""
    from pathlib import Path

    args = command_line(pid) or []
    names = [Path(a).name for a in args]
    for i, n in enumerate(names):
        if n in ("cruxlab", "cruxlab.cli"):
            rest = iter(args[i + 1:])
            for a in rest:
                if a == "--db":
                    next(rest, None)
                elif not a.startswith("-"):
                    return f"cruxlab {a}"
            return "cruxlab"
    return " ".join(names[:3])[:60]
