"""The floor for bench/recording.py, and two bounds between it and trim.

No sign-in, no ORM, no audit, no template: what any endpoint that writes a row costs on
this machine. Served like trim (uvicorn, 2 processes), each with an asyncpg pool of the
size trim's engine uses. FLOOR_DSN names the database (a plain postgresql:// URL).

- `POST /insert`: the floor, one INSERT.
- `POST /same/{session}/{checkin}`: trim's recording statements, the same SQL in the same
  order on trim's own tables and triggers (the sign-in read, then in one transaction the
  idempotency claim, the check-in read, the exposure lock, the check-in update, the
  instrument snapshot, the assessment and its result, the exposure's history, the stored
  answer and the audit event) with no logic between them: the fastest any code that keeps
  these statements can be here.
- `POST /one/{session}/{checkin}`: the sign-in read and then the same writes as one call of
  a PL/pgSQL function (bench_record, installed by bench/recording.py): two round trips.
- `POST /all/{session}/{checkin}`: the sign-in read inside that call too (bench_record_all):
  one round trip, as many as the floor's.

The bounds write what trim writes, but score nothing: the answers are stored as sent. A
check-in may be written more than once (the request list wraps around), so the update does
not ask for an unrecorded check-in, and each assessment takes a random version and is
not marked current (else every pass would lengthen each exposure's history, which trim's
never grows past its check-ins); the work counted is the assessments inserted.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
from litestar import Litestar, Request, post
from litestar.datastructures import State


@asynccontextmanager
async def _pool(app: Litestar) -> AsyncIterator[None]:
    app.state.pool = await asyncpg.create_pool(os.environ["FLOOR_DSN"], min_size=10, max_size=20)
    try:
        async with app.state.pool.acquire() as conn:
            app.state.definition = await conn.fetchval(
                "SELECT definition::text FROM instrument_snapshots WHERE instrument_id = 'trim_risk' LIMIT 1"
            )
        yield
    finally:
        await app.state.pool.close()


@post("/insert", status_code=201)
async def insert(state: State) -> dict[str, str]:
    row = uuid.uuid4()
    async with state.pool.acquire() as conn:
        await conn.execute("INSERT INTO floor_rows (id) VALUES ($1)", row)
    return {"id": str(row)}


SIGN_IN = """
SELECT web_sessions.id, web_sessions.person_id, web_sessions.created_at, web_sessions.last_seen_at,
  web_sessions.expires_at, web_sessions.stage, web_sessions.via, web_sessions.id_token_encrypted, people.id AS id_1,
  people.staff_number, people.name, people.email, people.station_id, people.manager_staff_number, people.phone,
  people.active, people.password_hash, people.available, people.background, people.created_at AS created_at_1,
  people.updated_at, people.deactivated_at, people.is_pseudonym, people.invited_at, people.joined_at,
  people.pending_email, people.pending_email_at, people.pending_email_by, people.previous_email,
  people.email_changed_at, people.email_changed_by, totp_factors.enabled_at, person_roles.role
FROM web_sessions JOIN people ON people.id = web_sessions.person_id
  LEFT OUTER JOIN totp_factors ON totp_factors.person_id = people.id
  LEFT OUTER JOIN person_roles ON person_roles.person_id = people.id
WHERE web_sessions.id = $1 AND web_sessions.stage = 'full'
"""
CLAIM = """INSERT INTO idempotency_keys (scope, key, request_hash, created_at, safe_to_forget)
VALUES ($1, $2, $3, $4, false) ON CONFLICT (scope, key) DO NOTHING RETURNING idempotency_keys.id"""
CHECKIN = """SELECT checkins.id, checkins.exposure_id, checkins.incident_id, checkins.person_id, checkins.peer_id,
  checkins.kind, checkins.offset_days, checkins.scheduled_for, checkins.due_at, checkins.outcome,
  checkins.outcome_reason, checkins.recorded_at, checkins.recorded_by_id, checkins.self_answered_at,
  checkins.self_completed, checkins.created_at
FROM checkins WHERE (checkins.person_id = $1 OR checkins.peer_id = $2) AND checkins.id = $3"""
LOCK = """SELECT exposures.id, exposures.incident_id, exposures.person_id, exposures.exposure, exposures.peer_id,
  exposures.added_at, exposures.removed_at, exposures.opted_out_at, exposures.purged_at
FROM exposures WHERE exposures.id = $1 FOR UPDATE"""
UPDATE = """UPDATE checkins SET outcome = 'completed', outcome_reason = NULL, recorded_at = $1, recorded_by_id = $2,
  self_completed = false WHERE checkins.id = $3"""
SNAPSHOT = """INSERT INTO instrument_snapshots (instrument_id, version, definition, created_at)
VALUES ('trim_risk', 1, $1::json, $2) ON CONFLICT (instrument_id, version) DO NOTHING"""
ASSESSMENT = """INSERT INTO assessments (id, checkin_id, person_id, version, is_current, outcome, reason,
  safety_concern, score, band, notes_encrypted, opted_out, answered_by_person, correction_reason, recorded_by_id,
  recorded_at, answers_deleted_at)
