"""Every /api operation, fuzzed by schemathesis as each kind of caller, against the live
server: no 500s, every status code documented, every body as the OpenAPI document says,
and input that breaks the document refused with a 4xx.

The document fuzzed is the app's own (/schema/openapi.json; the first test proves the
server serves exactly this one). Generated ids are mostly random, so a share of the
positive cases have their ids swapped for real ones (see `_with_real_ids`) to reach the
code behind the 404s. Bounded: TRIM_FUZZ_EXAMPLES cases per operation and caller
(default 20), no shrinking; a failure prints the request as a curl command. The cases
are the same every run; TRIM_FUZZ_SEED=<n> draws another sample.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from litestar.testing import TestClient
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

import requests
from tests.conftest import make_settings
from tests.fuzz.conftest import ROLES, Known
from tests.live_server import LiveServer
from trim.app import create_app

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("TRIM_FUZZ_EXAMPLES", "20"))
# Unset: the same cases every run (derandomized). Set: another sample, reproducible by the seed.
SEED = os.environ.get("TRIM_FUZZ_SEED")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


def _app_document() -> dict[str, Any]:
    """/schema/openapi.json as the app serves it, read in process at collection time so
    that each operation is a test of its own (no database is touched)."""
    app = create_app(make_settings("sqlite+aiosqlite:///:memory:"), check_migrations=False)
    with TestClient(app) as client:
        answer = client.get("/schema/openapi.json")
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()
    return document


DOCUMENT = _app_document()
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT).include(path_regex="^/api/")
OPERATIONS = {op.label: op for op in (result.ok() for result in SCHEMA.get_all_operations())}

# Signing out through the fuzzer would sign the caller out of every later case.
KEEPS_ITS_SESSION = {"DELETE /api/session"}
CASES = [
    pytest.param(role, label, id=f"{role}-{label}")
    for role in ROLES
    for label in OPERATIONS
    if not (label in KEEPS_ITS_SESSION and role not in ("anonymous", "integration"))
]

# Which real ids a field or parameter of this name can take.
ID_POOLS: dict[str, Callable[[Known], list[str]]] = {
    "incident_id": lambda k: k.incidents,
    "checkin_id": lambda k: k.checkins,
    "person_id": lambda k: k.people,
    "peer_id": lambda k: k.peers,
    "station_id": lambda k: k.stations,
    "staff_number": lambda k: k.staff_numbers,
    "clinician_id": lambda k: k.clinicians,
    "preferred_peer_id": lambda k: k.peers,
    "flag_id": lambda k: k.flags,
    "referral_id": lambda k: k.referrals,
    "request_id": lambda k: k.requests,
}


def _swap(value: Any, known: Known, draw: Callable[[st.SearchStrategy[Any]], Any]) -> Any:
    """The same JSON with some id-like values replaced by real ones."""
    if isinstance(value, list):
        return [_swap(item, known, draw) for item in value]
    if not isinstance(value, dict):
        return value
    swapped = {}
    for key, item in value.items():
        pool = ID_POOLS.get(key)
        if pool and isinstance(item, str) and pool(known) and draw(st.integers(0, 3)) > 0:
            swapped[key] = draw(st.sampled_from(pool(known)))
        else:
            swapped[key] = _swap(item, known, draw)
    return swapped


def _with_real_ids(case: Case, known: Known, draw: Callable[[st.SearchStrategy[Any]], Any]) -> None:
    """Swap in real ids only where the case is meant to be valid: a negative component
    stays as generated, so "invalid input is refused" still means what it says."""
    meta = case.meta
    if meta is None:
        return
    if case.path_parameters and not meta.is_negative_at(ParameterLocation.PATH):
        case.path_parameters = _swap(case.path_parameters, known, draw)
    if case.query and not meta.is_negative_at(ParameterLocation.QUERY):
        case.query = _swap(case.query, known, draw)
    if isinstance(case.body, dict | list) and not meta.is_negative_at(ParameterLocation.BODY):
        case.body = _swap(case.body, known, draw)


def test_the_server_serves_the_document_that_is_fuzzed(live: LiveServer) -> None:
    served = requests.get(f"{live.url}/schema/openapi.json", timeout=10)
    assert served.status_code == 200
    assert served.json() == DOCUMENT
    assert len(OPERATIONS) >= 12, sorted(OPERATIONS)


@pytest.mark.parametrize(("role", "label"), CASES)
def test_api_keeps_its_contract(
    role: str, label: str, live: LiveServer, callers: dict[str, requests.Session], known: Known
) -> None:
    operation = OPERATIONS[label]
    http = callers[role]
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=SEED is None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases, data=st.data())
    def exchange(case: Case, data: st.DataObject) -> None:
        _with_real_ids(case, known, data.draw)
        response = case.call(base_url=live.url, session=http, timeout=10)
        case.validate_response(response, checks=CHECKS)

    if SEED is not None:
        exchange = seed(int(SEED))(exchange)
    exchange()
