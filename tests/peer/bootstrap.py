"""A Lambda custom runtime for one Python handler, standard library only: the peer's side of
`make bench-peer` (tests/src/bin/bench/peer.rs), run under the bench's own Runtime API server.

It does what Lambda's managed Python runtime does, and no more, so that a cold start of the
peer costs what it costs on Lambda: import the handler before asking for the first event
(init), send log records to stdout, then loop GET /next -> handler(event, context) -> POST
the result (or the error). scripts/bench-peer.sh copies it into the packaged task with a
first line naming the peer's venv interpreter, so the kernel starts Python directly, as
Lambda starts a custom runtime's `bootstrap`.
"""

import http.client
import importlib
import json
import logging
import os
import sys
import time
import traceback

API = "/2018-06-01/runtime"


class Context:
    """The attributes of Lambda's context object that handlers read."""

    def __init__(self, headers):
        self.aws_request_id = headers.get("Lambda-Runtime-Aws-Request-Id", "")
        self.invoked_function_arn = headers.get("Lambda-Runtime-Invoked-Function-Arn", "")
        self._deadline_ms = int(headers.get("Lambda-Runtime-Deadline-Ms", "0") or 0)
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")

    def get_remaining_time_in_millis(self):
        return max(self._deadline_ms - int(time.time() * 1000), 0)


def error_body(error):
    return json.dumps(
        {
            "errorMessage": str(error),
            "errorType": type(error).__name__,
            "stackTrace": traceback.format_tb(error.__traceback__),
        }
    )


def post(connection, path, body):
    connection.request("POST", path, body=body, headers={"Content-Type": "application/json"})
    connection.getresponse().read()


def main():
    # Lambda starts a function in its task root and puts that first on the import path;
    # Custodian's handler reads its policy from ./config.json.
    task = os.environ.get("LAMBDA_TASK_ROOT") or os.path.dirname(os.path.abspath(__file__))
    os.chdir(task)
    sys.path.insert(0, task)
    # The managed runtime's log handler: every record to stdout (CloudWatch Logs there).
    handler_out = logging.StreamHandler(sys.stdout)
    handler_out.setFormatter(logging.Formatter("[%(levelname)s]\t%(asctime)s\t%(message)s"))
    logging.getLogger().addHandler(handler_out)

    host, _, port = os.environ["AWS_LAMBDA_RUNTIME_API"].partition(":")
    connection = http.client.HTTPConnection(host, int(port or 80))
    module, _, name = os.environ.get("_HANDLER", "custodian_policy.run").rpartition(".")
    try:
        handler = getattr(importlib.import_module(module), name)
    except Exception as error:  # what Lambda reports as Runtime.ImportModuleError
        post(connection, API + "/init/error", error_body(error))
        return 1

    while True:
        connection.request("GET", API + "/invocation/next")
        response = connection.getresponse()
        event = json.loads(response.read())
        context = Context(response.headers)
        invocation = API + "/invocation/" + context.aws_request_id
        try:
            result = handler(event, context)
        except Exception as error:
            post(connection, invocation + "/error", error_body(error))
            continue
        post(connection, invocation + "/response", json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
