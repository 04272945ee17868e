"""Reads a Tessera server's Arrow Flight service with the official clients: `pyarrow.flight`,
then pandas and Polars on what it returns. The test that starts the server passes, on standard
input, the service's URL, tokens, and the rows its HTTP API serves as JSON (another encoder, so
the two paths check each other). Prints what it checked; exits non-zero at the first mismatch.
"""

import json
import sys

import pandas as pd
import polars as pl
import pyarrow.flight as fl


def frame(rows, columns):
    return pd.DataFrame(rows, columns=columns)


def same(got, expected, what):
    got = got.reset_index(drop=True)
    expected = expected.reset_index(drop=True)
    if list(got.columns) != list(expected.columns) or not got.equals(expected.astype(got.dtypes)):
        raise AssertionError(f"{what}:\ngot\n{got}\nexpected\n{expected}")
    print(f"ok {what}: {len(got)} rows")


def refused(call, error, says, what):
    try:
        call()
    except error as e:
        if says not in str(e):
            raise AssertionError(f"{what}: refused, but the message lacks `{says}`: {e}") from e
        print(f"ok {what}: {type(e).__name__}")
        return
    raise AssertionError(f"{what}: not refused")


def main():
    given = json.load(sys.stdin)
    client = fl.connect(given["url"])

    # The handshake pyarrow offers: Basic credentials whose password is the token, answered
    # with the bearer header for later calls.
    header = client.authenticate_basic_token(b"tessera", given["admin"].encode())
    assert header == (b"authorization", f"Bearer {given['admin']}".encode()), header
    admin = fl.FlightCallOptions(headers=[header])
    reader = fl.FlightCallOptions(headers=[(b"authorization", f"Bearer {given['reader']}".encode())])
    granted = fl.FlightCallOptions(headers=[(b"authorization", f"Bearer {given['granted']}".encode())])
    print("ok handshake")

    listed = {tuple(p.decode() for p in f.descriptor.path): f for f in client.list_flights(options=admin)}
    assert set(listed) == {("hello", "greetings"), ("greeting-copy", "copy")}, listed
    by_reader = {tuple(p.decode() for p in f.descriptor.path) for f in client.list_flights(options=reader)}
    assert by_reader == {("hello", "greetings")}, by_reader
    anonymous = {tuple(p.decode() for p in f.descriptor.path) for f in client.list_flights()}
    assert anonymous == {("hello", "greetings")}, anonymous
    print("ok list_flights: the restricted port only for those who may read it")

    info = client.get_flight_info(fl.FlightDescriptor.for_path("hello", "greetings"), admin)
    current = given["current_version"]
    assert info.total_records == len(given["current"]), info.total_records
    assert info.schema.names == ["name", "greeting"], info.schema
    assert info.endpoints[0].ticket.ticket == f"hello/greetings@{current}".encode(), info.endpoints
    schema = client.get_schema(fl.FlightDescriptor.for_command(b"hello/greetings@1"), admin).schema
    assert schema.names == ["name", "greeting"], schema
    print("ok get_flight_info and get_schema")

    columns = ["name", "greeting"]
    # What the info's endpoint names is what it described.
    table = client.do_get(info.endpoints[0].ticket, admin).read_all()
    same(table.to_pandas(), frame(given["current"], columns), "do_get current (pandas)")
    same(pl.from_arrow(table).to_pandas(), frame(given["current"], columns), "do_get current (polars)")
    first = client.do_get(fl.Ticket(b"hello/greetings@1"), reader).read_pandas()
    same(first, frame(given["first"], columns), "do_get version 1")
    greetings = client.do_get(fl.Ticket(b"hello/greetings?columns=greeting"), reader).read_pandas()
    same(greetings, frame(given["current"], columns)[["greeting"]], "do_get one column")
    copy = client.do_get(fl.Ticket(b"greeting-copy/copy"), granted).read_pandas()
    same(copy, frame(given["copy"], columns), "do_get a restricted port with a grant")

    refused(
        lambda: client.do_get(fl.Ticket(b"greeting-copy/copy"), reader).read_all(),
        fl.FlightUnauthorizedError,
        "greeting-copy",
        "a restricted port without a grant",
    )
    refused(
        lambda: client.do_get(fl.Ticket(b"greeting-copy/copy")).read_all(),
        fl.FlightUnauthenticatedError,
        "token",
        "a restricted port without a token",
    )
    bad = fl.FlightCallOptions(headers=[(b"authorization", b"Bearer tsr_not_a_token")])
    refused(
        lambda: client.do_get(fl.Ticket(b"hello/greetings"), bad).read_all(),
        fl.FlightUnauthenticatedError,
        "not known",
        "an unknown token",
    )
    refused(
        lambda: client.authenticate_basic_token(b"x", b"tsr_not_a_token"),
        fl.FlightUnauthenticatedError,
        "not known",
        "a handshake with an unknown token",
    )
    refused(
        lambda: client.do_get(fl.Ticket(b"hello/greetings@99"), admin).read_all(),
        Exception,
        "no data version 99",
        "a version that does not exist",
    )
    refused(
        lambda: client.do_get(fl.Ticket(b"hello/greetings?columns=shoe"), admin).read_all(),
        Exception,
        "`shoe` is not a column",
        "an unknown column",
    )
    refused(
        lambda: client.do_get(fl.Ticket(b"no ticket"), admin).read_all(),
        Exception,
        "product/port",
        "a malformed ticket",
    )

    def put():
        writer, _ = client.do_put(fl.FlightDescriptor.for_path("hello", "greetings"), table.schema, admin)
        writer.write_table(table)
        writer.close()

    refused(put, Exception, "read-only", "a write")
    return 0


if __name__ == "__main__":
    sys.exit(main())
