"""Label Studio API access through label-studio-sdk 2.x, with errors that say what to do.

`resolve_connection` finds the server: explicit URL/token, else CRUXLAB_LS_URL + CRUXLAB_LS_TOKEN, else the
local server `cruxlab label serve` started (its server.json and saved credentials). `LabelStudioClient`
wraps the few SDK calls cruxlab needs; every network or HTTP failure becomes a CruxlabError:
- nothing answers       -> LabelStudioUnavailableError ("start it with `cruxlab label serve` ... retry")
- 401/403               -> LabelStudioAuthError ("the token is wrong; where to find the right one")
- any other API refusal -> LabelStudioApiError with the server's own validation message.
Nothing is cached: each command asks the server afresh.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from cruxlab.errors import CruxlabError
from labeling import server
from labeling.server import LabelStudioUnavailableError

T = TypeVar("T")


class LabelStudioAuthError(CruxlabError):
    """The server refused the API token."""


class LabelStudioApiError(CruxlabError):
    """The server refused a request (validation error, missing object, server error)."""


@dataclass(frozen=True)
class Connection:
    """Where Label Studio answers and how to authenticate.

    document_root: the server's LOCAL_FILES_DOCUMENT_ROOT as a path on this machine (pushed videos and CSVs
    are written below it), or None when unknown (an external server without CRUXLAB_LS_DOCUMENT_ROOT).
    source: how it was found, for messages.
    """

    url: str
    token: str
    document_root: Path | None
    source: str


def resolve_connection(
    url: str | None = None,
    token: str | None = None,
    *,
    data_dir: str | Path | None = None,
    document_root: str | Path | None = None,
) -> Connection:
    """The server to talk to: arguments, then CRUXLAB_LS_URL/CRUXLAB_LS_TOKEN, then the local `serve` server."""
    url = url or os.environ.get("CRUXLAB_LS_URL")
    doc_root = document_root or os.environ.get("CRUXLAB_LS_DOCUMENT_ROOT")
    if url:
        token = token or os.environ.get("CRUXLAB_LS_TOKEN")
        if not token:
            raise LabelStudioAuthError(
                f"no API token for {url}: set CRUXLAB_LS_TOKEN (Label Studio > Account & Settings > Access Token, "
                "or a personal access token) or pass --token"
            )
        return Connection(url.rstrip("/"), token, Path(doc_root).absolute() if doc_root else None,
                          "CRUXLAB_LS_URL" if url == os.environ.get("CRUXLAB_LS_URL") else "--url")
    ddir = Path(data_dir).absolute() if data_dir else server.default_data_dir()
    state = server.read_state(ddir)
    creds = server.load_credentials(ddir)
    if state is None or creds is None:
        raise LabelStudioUnavailableError(
            f"no Label Studio server is configured: start the local one with `cruxlab label serve` (data in "
            f"{ddir}), or point to a running server with CRUXLAB_LS_URL and CRUXLAB_LS_TOKEN"
        )
    return Connection(state.url, token or creds.token,
                      Path(doc_root).absolute() if doc_root else Path(state.document_root),
                      f"local server ({ddir})")


def parse_time(value: Any) -> datetime:
    """A Label Studio timestamp (ISO string or aware datetime) as naive UTC, like every cruxlab timestamp."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if not isinstance(value, datetime):
        raise LabelStudioApiError(f"unexpected timestamp {value!r} from Label Studio")
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


def as_dict(obj: Any) -> dict:
    """SDK objects (pydantic models) and plain dicts alike as a dict."""
    if isinstance(obj, dict):
        return obj
    if hasattr(obj, "model_dump"):
        return obj.model_dump()
    return dict(obj)


