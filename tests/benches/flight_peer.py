"""The peer of `cargo bench --bench flight`: a `pyarrow.flight` server that holds the same
output in memory (read once from Tessera's HTTP API as an Arrow stream, before any timing)
and serves it to every `DoGet`. Prints its port, then serves until killed.

    python3 flight_peer.py http://127.0.0.1:8080/v1/products/wide/outputs/rows TOKEN
"""

import sys
import urllib.request

import pyarrow as pa
import pyarrow.flight as fl


class Peer(fl.FlightServerBase):
    def __init__(self, table):
        super().__init__("grpc://127.0.0.1:0")
        self.table = table

    def do_get(self, context, ticket):
        return fl.RecordBatchStream(self.table)


def main():
    url, token = sys.argv[1:3]
    request = urllib.request.Request(f"{url}?format=arrow", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request) as response:
        table = pa.ipc.open_stream(response).read_all()
    peer = Peer(table)
    print(peer.port, flush=True)
    peer.serve()


if __name__ == "__main__":
    main()
