"""Validates JSON documents against a JSON Schema (draft 2019-09), for the e2e tests.

Usage: python3 tests/validate_schema.py SCHEMA.json DOCUMENT.json [DOCUMENT.json ...]
Prints each document's errors and exits 1 when any document is invalid.
"""

import json
import sys

import jsonschema


def main() -> int:
    schema = json.load(open(sys.argv[1]))
    validator = jsonschema.Draft201909Validator(schema)
    invalid = 0
    for path in sys.argv[2:]:
        errors = sorted(validator.iter_errors(json.load(open(path))), key=lambda e: list(e.path))
        for error in errors:
            print(f"{path}: {'/'.join(map(str, error.path))}: {error.message}")
        invalid += bool(errors)
    print(f"{len(sys.argv) - 2 - invalid} valid, {invalid} invalid")
    return 1 if invalid else 0


if __name__ == "__main__":
    sys.exit(main())
