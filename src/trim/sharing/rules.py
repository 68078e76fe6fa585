"""What a shared note may say, and what may happen to it next: pure, no I/O."""

from __future__ import annotations

from trim.sharing.models import NoteStatus

STATUS_LABELS = {
    NoteStatus.suggested: "suggested by your peer supporter, not shared",
    NoteStatus.shared: "shared",
    NoteStatus.withdrawn: "withdrawn",
}


def clean_note_text(text: str | None) -> str:
    """The note as the manager will read it: one paragraph, spaces tidied."""
    return " ".join((text or "").split())


def note_text_problem(text: str, *, max_chars: int) -> str | None:
    """What to fix in a note before it can be kept, or None."""
    if not text:
        return "Write the note your manager will read."
    if len(text) > max_chars:
        return f"Keep the note to {max_chars} characters or fewer (this one has {len(text)})."
    return None


def may_release(status: str) -> bool:
    """Only a suggestion waits to be released; a shared note is already out, a withdrawn one
    is gone (the person writes a new one)."""
    return status == NoteStatus.suggested


def may_withdraw(status: str) -> bool:
    """A shared note is withdrawn; a suggestion the person does not want is set aside."""
    return status in (NoteStatus.shared, NoteStatus.suggested)
