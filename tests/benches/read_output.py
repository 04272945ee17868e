"""One read of a published output by a consumer, for `cargo bench --bench flight`: over Arrow
Flight, or over HTTP as an Arrow IPC stream or a Parquet file, into a pyarrow Table. Prints the
read's wall time (modules are imported before the clock starts), the rows, the Arrow bytes in
memory and the bytes received (HTTP only), as JSON.

    python3 read_output.py flight grpc://127.0.0.1:8815 TOKEN wide/rows
    python3 read_output.py arrow http://127.0.0.1:8080/v1/products/wide/outputs/rows TOKEN
    python3 read_output.py parquet http://127.0.0.1:8080/v1/products/wide/outputs/rows TOKEN
"""

import json
import sys
import time
import urllib.request

import pyarrow as pa
import pyarrow.flight as fl
import pyarrow.parquet as pq


def http(url, token):
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    return urllib.request.urlopen(request)


def main():
    method, target, token = sys.argv[1:4]
    received = None
    started = time.perf_counter()
    if method == "flight":
        client = fl.connect(target)
        options = fl.FlightCallOptions(headers=[(b"authorization", f"Bearer {token}".encode())])
        table = client.do_get(fl.Ticket(sys.argv[4].encode()), options).read_all()
    elif method == "arrow":
        with http(f"{target}?format=arrow", token) as response:
            table = pa.ipc.open_stream(response).read_all()
    elif method == "parquet":
        with http(f"{target}?format=parquet", token) as response:
            body = response.read()
        received = len(body)
        table = pq.read_table(pa.BufferReader(body))
    else:
        raise SystemExit(f"unknown method {method}")
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "rows": table.num_rows, "arrow_bytes": table.nbytes, "received": received}))


if __name__ == "__main__":
    main()
