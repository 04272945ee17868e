"""Reads a Tessera server's shares with the official `delta-sharing` Python client, as a
recipient would with the profile file an admin gave them. The Rust test that starts the server
passes, on standard input, the profile's path and what the HTTP API serves as JSON (another
encoder over the same stored data), and this script checks the client sees the same. It runs in
a virtual environment of its own (the client pins an older pyarrow). Prints one line per check;
exits non-zero at the first mismatch.

Input: {"profile": PATH, "share": NAME, "tables": {"schema.table": {"all_columns": [...],
"columns": [compared...], "rows": [[...], ...]}}, "versions": {"table": "schema.table", "first": ROWS, "current": ROWS,
"current_version": N}, "outsider": PATH}; "versions" and "outsider" are optional.
"""

import json
import sys

import delta_sharing
import pandas as pd
from requests.exceptions import HTTPError


def frame(columns, rows):
    return pd.DataFrame(rows, columns=columns)


def equal(x, y):
    """Values equal as the two encoders write them: floats within rounding, null as NaN."""
    missing = lambda v: v is None or (isinstance(v, float) and v != v)
    if missing(x) or missing(y):
        return missing(x) and missing(y)
    if isinstance(x, float) or isinstance(y, float):
        return abs(float(x) - float(y)) <= 1e-9 * max(1.0, abs(float(y)))
    return x == y


def same(got, expected, what):
    """`got` has `expected`'s rows in the same order, for `expected`'s columns."""
    got = got.reset_index(drop=True)
    expected = expected.reset_index(drop=True)
    if len(got) != len(expected):
        raise AssertionError(f"{what}: {len(got)} rows != {len(expected)}")
    for column in expected.columns:
        for row, (x, y) in enumerate(zip(got[column].tolist(), expected[column].tolist())):
            if not equal(x, y):
                raise AssertionError(f"{what}: row {row}, column {column}: {x!r} != {y!r}")
    print(f"ok {what}: {len(got)} rows, {len(expected.columns)} columns compared")


def main():
    given = json.load(sys.stdin)
    profile = given["profile"]
    share = given["share"]
    client = delta_sharing.SharingClient(profile)

    listed = {f"{t.schema}.{t.name}" for t in client.list_all_tables()}
    expected = set(given["tables"])
    if listed != expected:
        raise AssertionError(f"list_all_tables: {sorted(listed)} != {sorted(expected)}")
    print(f"ok list_all_tables: {len(listed)} tables")

    for name, table in sorted(given["tables"].items()):
        url = f"{profile}#{share}.{name}"
        got = delta_sharing.load_as_pandas(url)
        if sorted(got.columns) != sorted(table["all_columns"]):
            raise AssertionError(f"{name}: columns {sorted(got.columns)} != {sorted(table['all_columns'])}")
        same(got, frame(table["columns"], table["rows"]), f"load_as_pandas {name}")

    versions = given.get("versions")
    if versions:
        url = f"{profile}#{share}.{versions['table']}"
        columns = given["tables"][versions["table"]]["columns"]
        same(
            delta_sharing.load_as_pandas(url, version=1),
            frame(columns, versions["first"]),
            "a version pin",
        )
        version = delta_sharing.get_table_version(url)
        if version != versions["current_version"]:
            raise AssertionError(f"table version {version} != {versions['current_version']}")
        print(f"ok table version {version}")
        changes = delta_sharing.load_table_changes_as_pandas(
            url, starting_version=1, ending_version=versions["current_version"]
        )
        by_version = changes.groupby("_commit_version").size().to_dict()
        wanted = {1: len(versions["first"]), versions["current_version"]: len(versions["current"])}
        if {int(k): v for k, v in by_version.items()} != wanted:
            raise AssertionError(f"change feed rows by version {by_version} != {wanted}")
        if set(changes["_change_type"]) != {"insert"}:
            raise AssertionError(f"change types {set(changes['_change_type'])}")
        print(f"ok change feed: {len(changes)} rows over versions {sorted(by_version)}")

    outsider = given.get("outsider")
    if outsider:
        try:
            delta_sharing.SharingClient(outsider).list_all_tables()
        except HTTPError as e:
            raise AssertionError(f"an outsider may list its own (no) shares: {e}") from e
        try:
            delta_sharing.load_as_pandas(f"{outsider}#{share}.{sorted(given['tables'])[0]}")
        except HTTPError as e:
            if e.response is None or e.response.status_code != 403:
                raise AssertionError(f"an outsider was refused with {e}") from e
            print("ok a token without the share is refused (403)")
        else:
            raise AssertionError("a token without the share read a table")
    return 0


if __name__ == "__main__":
    sys.exit(main())