VALUES ($1, $2, $3, $4, false, 'completed', NULL, false, 2, 'low', NULL, false, false, NULL, $5, $6, NULL)"""
RESULT = """INSERT INTO assessment_results (assessment_id, instrument_id, instrument_version, score, band, flagged,
  answers) VALUES ($1, 'trim_risk', 1, 2, 'low', false, $2::json) RETURNING assessment_results.id"""
HISTORY = """SELECT checkins.id, checkins.exposure_id, checkins.incident_id, checkins.person_id, checkins.peer_id,
  checkins.kind, checkins.offset_days, checkins.scheduled_for, checkins.due_at, checkins.outcome,
  checkins.outcome_reason, checkins.recorded_at, checkins.recorded_by_id, checkins.self_answered_at,
  checkins.self_completed, checkins.created_at, assessment_results.id AS id_1, assessment_results.assessment_id,
  assessment_results.instrument_id, assessment_results.instrument_version, assessment_results.score,
  assessment_results.band, assessment_results.flagged, assessment_results.answers, instrument_snapshots.definition
FROM checkins LEFT OUTER JOIN assessments ON assessments.checkin_id = checkins.id AND assessments.is_current
  LEFT OUTER JOIN assessment_results ON assessment_results.assessment_id = assessments.id
  LEFT OUTER JOIN instrument_snapshots ON assessment_results.instrument_id = 'trim_risk'
    AND instrument_snapshots.instrument_id = assessment_results.instrument_id
    AND instrument_snapshots.version = assessment_results.instrument_version
WHERE checkins.exposure_id = $1"""
ANSWER = "UPDATE idempotency_keys SET status_code = 201, response = $1::json WHERE idempotency_keys.id = $2"
AUDIT = """INSERT INTO audit_events (xid, seq, at, actor_id, action, target_type, target_id, subject_id, details,
  prev_hash, hash, key_id, sealed_at)
VALUES ((pg_current_xact_id()::text::bigint), NULL, $1, $2, 'checkin.recorded', 'checkin', $3, $4, $5::json,
  NULL, NULL, NULL, NULL) RETURNING audit_events.id, audit_events.xid"""

# The same writes as one server-side call (installed by bench/recording.py, one by one).
FUNCTIONS = (
    """
CREATE OR REPLACE FUNCTION bench_record(p_session text, p_person uuid, p_checkin uuid, p_key text, p_hash text,
  p_definition json, p_answers json, p_version int) RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE
  v_claim int; v_checkin checkins%ROWTYPE; v_exposure exposures%ROWTYPE; v_assessment uuid := gen_random_uuid();
  v_now timestamptz := now(); v_history int;
BEGIN
  INSERT INTO idempotency_keys (scope, key, request_hash, created_at, safe_to_forget)
    VALUES ('record:' || p_person, p_key, p_hash, v_now, false) ON CONFLICT (scope, key) DO NOTHING
    RETURNING id INTO v_claim;
  SELECT * INTO v_checkin FROM checkins WHERE (person_id = p_person OR peer_id = p_person) AND id = p_checkin;
  SELECT * INTO v_exposure FROM exposures WHERE id = v_checkin.exposure_id FOR UPDATE;
  UPDATE checkins SET outcome = 'completed', outcome_reason = NULL, recorded_at = v_now, recorded_by_id = p_person,
    self_completed = false WHERE id = p_checkin;
  INSERT INTO instrument_snapshots (instrument_id, version, definition, created_at)
    VALUES ('trim_risk', 1, p_definition, v_now) ON CONFLICT (instrument_id, version) DO NOTHING;
  INSERT INTO assessments (id, checkin_id, person_id, version, is_current, outcome, safety_concern, score, band,
    opted_out, answered_by_person, recorded_by_id, recorded_at)
    VALUES (v_assessment, p_checkin, v_checkin.person_id, p_version, false, 'completed', false, 2, 'low', false,
      false, p_person, v_now);
  INSERT INTO assessment_results (assessment_id, instrument_id, instrument_version, score, band, flagged, answers)
    VALUES (v_assessment, 'trim_risk', 1, 2, 'low', false, p_answers);
  SELECT count(*) INTO v_history FROM checkins c
    LEFT JOIN assessments a ON a.checkin_id = c.id AND a.is_current
    LEFT JOIN assessment_results r ON r.assessment_id = a.id
    LEFT JOIN instrument_snapshots s ON r.instrument_id = 'trim_risk' AND s.instrument_id = r.instrument_id
      AND s.version = r.instrument_version
    WHERE c.exposure_id = v_checkin.exposure_id;
  UPDATE idempotency_keys SET status_code = 201, response = json_build_object('id', v_assessment) WHERE id = v_claim;
  INSERT INTO audit_events (xid, at, actor_id, action, target_type, target_id, subject_id, details)
    VALUES (pg_current_xact_id()::text::bigint, v_now, p_person::text, 'checkin.recorded', 'checkin',
      p_checkin::text, v_checkin.person_id::text, json_build_object('outcome', 'completed', 'history', v_history));
  RETURN v_assessment;
