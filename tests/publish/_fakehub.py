"""A loopback stand-in for the Hugging Face Hub's upload API, for live-push tests.

Speaks the four endpoints ``HfApi.create_repo`` + ``upload_folder`` use (repo create, README
YAML validation, preupload, commit) over a real socket, so the real ``huggingface_hub`` client
runs unmodified. ``status`` forces every answer to that HTTP status (auth failures).
"""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import yaml


class FakeHub:
    def __init__(self, status: int = 200, *, echo_auth: bool = False) -> None:
        self.status = status
        self.echo_auth = echo_auth  # a refusal quotes the Authorization header back
        self.requests: list[tuple[str, str, str | None]] = []
        self.created: dict[str, Any] = {}
        self.files: dict[str, bytes] = {}
        self.front_matter: dict[str, Any] | None = None
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def _reply(self, code: int, obj: Any) -> None:
                body = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                hub.requests.append(("GET", self.path, self.headers.get("authorization")))
                self._reply(404, {"error": "not found"})

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hub.requests.append(("POST", self.path, self.headers.get("authorization")))
                if hub.status != 200:
                    said = self.headers.get("authorization") if hub.echo_auth else "Authorization"
                    self._reply(hub.status, {"error": f"Invalid credentials in {said}"})
                elif self.path == "/api/repos/create":
                    hub.created = json.loads(raw)
                    name = f"{hub.created.get('organization')}/{hub.created['name']}"
                    self._reply(200, {"url": f"{hub.url}/{name}"})
                elif self.path == "/api/validate-yaml":
                    content = json.loads(raw)["content"]
                    head = content.split("\n---\n", 1)[0].removeprefix("---\n")
                    try:
                        hub.front_matter = yaml.safe_load(head)
                    except yaml.YAMLError as exc:
                        self._reply(400, {"errors": [{"message": str(exc)}]})
                        return
                    self._reply(200, {"errors": [], "warnings": []})
                elif "/preupload/" in self.path:
                    files = json.loads(raw)["files"]
                    self._reply(
                        200,
                        {
                            "files": [
                                {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                                for f in files
                            ]
                        },
                    )
                elif "/commit/" in self.path:
                    for line in raw.decode().splitlines():
                        item = json.loads(line)
                        if item["key"] == "file":
                            value = item["value"]
                            hub.files[value["path"]] = base64.b64decode(value["content"])
                    repo = self.path.split("/api/models/", 1)[-1].split("/commit/", 1)[0]
                    self._reply(
                        200,
                        {
                            "commitUrl": f"{hub.url}/{repo}/commit/{'a' * 40}",
                            "commitOid": "a" * 40,
                            "pullRequestUrl": None,
                        },
                    )
                else:
                    self._reply(404, {"error": f"unknown endpoint {self.path}"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)
