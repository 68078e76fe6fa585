"""Numbers and addresses shown to people can be tapped: tel:, sms: and mailto: links."""

from __future__ import annotations

import pytest

from trim.config import DEFAULT_CRISIS_GUIDANCE
from trim.web import contact_href, contact_links


def test_crisis_numbers_become_tap_to_call_links() -> None:
    html = str(contact_links(DEFAULT_CRISIS_GUIDANCE))
    assert '<a href="tel:999">999</a>' in html
    assert '<a href="tel:116123">116 123</a>' in html


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ring +44 20 7946 0000 today", '<a href="tel:+442079460000">+44 20 7946 0000</a>'),
        ("Write to help@eap.example.org.", '<a href="mailto:help@eap.example.org">help@eap.example.org</a>'),
        ("<b>999</b>", '&lt;b&gt;<a href="tel:999">999</a>&lt;/b&gt;'),
        ("Open 24 hours", "Open 24 hours"),
    ],
)
def test_contact_links_link_numbers_and_escape_the_rest(text: str, expected: str) -> None:
    assert expected in str(contact_links(text))


@pytest.mark.parametrize(
    ("method", "contact", "href"),
    [
        ("phone", "07700 900123", "tel:07700900123"),
        ("text", "+44 7700 900123", "sms:+447700900123"),
        ("email", "sam@example.org", "mailto:sam@example.org"),
        ("in_person", "the mess room", None),
        ("phone", "call me", None),
        ("email", None, None),
    ],
)
def test_a_requesters_contact_links_by_the_way_they_chose(method: str, contact: str | None, href: str | None) -> None:
    assert contact_href(method, contact) == href
