"""Instruments are data: versioned definition files, validated when loaded.

An organisation can add or replace one without code: drop a TOML file in the
instruments folder (or TRIM_INSTRUMENTS_DIR) and restart.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, cast

BUILTIN_DIR = Path(__file__).resolve().parent / "instruments"
SCORINGS = ("count_yes",)
# When an item is about: history, the event itself, or how the person is now. Only
# "after" items can change, so only they can make difficulties "persistent".
PHASES = ("before", "during", "after")
Phase = Literal["before", "during", "after"]

# The offered_at entry naming every return-to-work check-in (design section 18).
RETURN_TO_WORK = "return_to_work"
# A high-exposure group's periodic check-in (design section 14): one kind, no day number.
PERIODIC = "periodic"


def _is_kind(kind: str, prefix: str) -> bool:
    """day28 is a "day" kind, rtw7 an "rtw" (return-to-work) kind."""
    return kind.startswith(prefix) and kind[len(prefix) :].isdigit()


class InstrumentError(Exception):
    """A definition file is broken; the message names the file and the problem."""


@dataclass(frozen=True)
class Item:
    id: str
    text: str
    section: str = ""
    phase: Phase = "after"
    # The first-person wording the person reads when they answer themselves (design
    # section 14); None: they are asked in the peer's wording.
    self_text: str | None = None

    @property
    def own_words(self) -> str:
        """What the person reads when answering themselves."""
        return self.self_text or self.text


@dataclass(frozen=True)
class Band:
    name: str
    min: int
    label: str


@dataclass(frozen=True)
class Instrument:
    id: str
    version: int
    title: str
    intro: str
    offered_at: tuple[str, ...]
    scoring: str
    bands: tuple[Band, ...]
    flag_band: str
    items: tuple[Item, ...]
    self_intro: str = ""

    @property
    def item_ids(self) -> tuple[str, ...]:
        return tuple(i.id for i in self.items)

    @property
    def phases(self) -> dict[str, str]:
        return {i.id: i.phase for i in self.items}

    def band_label(self, name: str | None) -> str:
        return next((b.label for b in self.bands if b.name == name), name or "")

    def sections(self) -> list[tuple[str, list[Item]]]:
        grouped: dict[str, list[Item]] = {}
        for item in self.items:
            grouped.setdefault(item.section, []).append(item)
        return list(grouped.items())

    def as_data(self) -> dict[str, Any]:
        """The definition as stored with an assessment (history never rewritten)."""
        return {
            "id": self.id,
            "version": self.version,
            "title": self.title,
            "offered_at": list(self.offered_at),
            "scoring": self.scoring,
            "flag_band": self.flag_band,
            "bands": [{"name": b.name, "min": b.min, "label": b.label} for b in self.bands],
            "self_intro": self.self_intro,
            "items": [
                {"id": i.id, "text": i.text, "section": i.section, "phase": i.phase, "self_text": i.self_text}
                for i in self.items
            ],
        }


def parse_instrument(data: dict[str, Any], *, source: str) -> Instrument:
    """Check a definition thoroughly and build it; every problem names the file."""

    def fail(problem: str) -> InstrumentError:
        return InstrumentError(f"instrument file {source}: {problem}")

    for key in ("id", "version", "title", "offered_at", "scoring", "bands", "items", "flag_band"):
        if key not in data:
            raise fail(f"'{key}' is missing")
    if not isinstance(data["id"], str) or not data["id"].replace("_", "").isalnum():
        raise fail("'id' must be letters, digits and underscores")
    if not isinstance(data["version"], int) or data["version"] < 1:
        raise fail("'version' must be a whole number from 1")
    if data["scoring"] not in SCORINGS:
        raise fail(f"'scoring' must be one of {', '.join(SCORINGS)}")
    offered = data["offered_at"]
    if (
        not isinstance(offered, list)
        or not offered
        or not all(
            isinstance(k, str) and (k in (RETURN_TO_WORK, PERIODIC) or _is_kind(k, "day") or _is_kind(k, "rtw"))
            for k in offered
        )
    ):
        raise fail(
            f'\'offered_at\' must list check-in kinds like "day3", "day28", "rtw28", "{PERIODIC}" or "{RETURN_TO_WORK}"'
        )
    items_raw = data["items"]
    if not isinstance(items_raw, list) or not items_raw:
        raise fail("'items' must list at least one item")
    default_phase = data.get("phase")
    if default_phase is not None and default_phase not in PHASES:
        raise fail(f"'phase' must be one of {', '.join(PHASES)}")
    items = []
    for index, raw in enumerate(items_raw, start=1):
        if not isinstance(raw, dict) or not raw.get("id") or not raw.get("text"):
            raise fail(f"item {index} needs an 'id' and a 'text'")
        phase = raw.get("phase", default_phase)
        if phase not in PHASES:
            raise fail(f"item {index} needs a 'phase' ({', '.join(PHASES)}), or the file a 'phase' for all its items")
        self_text = raw.get("self_text")
        if self_text is not None and (not isinstance(self_text, str) or not self_text.strip()):
            raise fail(f"item {index}: 'self_text' must be the item in the person's own words, or left out")
        items.append(
            Item(
                id=str(raw["id"]),
                text=str(raw["text"]),
                section=str(raw.get("section", "")),
                phase=cast(Phase, phase),
                self_text=self_text.strip() if self_text else None,
            )
        )
    ids = [i.id for i in items]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise fail(f"item id {duplicates[0]!r} is used twice")
    bands_raw = data["bands"]
    if not isinstance(bands_raw, list) or not bands_raw:
        raise fail("'bands' must list at least one band")
    bands = []
    for raw in bands_raw:
        if not isinstance(raw, dict) or "name" not in raw or not isinstance(raw.get("min"), int):
            raise fail("each band needs a 'name' and a whole-number 'min'")
        bands.append(Band(name=str(raw["name"]), min=int(raw["min"]), label=str(raw.get("label", raw["name"]))))
    bands.sort(key=lambda b: b.min)
    if bands[0].min != 0:
        raise fail("the lowest band must start at min = 0")
    if len({b.min for b in bands}) != len(bands):
        raise fail("two bands start at the same score")
    if bands[-1].min > len(items):
        raise fail(f"band {bands[-1].name!r} starts above the highest possible score ({len(items)})")
    if data["flag_band"] not in {b.name for b in bands}:
        raise fail(f"'flag_band' {data['flag_band']!r} is not one of the bands")
    return Instrument(
        id=data["id"],
        version=data["version"],
        title=str(data["title"]),
        intro=str(data.get("intro", "")),
        self_intro=str(data.get("self_intro", "")),
        offered_at=tuple(offered),
        scoring=data["scoring"],
        bands=tuple(bands),
        flag_band=str(data["flag_band"]),
        items=tuple(items),
    )


def load_dir(folder: Path) -> dict[str, Instrument]:
    found: dict[str, Instrument] = {}
    for path in sorted(folder.glob("*.toml")):
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise InstrumentError(f"instrument file {path.name}: not valid TOML ({exc})") from None
        instrument = parse_instrument(data, source=path.name)
        if instrument.id in found:
            raise InstrumentError(f"instrument file {path.name}: id {instrument.id!r} is defined twice")
        found[instrument.id] = instrument
    if "trim_risk" not in found:
        raise InstrumentError(f"no 'trim_risk' instrument in {folder}: it is asked at every check-in")
    return found


@lru_cache(maxsize=4)
def load(folder: str | None = None) -> dict[str, Instrument]:
    """All instruments by id (cached; validated on first use and at start-up)."""
    return load_dir(Path(folder) if folder else BUILTIN_DIR)


def offered_at(instruments: dict[str, Instrument], kind: str) -> list[Instrument]:
    """The instruments asked at this kind of check-in, in a stable order (trim_risk first).
    A return-to-work check-in (rtw7, rtw28, ...) asks what lists its own kind or
    "return_to_work" (every one of them)."""
    names = {kind, RETURN_TO_WORK} if _is_kind(kind, "rtw") else {kind}
    chosen = [i for i in instruments.values() if names & set(i.offered_at)]
    return sorted(chosen, key=lambda i: (i.id != "trim_risk", i.id))
