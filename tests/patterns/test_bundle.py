"""The company-opening bundle (一件事): one form and one intake feed parallel sub-cases."""
from __future__ import annotations

import pytest

from engine import services
from engine.errors import InvalidInput
from tests.integration.helpers import WINDOW_APPLICANT
from tests.patterns.helpers import COMPANY, complete_only, row_counts

OPENING = {**COMPANY, "seal_count": 2, "invoice_needed": True}


def test_one_form_and_one_intake_open_and_run_the_sub_cases_in_parallel(ow):
    made = services.bundles.apply_bundle(ow, "company-opening", "window1", OPENING, applicant=WINDOW_APPLICANT)
    assert [(c["item_code"], c["status"]) for c in made["cases"]] == [
        ("company-registration", "RECEIVED"), ("seal-engraving", "RECEIVED"), ("tax-registration", "RECEIVED")]
    sub = {c["item_code"]: c["case_no"] for c in made["cases"]}
    assert services.case_detail(ow, sub["seal-engraving"])["form_data"] == {"company_name": COMPANY["company_name"],
                                                                           "seal_count": 2}
    accepted = services.bundles.accept_bundle(ow, made["bundle_no"], "window1", "一窗受理")
    assert [c["status"] for c in accepted["cases"]] == ["DECIDED", "DECIDED", "ACCEPTED"]
    assert services.bundles.bundle_detail(ow, made["bundle_no"])["done"] is False
    complete_only(ow, "tax_reviewer", "register", {"decision": "approve", "opinion": "准予"}, sub["tax-registration"])
    assert services.bundles.bundle_detail(ow, made["bundle_no"])["done"] is True
    for case_no in sub.values():
        assert services.verify_history(ow, case_no)["problems"] == []


def test_a_bad_bundle_form_opens_no_sub_case(ow):
    before = row_counts(ow)
    with pytest.raises(InvalidInput) as err:
        services.bundles.apply_bundle(ow, "company-opening", "window1", {**OPENING, "seal_count": 0},
                                      applicant=WINDOW_APPLICANT)
    assert "seal_count" in err.value.fields
    assert row_counts(ow) == before
