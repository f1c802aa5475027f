"""An auditor cannot change anything: every use case that writes refuses the auditor role and changes nothing."""
from __future__ import annotations

from datetime import date

import pytest

from engine import services
from engine.errors import Forbidden, NotFound
from engine.services import materials, portal, proxy
from tests.integration.helpers import AD_APPLICATION, accepted_ad_case, new_ad_case, only_task


def test_every_write_use_case_refuses_the_auditor(ow):
    received, accepted = new_ad_case(ow), accepted_ad_case(ow)
    task_id = only_task(ow, "reviewer1", "review", accepted)
    pending = proxy.grant_mandate(ow, "agent1", "zhangsan", "agent1", "outdoor-ad", date(2026, 3, 10),
                                  date(2026, 12, 31), {"method": "signed_form", "reference": "X-0"})["id"]
    before = {c: services.history(ow, c) for c in (received, accepted)}
    mandates = proxy.list_mandates(ow, "zhangsan")
    attempts = {
        "apply": lambda: services.apply(ow, "outdoor-ad", "auditor1", AD_APPLICATION),
        "accept": lambda: services.accept(ow, received, "auditor1"),
        "reject": lambda: services.reject_at_intake(ow, received, "auditor1", "审计员不应操作"),
        "withdraw": lambda: services.withdraw(ow, accepted, "auditor1"),
        "claim": lambda: services.claim(ow, task_id, "auditor1"),
        "complete": lambda: services.complete(ow, task_id, "auditor1", {"decision": "pass", "opinion": "x"}),
        "suspend": lambda: services.suspend(ow, accepted, "auditor1", "专家评审", "需要评审"),
        "extend": lambda: services.extend(ow, accepted, "auditor1", 2, "复杂"),
        "request_correction": lambda: services.request_correction(ow, accepted, "auditor1", ["场地证明"]),
        "receive_correction": lambda: services.receive_correction(ow, accepted, "auditor1"),
        "one_time_notice": lambda: materials.one_time_notice(ow, received, "auditor1", []),
        "rate": lambda: portal.rate(ow, accepted, 1, username="auditor1"),
        "grant_mandate": lambda: proxy.grant_mandate(ow, "auditor1", "zhangsan", "agent1", "outdoor-ad",
                                                     date(2026, 3, 10), date(2026, 12, 31),
                                                     {"method": "signed_form", "reference": "X-1"}),
        "confirm_mandate": lambda: proxy.confirm_mandate(ow, "auditor1", pending),
        "decline_mandate": lambda: proxy.decline_mandate(ow, "auditor1", pending),
        "revoke_mandate": lambda: proxy.revoke_mandate(ow, "auditor1", pending),
    }
    for name, attempt in attempts.items():
        with pytest.raises((Forbidden, NotFound)):
            attempt()
        assert {c: services.history(ow, c) for c in before} == before, name
        assert proxy.list_mandates(ow, "zhangsan") == mandates, name
