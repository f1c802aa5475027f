"""Every label the web app shows comes from the message catalogue, and English has a translation for each."""
from __future__ import annotations

from pathlib import Path

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

WEB = Path(__file__).resolve().parents[2] / "web"


def test_every_message_of_the_web_app_has_an_english_translation():
    found = {message for _, _, message, _, _ in extract_from_dir(
        # The audit area keeps its own bilingual pages.
        str(WEB), method_map=[("audit.py", "ignore"), ("templates/audit/**.html", "ignore"), ("**.py", "python"),
                              ("templates/**.html", "jinja2")],
        keywords={**DEFAULT_KEYWORDS, "_l": None})}
    with (WEB / "translations/en/LC_MESSAGES/messages.po").open("rb") as po:
        catalogue = {m.id: m.string for m in read_po(po) if m.id}
    assert len(found) > 200
    missing = sorted(m for m in found if not catalogue.get(m))
    assert not missing, f"untranslated: {missing[:10]}"
