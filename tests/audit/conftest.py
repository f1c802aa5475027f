"""The web tests' fixtures (app, signed-in clients) reused for the audit pages."""
from tests.web.conftest import app, as_user, browser  # noqa: F401
