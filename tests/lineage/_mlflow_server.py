"""A loopback MLflow tracking server: MLflow's REST API 2.0 over a real socket, backed by a
real SQLite tracking store through MLflow's own client.

Requests are parsed with MLflow's protobuf messages (unknown fields are rejected) and replies
are MLflow's own proto JSON, so the export's HTTP client is checked against MLflow's wire
format. ``fault`` maps an endpoint to an (HTTP status, error_code) it answers instead.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


class MlflowServer:
    def __init__(self, backing_uri: str) -> None:
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.exceptions import MlflowException
        from mlflow.protos import service_pb2 as pb
        from mlflow.protos.databricks_pb2 import ENDPOINT_NOT_FOUND, RESOURCE_DOES_NOT_EXIST
        from mlflow.tracking import MlflowClient
        from mlflow.utils.proto_json_utils import message_to_json, parse_dict

        client = MlflowClient(tracking_uri=backing_uri)
        self.fault: dict[str, tuple[int, str]] = {}
        self.calls: list[str] = []
        server = self

        def parsed(message: Any, body: dict[str, Any]) -> Any:
            parse_dict(body, message)
            return message

        def handle(endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
            if endpoint == "experiments/get-by-name":
                exp = client.get_experiment_by_name(body["experiment_name"][0])
                if exp is None:
                    raise MlflowException("no such experiment", error_code=RESOURCE_DOES_NOT_EXIST)
                return {"experiment": {"experiment_id": exp.experiment_id, "name": exp.name}}
            if endpoint == "experiments/create":
                return {
                    "experiment_id": client.create_experiment(
                        parsed(pb.CreateExperiment(), body).name
                    )
                }
            if endpoint == "runs/search":
                req = parsed(pb.SearchRuns(), body)
                page = client.search_runs(
                    list(req.experiment_ids),
                    max_results=req.max_results,
                    order_by=list(req.order_by),
                    page_token=req.page_token or None,
                )
                return {
                    "runs": [json.loads(message_to_json(r.to_proto())) for r in page],
                    **({"next_page_token": page.token} if page.token else {}),
                }
            if endpoint == "runs/create":
                req = parsed(pb.CreateRun(), body)
                run = client.create_run(
                    req.experiment_id,
                    start_time=req.start_time if req.HasField("start_time") else None,
                    tags={t.key: t.value for t in req.tags},
                )
                return {"run": json.loads(message_to_json(run.to_proto()))}
            if endpoint == "runs/log-batch":
                req = parsed(pb.LogBatch(), body)
                client.log_batch(
                    req.run_id,
                    metrics=[Metric(m.key, m.value, m.timestamp, m.step) for m in req.metrics],
                    params=[Param(p.key, p.value) for p in req.params],
                    tags=[RunTag(t.key, t.value) for t in req.tags],
                )
                return {}
            if endpoint == "runs/update":
                req = parsed(pb.UpdateRun(), body)
                client.set_terminated(
                    req.run_id,
                    status=pb.RunStatus.Name(req.status),
                    end_time=req.end_time if req.HasField("end_time") else None,
                )
                return {}
            raise MlflowException(f"no endpoint {endpoint}", error_code=ENDPOINT_NOT_FOUND)

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                pass

            def _reply(self, code: int, obj: Any) -> None:
                data = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _serve(self, body: dict[str, Any]) -> None:
                parts = urlsplit(self.path)
                endpoint = parts.path.removeprefix("/api/2.0/mlflow/")
                server.calls.append(endpoint)
                if endpoint in server.fault:
                    status, code = server.fault[endpoint]
                    self._reply(status, {"error_code": code, "message": f"{endpoint} refused"})
                    return
                try:
                    self._reply(200, handle(endpoint, body))
                except MlflowException as exc:
                    status = 404 if exc.error_code == "RESOURCE_DOES_NOT_EXIST" else 400
                    self._reply(status, {"error_code": exc.error_code, "message": exc.message})

            def do_GET(self) -> None:
                self._serve(dict(parse_qs(urlsplit(self.path).query)))

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._serve(json.loads(raw or b"{}"))

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(5)
