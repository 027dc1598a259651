"""Tests of plugin-config/schema/token-output.v1.schema.json itself.

Why it exists: the schema is a published contract for `--format json`; these cases pin down
what it accepts (the documented required and optional properties, unknown extra properties)
and what it rejects, independently of the executable.
"""

from __future__ import annotations

import json

import jsonschema
import pytest

from conftest import SCHEMA_PATH

MINIMAL = {"version": 1, "token": "t0k", "token_type": "SUBJECT_TOKEN", "expiration": None}
FULL = {"version": 1, "token": "t0k", "token_type": "SUBJECT_TOKEN",
        "expiration": "2030-01-01T00:00:00Z", "expires_in_seconds": 3600, "source": "cache",
        "service": "redshift-serverless", "targets": ["wg1"], "warnings": ["w"]}


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


@pytest.mark.parametrize("doc", [
    MINIMAL,
    FULL,
    dict(FULL, expires_in_seconds=None, source="aws", service="redshift"),
    dict(MINIMAL, some_future_property={"anything": True}),
])
def test_accepts(validator, doc) -> None:
    validator.validate(doc)


@pytest.mark.parametrize("change", [
    {"version": 2},
    {"version": "1"},
    {"token": ""},
    {"token": None},
    {"token_type": "ACCESS_TOKEN"},
    {"expiration": 1893456000},
    {"expires_in_seconds": -1},
    {"expires_in_seconds": 1.5},
    {"source": "disk"},
    {"service": "redshift-data"},
    {"targets": "mycluster"},
    {"targets": [""]},
])
def test_rejects(validator, change) -> None:
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(dict(FULL, **change))


@pytest.mark.parametrize("missing", ["version", "token", "token_type", "expiration"])
def test_requires(validator, missing) -> None:
    doc = dict(FULL)
    del doc[missing]
    with pytest.raises(jsonschema.ValidationError, match="required"):
        validator.validate(doc)
