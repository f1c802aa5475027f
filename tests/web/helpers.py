"""Data the web tests hand in: an application form, material files, and walking a case through the inbox."""
from __future__ import annotations

import re

from tests.web.conftest import Browser

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
AD_FORM = {"site_address": "解放路88号东墙", "facility_type": "wall", "area_sqm": "12.5", "period_months": "24",
           "applicant-phone": "0571-88000000", "applicant-id_type": "resident_id", "applicant-id_no": "330102199001011234"}
MATERIAL = "户外广告设施设置申请表"


def apply_online(b: Browser, extra: dict | None = None, files: dict | None = None):
    """Submit the outdoor-advertising application through the portal form."""
    data = {**AD_FORM, **(extra or {}), "material-1-name": MATERIAL}
    for key, value in (files or {}).items():
        data[key] = value
    return b.submit("/items/outdoor-ad/apply", "/items/outdoor-ad/apply", data, content_type="multipart/form-data")


def task_of(b: Browser, case_no: str, scope: str = "all") -> str:
    """The task id of the case's row in the user's inbox."""
    page = b.client.get(f"/inbox/?scope={scope}&case_no={case_no}").get_data(as_text=True)
    found = re.search(r'href="/inbox/tasks/([0-9a-f-]{36})"', page)
    assert found, f"no task of {case_no} in the inbox"
    return found.group(1)


def claim_and_complete(b: Browser, case_no: str, data: dict):
    """Claim the case's task in the user's inbox and complete it with `data`."""
    task_id = task_of(b, case_no)
    assert b.submit(f"/inbox/tasks/{task_id}", f"/inbox/tasks/{task_id}/claim", {}).status_code == 302
    return b.submit(f"/inbox/tasks/{task_id}", f"/inbox/tasks/{task_id}/complete", data)
