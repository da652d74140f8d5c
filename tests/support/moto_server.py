"""moto's server, with each DynamoDB call made atomic.

moto serves requests on threads and neither its conditional writes nor its
transactions hold a lock: two concurrent TransactWriteItems can both pass their
conditions, and one that fails restores a copy of the whole table taken before it ran,
undoing writes that committed meanwhile. DynamoDB itself never does either (each
request is atomic and isolated). One lock around each DynamoDB call gives moto that
guarantee, so that the concurrency tests judge the service and not the emulator.
Every other request (Secrets Manager) is served as moto serves it.

With `MOTO_READY_FILE` set, it creates that file once its own socket listens: a test
that picked a free port can lose it to another test's moto started at the same moment,
and then a connection to the port reaches the other server, not its own (which exits).
The file says which one won.

Run as `python moto_server.py -H 127.0.0.1 -p PORT`, as `moto_server` is.
"""

import os
import sys
import threading

from moto.dynamodb.responses import DynamoHandler
from moto.server import main
from werkzeug.serving import BaseWSGIServer

_lock = threading.RLock()
_call_action = DynamoHandler.call_action


def _atomic_call_action(self):
    with _lock:
        return _call_action(self)


DynamoHandler.call_action = _atomic_call_action

_server_activate = BaseWSGIServer.server_activate


def _server_activate_then_tell(self):
    _server_activate(self)
    ready = os.environ.get("MOTO_READY_FILE")
    if ready:
        with open(ready, "w") as f:
            f.write(str(os.getpid()))


BaseWSGIServer.server_activate = _server_activate_then_tell

if __name__ == "__main__":
    sys.exit(main())