class LabelStudioClient:
    """The calls cruxlab makes, each translating transport and HTTP errors into CruxlabErrors."""

    def __init__(self, conn: Connection, timeout_s: float = 60.0) -> None:
        from label_studio_sdk import LabelStudio

        self.conn = conn
        self.url = conn.url
        self._ls = LabelStudio(base_url=conn.url, api_key=conn.token, timeout=timeout_s)

    # ------------------------------------------------------------------------------------- errors
    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        import httpx
        from label_studio_sdk.core.api_error import ApiError

        try:
            yield
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError) as exc:
            raise LabelStudioUnavailableError(
                f"Label Studio does not answer at {self.url} ({exc.__class__.__name__}) while trying to {what}. "
                "Nothing was changed: start the server (`cruxlab label serve`, or check CRUXLAB_LS_URL) and run "
                "the command again"
            ) from None
        except httpx.TimeoutException:
            raise LabelStudioUnavailableError(
                f"Label Studio at {self.url} did not reply in time while trying to {what}; it may be busy. "
                "Run the command again (what was already done is not repeated)"
            ) from None
        except ApiError as exc:
            if exc.status_code in (401, 403):
                raise LabelStudioAuthError(
                    f"Label Studio at {self.url} rejected the API token ({exc.status_code}: "
                    f"{_detail(exc.body)}) while trying to {what}. Use the token of a user of that server: "
                    "CRUXLAB_LS_TOKEN (Account & Settings > Access Token), or unset it to use the token saved by "
                    "`cruxlab label serve`"
                ) from None
            raise LabelStudioApiError(
                f"Label Studio at {self.url} refused to {what} ({exc.status_code}: {_detail(exc.body)})"
            ) from None

    def _call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        with self._errors(what):
            return fn(*args, **kwargs)

    # ------------------------------------------------------------------------------------- calls
    def whoami(self) -> dict:
        """The token's user: checks that the server answers (one quick probe, no retries) and takes the token."""
        import requests

        try:
            requests.get(self.url + "/health", timeout=10)
        except requests.ConnectionError:
            raise LabelStudioUnavailableError(
                f"Label Studio does not answer at {self.url} (connection refused). Nothing was changed: start the "
                "server (`cruxlab label serve`, or check CRUXLAB_LS_URL) and run the command again"
            ) from None
        except requests.Timeout:
            raise LabelStudioUnavailableError(
                f"Label Studio at {self.url} did not reply within 10 s. Nothing was changed: check the server and "
                "run the command again"
            ) from None
        return as_dict(self._call("identify the API token's user", self._ls.users.whoami))

    def user_emails(self) -> dict[int, str]:
        users = self._call("list users", self._ls.users.list)
        return {int(u.id): (u.email or u.username or f"user {u.id}") for u in users}

    def find_project(self, title: str) -> dict | None:
        with self._errors(f"find project {title!r}"):
            for p in self._ls.projects.list(title=title):
                if p.title == title:
                    return self.project(int(p.id))
        return None

    def project(self, project_id: int) -> dict:
        return as_dict(self._call(f"read project {project_id}", self._ls.projects.get, id=project_id))

    def create_project(self, title: str, label_config: str, description: str) -> dict:
        p = self._call(f"create project {title!r}", self._ls.projects.create, title=title,
                       label_config=label_config, description=description)
        return self.project(int(p.id))

    def set_label_config(self, project_id: int, label_config: str) -> None:
        self._call(f"replace the labelling config of project {project_id}", self._ls.projects.update,
                   id=project_id, label_config=label_config)

    def ensure_local_storage(self, project_id: int, path: Path, title: str = "cruxlab files") -> int:
        """A local-files import storage of the project at `path` (so the server may serve files below it)."""
        path = Path(path)
        with self._errors(f"list the local storages of project {project_id}"):
            for s in self._ls.import_storage.local.list(project=project_id):
                if s.path and os.path.normpath(s.path) == os.path.normpath(str(path)):
                    return int(s.id)
        s = self._call(f"add local storage {path} to project {project_id}", self._ls.import_storage.local.create,
                       project=project_id, path=str(path), title=title, use_blob_urls=False)
        return int(s.id)

    def tasks(self, project_id: int) -> list[dict]:
        """Every task of the project with its annotations and predictions, as dicts."""
        with self._errors(f"list the tasks of project {project_id}"):
            return [as_dict(t) for t in self._ls.tasks.list(project=project_id, fields="all", page_size=100)]

    def import_tasks(self, project_id: int, tasks: list[dict]) -> list[int]:
        r = self._call(f"import {len(tasks)} task(s) into project {project_id}", self._ls.projects.import_tasks,
                       id=project_id, request=tasks, return_task_ids=True)
        return [int(i) for i in (r.task_ids or [])]

    def update_task_data(self, task_id: int, data: dict) -> None:
        self._call(f"update task {task_id}", self._ls.tasks.update, id=str(task_id), data=data)

    def predictions(self, task_id: int) -> list[dict]:
        return [as_dict(p) for p in self._call(f"list predictions of task {task_id}", self._ls.predictions.list,
                                               task=task_id)]

    def delete_prediction(self, prediction_id: int) -> None:
        self._call(f"delete prediction {prediction_id}", self._ls.predictions.delete, id=prediction_id)

    def create_prediction(self, task_id: int, result: list[dict], model_version: str, score: float) -> int:
        p = self._call(f"add a prediction to task {task_id}", self._ls.predictions.create, task=task_id,
                       result=result, model_version=model_version, score=score)
        return int(p.id)

    def create_annotation(self, task_id: int, result: list[dict]) -> dict:
        """An annotation by the token's user, as a coach submitting in the UI would make it."""
        return as_dict(self._call(f"annotate task {task_id}", self._ls.annotations.create, id=task_id,
                                  result=result))

    def update_annotation(self, annotation_id: int, result: list[dict]) -> dict:
        return as_dict(self._call(f"update annotation {annotation_id}", self._ls.annotations.update,
                                  id=annotation_id, result=result))


def _detail(body: Any) -> str:
    if isinstance(body, dict):
        parts = [str(body.get("detail") or "")]
        if body.get("validation_errors"):
            parts.append(str(body["validation_errors"]))
        return " ".join(p for p in parts if p) or str(body)[:500]
    return str(body)[:500]