END $$
""",
    """
CREATE OR REPLACE FUNCTION bench_record_all(p_session text, p_checkin uuid, p_key text, p_hash text,
  p_definition json, p_answers json, p_version int) RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE
  v_person uuid;
BEGIN
  SELECT web_sessions.person_id INTO v_person
    FROM web_sessions JOIN people ON people.id = web_sessions.person_id
    LEFT OUTER JOIN totp_factors ON totp_factors.person_id = people.id
    LEFT OUTER JOIN person_roles ON person_roles.person_id = people.id
    WHERE web_sessions.id = p_session AND web_sessions.stage = 'full' AND people.active LIMIT 1;
  RETURN bench_record(p_session, v_person, p_checkin, p_key, p_hash, p_definition, p_answers, p_version);
END $$
""",
)


def _version() -> int:
    return random.randrange(1_000, 2**31 - 1)


@post("/same/{session_id:str}/{checkin_id:uuid}", status_code=201)
async def same(state: State, request: Request[Any, Any, Any], session_id: str, checkin_id: uuid.UUID) -> dict[str, str]:
    body = await request.body()
    answers = json.dumps(json.loads(body)["answers"])
    async with state.pool.acquire() as conn:
        person = (await conn.fetch(SIGN_IN, session_id))[0]["person_id"]
        now = datetime.now(UTC)
        async with conn.transaction():
            claim = await conn.fetchval(
                CLAIM, f"record:{person}", str(uuid.uuid4()), hashlib.sha256(body).hexdigest(), now
            )
            checkin = await conn.fetchrow(CHECKIN, person, person, checkin_id)
            await conn.fetchrow(LOCK, checkin["exposure_id"])
            await conn.execute(UPDATE, now, person, checkin_id)
            await conn.execute(SNAPSHOT, state.definition, now)
            assessment = uuid.uuid4()
            await conn.execute(ASSESSMENT, assessment, checkin_id, checkin["person_id"], _version(), person, now)
            await conn.fetchval(RESULT, assessment, answers)
            history = await conn.fetch(HISTORY, checkin["exposure_id"])
            await conn.execute(ANSWER, json.dumps({"id": str(assessment)}), claim)
            await conn.fetchrow(
                AUDIT,
                now,
                str(person),
                str(checkin_id),
                str(checkin["person_id"]),
                json.dumps({"outcome": "completed", "history": len(history)}),
            )
    return {"id": str(assessment)}


async def _call(
    state: State, request: Request[Any, Any, Any], session_id: str, checkin_id: uuid.UUID, *, signed_in_here: bool
) -> dict[str, str]:
    """bench_record after the sign-in read here, or bench_record_all with the read inside it."""
    body = await request.body()
    rest = (
        str(uuid.uuid4()),
        hashlib.sha256(body).hexdigest(),
        state.definition,
        json.dumps(json.loads(body)["answers"]),
        _version(),
    )
    async with state.pool.acquire() as conn:
        if signed_in_here:
            person = (await conn.fetch(SIGN_IN, session_id))[0]["person_id"]
            sql = "SELECT bench_record($1, $2, $3, $4, $5, $6::json, $7::json, $8)"
            assessment = await conn.fetchval(sql, session_id, person, checkin_id, *rest)
        else:
            sql = "SELECT bench_record_all($1, $2, $3, $4, $5::json, $6::json, $7)"
            assessment = await conn.fetchval(sql, session_id, checkin_id, *rest)
    return {"id": str(assessment)}


@post("/one/{session_id:str}/{checkin_id:uuid}", status_code=201)
async def one(state: State, request: Request[Any, Any, Any], session_id: str, checkin_id: uuid.UUID) -> dict[str, str]:
    return await _call(state, request, session_id, checkin_id, signed_in_here=True)


@post("/all/{session_id:str}/{checkin_id:uuid}", status_code=201)
async def all_in_one(
    state: State, request: Request[Any, Any, Any], session_id: str, checkin_id: uuid.UUID
) -> dict[str, str]:
    return await _call(state, request, session_id, checkin_id, signed_in_here=False)


app = Litestar([insert, same, one, all_in_one], lifespan=[_pool])
