"""Scoring: pure functions of plain values (the flag rules are trim.flags.rules)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from trim.assessments.instruments import Instrument


@dataclass(frozen=True)
class Result:
    instrument: str
    version: int
    score: int
    band: str
    flagged: bool  # the score is in the instrument's flag band


def score(instrument: Instrument, answers: Mapping[str, bool]) -> Result:
    """Score complete answers (validated by the caller) with the instrument's own rules."""
    total = sum(1 for item in instrument.items if answers[item.id])
    band = band_for(total, instrument)
    return Result(instrument.id, instrument.version, total, band, band == instrument.flag_band)


def band_for(total: int, instrument: Instrument) -> str:
    chosen = instrument.bands[0].name
    for band in instrument.bands:
        if total >= band.min:
            chosen = band.name
    return chosen
