"""Is a recorded process still ours? For anything that writes a PID down and later looks at it again (the Label
Studio server, background analyses): the PID must be alive, not a zombie, and still run what we started
(after a reboot or a long time the number may belong to another program)."""

from __future__ import annotations

import os


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


def process_runs(pid: int | None, *markers: str) -> bool:
    """True when `pid` is alive and its command line contains every marker (e.g. the program and the folder it
    serves). Without /proc (not Linux) an alive PID is trusted."""
    if not pid_alive(pid):
        return False
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return True
    return all(m in cmd for m in markers)
