"""Use cases: the only entry point for the web app, the CLI, the scheduler and the tests."""
from engine.services import accounts, bundles, casefile, designer, materials, organisation, portal, proxy
from engine.services.audit import verify_history
from engine.services.catalogue import deploy_catalogue, deploy_paths, validate_paths
from engine.services.clock import (
    calendar_add,
    calendar_between,
    extend,
    import_calendar,
    receive_correction,
    request_correction,
    resume,
    seed_calendar,
    suspend,
    sweep,
)
from engine.services.intake import accept, apply, reject_at_intake, withdraw
from engine.services.organisation import load_organisation
from engine.services.queries import case_detail, history, inbox, list_items
from engine.services.tasks import claim, complete, unclaim

__all__ = [
    "accounts", "casefile", "designer", "portal",
    "bundles", "materials", "proxy",
    "accept", "apply", "case_detail", "claim", "complete", "deploy_catalogue", "deploy_paths", "history",
    "inbox", "list_items", "load_organisation", "organisation", "reject_at_intake", "unclaim", "validate_paths",
    "verify_history", "withdraw",
    "calendar_add", "calendar_between", "extend", "import_calendar", "receive_correction", "request_correction",
    "resume", "seed_calendar", "suspend", "sweep",
]
