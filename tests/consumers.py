"""Reads a Tessera output with the consumer tools the docs page shows snippets for.

    cargo run -p tessera-tests --example fixture_server -- 127.0.0.1:8095 &
    pip install pandas pyarrow polars duckdb fsspec aiohttp
    python3 tests/consumers.py http://127.0.0.1:8095/v1/products/hello/outputs/greetings

Each line prints the rows the tool read (1000 expected; the DuckDB query counts 100).
"""
import io, sys, json, urllib.request
import pandas as pd, polars as pl, pyarrow as pa, pyarrow.ipc, duckdb, fsspec

url = sys.argv[1]
results = {}
results["pandas read_json"] = len(pd.read_json(url + "?format=json"))
results["pandas read_csv"] = len(pd.read_csv(url + "?format=csv"))
results["pandas read_parquet"] = len(pd.read_parquet(url + "?format=parquet"))
results["polars read_parquet"] = pl.read_parquet(url + "?format=parquet").height
results["polars read_ipc_stream"] = pl.read_ipc_stream(urllib.request.urlopen(url + "?format=arrow").read()).height
results["polars read_ndjson"] = pl.read_ndjson(urllib.request.urlopen(url + "?format=ndjson").read()).height
results["pyarrow ipc stream"] = pa.ipc.open_stream(urllib.request.urlopen(url + "?format=arrow").read()).read_all().num_rows
import pyarrow.parquet as pq
with fsspec.open(url + "?format=parquet", "rb", block_size=1024) as f:
    pf = pq.ParquetFile(f)          # seeks to the footer: HTTP Range requests
    results["pyarrow ParquetFile over HTTP ranges: rows in footer"] = pf.metadata.num_rows
    names = pf.read(columns=["name"])
results["duckdb over the Arrow table"] = duckdb.sql(
    "SELECT count(*) FROM names WHERE name LIKE 'person-00%'").fetchall()[0][0]
for k, v in results.items():
    print(f"{k}: {v}")
