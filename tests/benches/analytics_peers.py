"""The peers of the analytics benchmark: DuckDB and Polars run the two group-by queries on the
same Parquet file, best of three each, and print their times and answers as one JSON object.

Usage: python3 analytics_peers.py FILE.parquet
"""

import json
import sys
import time

import duckdb
import polars as pl

QUERIES = {
    "id1": {
        "duckdb": "SELECT id1, sum(v1) AS v1, avg(v3) AS v3 FROM read_parquet(?) GROUP BY id1",
        "polars": lambda lf: lf.group_by("id1").agg(pl.col("v1").sum(), pl.col("v3").mean()),
    },
    "id1_id4": {
        "duckdb": "SELECT id1, id4, sum(v1) AS v1 FROM read_parquet(?) GROUP BY id1, id4",
        "polars": lambda lf: lf.group_by("id1", "id4").agg(pl.col("v1").sum()),
    },
}


def best_of_three(run):
    best, answer = None, None
    for _ in range(3):
        began = time.perf_counter()
        answer = run()
        took = time.perf_counter() - began
        best = took if best is None else min(best, took)
    return best, answer


def rows(columns):
    """Rows as lists, sorted, so the three engines' answers compare directly."""
    return sorted(map(list, zip(*columns)))


def main():
    path = sys.argv[1]
    con = duckdb.connect()
    out = {"duckdb": {}, "polars": {}, "versions": {"duckdb": duckdb.__version__, "polars": pl.__version__}}
    for name, query in QUERIES.items():
        took, answer = best_of_three(lambda: con.execute(query["duckdb"], [path]).fetchall())
        out["duckdb"][name] = {"seconds": took, "rows": sorted(map(list, answer))}
        took, frame = best_of_three(lambda: query["polars"](pl.scan_parquet(path)).collect())
        out["polars"][name] = {"seconds": took, "rows": rows([frame[c].to_list() for c in frame.columns])}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
