"""The demo catalogue: real items covering every routing pattern, with bilingual forms and a deemed renewal."""
from __future__ import annotations

import tomllib
from datetime import UTC, datetime

from engine import services
from engine.catalog import PROCESSES_DIR, catalogue_paths, read_item
from engine.forms import FormRegistry
from engine.services.bundles import read_bundle
from tests.patterns.helpers import CONSTRUCTION, accepted, complete_only, opinions

RENEWAL = {"licence_no": "JY13301000009", "licence_type": "食品经营许可证", "licence_expires_on": "2030-06-30"}


def test_the_catalogue_covers_every_pattern_with_real_limits_materials_fees_and_bilingual_forms():
    forms = FormRegistry()
    items = [read_item(path).manifest for path in catalogue_paths()]
    assert len(items) >= 8
    assert {m.get("pattern", "serial") for m in items} >= {"serial", "joint", "report-up", "proxy", "instant"}
    for m in items:
        assert m["materials"] and m["fees"] and m["legal_basis"], m["code"]
        schema = forms.schema(m["application_form"])
        assert schema["title"] and schema["x-title-en"], m["code"]
        assert all(f["title"] and f["x-title-en"] for f in schema["properties"].values()), m["code"]
    by_code = {m["code"]: m for m in items}
    assert by_code["food-business"]["statutory_limit"] == "10wd"
    assert by_code["company-registration"]["case_type"] == "instant"


def test_each_bundle_field_exists_in_the_bundle_form_and_in_the_item_form():
    forms = FormRegistry()
    bundle = read_bundle("company-opening")
    own = forms.schema(bundle["application_form"])["properties"]
    for entry in bundle["items"]:
        item = tomllib.loads((PROCESSES_DIR / f"{entry['item']}.item.toml").read_text(encoding="utf-8"))
        theirs = forms.schema(item["application_form"])["properties"]
        assert set(entry["fields"]) <= set(own) and set(entry["fields"]) == set(theirs), entry["item"]


def test_an_undecided_renewal_is_deemed_renewed_when_the_licence_expires(ow, clock):
    case_no = accepted(ow, "licence-renewal", RENEWAL)
    # The decision clocks have long run out by then (ladder stages fire); the renewal timer waits for the expiry day.
    early = services.sweep(ow, datetime(2030, 6, 30, 12, tzinfo=UTC))
    assert "deemed_renewed" not in [f.get("event") for f in early]
    fired = services.sweep(ow, datetime(2030, 6, 30, 16, 1, tzinfo=UTC))
    assert [f.get("event") for f in fired] == ["deemed_renewed"]
    detail = services.case_detail(ow, case_no)
    assert (detail["status"], detail["result"], detail["open_tasks"]) == ("DECIDED", "deemed_renewed", [])


# DOMAIN.md §7: the demo catalogue's items, each with its pattern.
SECTION_7 = {"company-registration": "instant", "food-business": "serial", "building-planning": "joint",
             "construction-permit": "joint", "pollutant-discharge": "serial", "outdoor-ad": "serial",
             "medical-institution": "report-up", "min-living-allowance": "proxy", "licence-renewal": "serial"}


def test_every_item_of_the_domain_catalogue_is_there_with_its_pattern():
    items = {m["code"]: m for m in (read_item(path).manifest for path in catalogue_paths())}
    assert {code: items[code].get("pattern", "serial") for code in SECTION_7 if code in items} == SECTION_7
    # The limits §7 gives: the permit's own 7 days (建筑法 art. 8) and the planning permit's 20 working days.
    assert [items["construction-permit"][k] for k in ("statutory_limit", "promised_limit")] == ["7d", "3wd"]
    assert items["building-planning"]["statutory_limit"] == "20wd"


def test_a_construction_permit_is_reviewed_jointly_then_issued_by_the_housing_bureau(ow):
    case_no = accepted(ow, "construction-permit", CONSTRUCTION)
    clocks = {c["kind"]: (c["budget"], c["unit"]) for c in services.case_detail(ow, case_no)["clocks"]
              if c["kind"] in ("statutory", "promised")}
    assert clocks == {"statutory": (7, "d"), "promised": (3, "wd")}
    for reviewer in ("housing_reviewer", "reviewer1"):
        assert [t["bpmn_id"] for t in services.inbox(ow, reviewer)] == ["joint_review"]
        assert complete_only(ow, reviewer, "joint_review", {"decision": "agree", "opinion": "同意"}) == "IN_REVIEW"
    assert complete_only(ow, "housing_reviewer", "decide", {"decision": "approve", "opinion": "准予核发",
                                                            "certificate_no": "330100202603100101"}) == "DECIDED"
    assert services.case_detail(ow, case_no)["result"] == "approved"
    assert opinions(ow, case_no) == [("joint_review", "city-housing", "agree"), ("joint_review", "city-urban", "agree"),
                                     ("decide", "city-housing", "approve")]
    assert services.verify_history(ow, case_no)["problems"] == []


def test_the_urban_management_bureau_refusing_the_waste_disposal_refuses_the_permit(ow):
    case_no = accepted(ow, "construction-permit", CONSTRUCTION)
    assert complete_only(ow, "reviewer1", "joint_review", {"decision": "refuse", "opinion": "建筑垃圾处置方案不可行"}) \
        == "DECIDED"
    detail = services.case_detail(ow, case_no)
    assert (detail["result"], detail["open_tasks"]) == ("refused", [])
    assert services.inbox(ow, "housing_reviewer") == []
