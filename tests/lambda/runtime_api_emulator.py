"""The AWS Lambda Runtime API (2018-06-01), emulated on loopback for tests.

Written to the API's contract:
- GET  /2018-06-01/runtime/invocation/next is a long poll. It answers 200 with the event as
  the body and the headers Lambda-Runtime-Aws-Request-Id, Lambda-Runtime-Deadline-Ms (Unix
  epoch milliseconds), Lambda-Runtime-Invoked-Function-Arn and Lambda-Runtime-Trace-Id.
- POST /2018-06-01/runtime/invocation/{id}/response and .../{id}/error answer 202. A second
  answer for the same id gets 403; an id that is not the current invocation gets 400; a body
  over 6 MiB gets 413. An error body is {"errorMessage", "errorType", "stackTrace"}, with the
  type also in Lambda-Runtime-Function-Error-Type.
- POST /2018-06-01/runtime/init/error answers 202 and records the error.
"""

import json
import queue
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_PAYLOAD = 6 * 1024 * 1024
PREFIX = "/2018-06-01/runtime"


class Answer:
    def __init__(self, kind, body, headers):
        self.kind = kind  # "response" or "error"
        self.body = body
        self.headers = headers

    def json(self):
        return json.loads(self.body)


class RuntimeApiEmulator:
    def __init__(self, function_arn="arn:aws:lambda:eu-west-1:123456789012:function:imgflow"):
        self.function_arn = function_arn
        self.events = queue.Queue()
        self.answers = {}  # request id -> Answer
        self.init_errors = []
        self.current = None  # the request id handed out last and not yet answered
        self.requests_seen = []  # (method, path, status), for the tests' own checks
        self.next_served = threading.Event()
        self.lock = threading.Condition()
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.path != PREFIX + "/invocation/next":
                    return self.reply(404, b"{}")
                request_id, deadline_ms, trace_id, event = emulator.events.get()
                with emulator.lock:
                    emulator.current = request_id
                    emulator.next_served.set()
                body = event.encode() if isinstance(event, str) else event
                self.reply(200, body, {
                    "Lambda-Runtime-Aws-Request-Id": request_id,
                    "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
                    "Lambda-Runtime-Invoked-Function-Arn": emulator.function_arn,
                    "Lambda-Runtime-Trace-Id": trace_id,
                })

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                if self.path == PREFIX + "/init/error":
                    with emulator.lock:
                        emulator.init_errors.append(Answer("error", body, dict(self.headers)))
                        emulator.lock.notify_all()
                    return self.reply(202, b'{"status":"OK"}')
                parts = self.path[len(PREFIX):].strip("/").split("/")
                if len(parts) != 3 or parts[0] != "invocation" or parts[2] not in ("response",
                                                                                    "error"):
                    return self.reply(404, b"{}")
                request_id, kind = parts[1], parts[2]
                with emulator.lock:
                    if request_id in emulator.answers:
                        status = 403
                    elif request_id != emulator.current:
                        status = 400
                    elif length > MAX_PAYLOAD:
                        status = 413
                    else:
                        status = 202
                        emulator.answers[request_id] = Answer(kind, body, dict(self.headers))
                        emulator.current = None
                        emulator.lock.notify_all()
                    emulator.requests_seen.append(("POST", self.path, status))
                self.reply(status, json.dumps({"status": status}).encode())

            def reply(self, status, body, headers=None):
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def address(self):
        return "127.0.0.1:%d" % self.server.server_address[1]

    def invoke(self, event, timeout_ms=60_000, trace_id=None):
        """Queues an event; returns its request id."""
        request_id = str(uuid.uuid4())
        deadline_ms = int(time.time() * 1000) + timeout_ms
        trace = trace_id or "Root=1-%08x-%s;Sampled=1" % (int(time.time()), uuid.uuid4().hex[:24])
        self.events.put((request_id, deadline_ms, trace, event))
        return request_id

    def wait_answer(self, request_id, timeout=120):
        deadline = time.time() + timeout
        with self.lock:
            while request_id not in self.answers:
                left = deadline - time.time()
                if left <= 0:
                    raise TimeoutError("no answer for " + request_id)
                self.lock.wait(left)
            return self.answers[request_id]

    def wait_init_error(self, timeout=60):
        deadline = time.time() + timeout
        with self.lock:
            while not self.init_errors:
                left = deadline - time.time()
                if left <= 0:
                    raise TimeoutError("no init error")
                self.lock.wait(left)
            return self.init_errors[0]

    def close(self):
        self.server.shutdown()
        self.server.server_close()
