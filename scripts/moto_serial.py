"""moto server that handles one request at a time.

`moto_server` runs werkzeug threaded, and moto's DynamoDB checks a transaction's conditions
and then writes without a lock, so two concurrent transactions on the same item can both
pass their checks (and concurrent requests can fail with HTTP 500). Real DynamoDB
serializes conditional writes per item. The concurrency tests of migration-aws need that
guarantee, so run moto single-threaded for them:

    python3 scripts/moto_serial.py 127.0.0.1 5123
"""

import os
import sys

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple


def main() -> None:
    host = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 5000
    os.environ.setdefault("MOTO_PORT", str(port))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, app, threaded=False, processes=1)


if __name__ == "__main__":
    main()
