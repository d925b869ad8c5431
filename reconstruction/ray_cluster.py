"""`cruxlab analyze --ray`: the analysis tasks on a Ray cluster. The only module that imports Ray (lazily).

    for outcome in ray_outcomes(tasks, snapshot, "auto"):        # an existing cluster (`ray start --head`)
    for outcome in ray_outcomes(tasks, snapshot, "10.0.0.5:6379"):
    for outcome in ray_outcomes(tasks, snapshot, "local", cpus=2):  # a private instance on this machine

Each task is `reconstruction.batch.run_task` (video -> skeleton -> moves, no database) with one CPU; the
driver (this process) stores what comes back, so DuckDB only ever has one writer. Workers on other machines
need cruxlab installed (same version) and must see the videos and the stage cache at the same paths
(shared storage). Install: `scripts/setup.sh ray` (= `pip install -e .[ray]`).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator, Sequence

from cruxlab.errors import BackendUnavailableError, CruxlabError
from reconstruction.batch import TaskOutcome, run_task
from reconstruction.inputs import VideoTask
from reconstruction.pipeline import StoreSnapshot

#: Private local instances keep to the loopback interface and a small object store (results are a few MB).
LOCAL_OBJECT_STORE_BYTES = 256 * 1024 * 1024


def _ray():
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # nothing phones home from a gym's machines
    try:
        import ray
    except ImportError as exc:
        raise BackendUnavailableError(
            f"--ray needs Ray, which is not installed ({exc}); run `scripts/setup.sh ray` "
            "(= pip install -e '.[ray]') on this machine and on every cluster node, or use --jobs N without --ray"
        ) from None
    return ray


def connect(address: str, cpus: int | None = None):
    """ray.init for `address` ('local' = a private instance on 127.0.0.1 with `cpus` CPUs, no dashboard);
    CruxlabError naming the fix when no cluster answers."""
    if address != "local":
        _use_token_if_there_is_one()  # read by Ray when it is imported
    ray = _ray()
    if ray.is_initialized():
        return ray
    try:
        if address == "local":
            ray.init(address="local", num_cpus=cpus or os.cpu_count(), include_dashboard=False,
                     _node_ip_address="127.0.0.1", object_store_memory=LOCAL_OBJECT_STORE_BYTES,
                     log_to_driver=False, configure_logging=False)
        else:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CruxlabError(
            f"cannot reach a Ray cluster at {address!r} ({why}). "
            "Start one with `ray start --head` on the head machine and `ray start --address HEAD:6379` on the "
            "others, with the same token in ~/.ray/auth_token on every machine when the cluster uses token "
            "authentication (see the README); pass its address, or use --ray local / --jobs N on this machine"
        ) from None
    return ray


def _use_token_if_there_is_one() -> None:
    """Send this machine's Ray token (RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token) when joining a
    cluster: `ray start --head` enables token authentication when a token exists, but a driver that is not
    told RAY_AUTH_MODE=token connects without one and is refused. A cluster without authentication ignores it."""
    if "RAY_AUTH_MODE" in os.environ:
        return
    path = os.environ.get("RAY_AUTH_TOKEN_PATH") or os.path.expanduser("~/.ray/auth_token")
    if os.environ.get("RAY_AUTH_TOKEN") or os.path.isfile(path):
        os.environ["RAY_AUTH_MODE"] = "token"


def _ray_task(index: int, task: VideoTask, snapshot: StoreSnapshot, cores: int = 1) -> TaskOutcome:
    from reconstruction import banded

    banded.share_cores(cores)  # the CPUs Ray gave the task: the node's others run other tasks
    if not task.video.is_file():
        return TaskOutcome(index, "failed", error=(
            f"{task.video} is not visible on Ray node {socket.gethostname()}: every node must see the videos "
            "at the same path (shared storage such as NFS/SMB mounted alike on every machine)"))
    return run_task(index, task, snapshot)


def ray_outcomes(tasks: Sequence[VideoTask], snapshot: StoreSnapshot, address: str, *, cpus: int | None = None,
                 cpus_per_task: float = 1.0) -> Iterator[TaskOutcome]:
    """Outcomes of the tasks as they finish on the cluster. At most twice the cluster's CPUs are out at a
    time; a worker that dies is retried once, then reported as failed. Shuts a 'local' instance down at
    the end (a cluster it connected to keeps running)."""
    ray = connect(address, cpus)
    pending: dict = {}
    try:
        remote = ray.remote(num_cpus=cpus_per_task, max_retries=1)(_ray_task)
        snap = ray.put(snapshot)
        limit = max(2, int(2 * ray.cluster_resources().get("CPU", 1) / cpus_per_task))
        queue = list(enumerate(tasks))[::-1]
        while queue or pending:
            while queue and len(pending) < limit:
                i, task = queue.pop()
                pending[remote.remote(i, task, snap, max(1, int(cpus_per_task)))] = i
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                i = pending.pop(ref)
                try:
                    yield ray.get(ref)
                except ray.exceptions.RayError as exc:
                    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                    yield TaskOutcome(i, "failed", error=f"the Ray task failed ({type(exc).__name__}: {first}); "
                                      "run the same command again to retry it (stored videos are skipped)")
    finally:
        for ref in pending:  # interrupted: stop what is still running
            try:
                ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001 - already finished or gone
                pass
        ray.shutdown()
