"""Web fixtures: the Flask app around the `ow` fixture, signed-in clients, and helpers that read forms."""
from __future__ import annotations

import re

import pytest

from web.app import compile_catalogues, create_app

DEMO_PASSWORD = "demo-1234"
ONCE_TOKEN = re.compile(r'name="once" value="([^"]+)"')
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="session", autouse=True)
def catalogues():
    """The English catalogue compiled from its .po, as `make` does."""
    compile_catalogues()


@pytest.fixture
def app(ow, tmp_path):
    """The web app on the test database; uploads go to a temporary folder."""
    app = create_app(ow, {"TESTING": True, "SECRET_KEY": "test", "SESSION_COOKIE_SECURE": False,
                          "UPLOAD_FOLDER": str(tmp_path / "uploads")})
    return app


class Browser:
    """A test client that signs in and submits forms with their CSRF and one-time tokens, like a person would."""

    def __init__(self, client):
        self.client = client

    def login(self, username: str, password: str = DEMO_PASSWORD):
        """Sign in through the login form."""
        page = self.client.get("/auth/login")
        return self.client.post("/auth/login", data={"username": username, "password": password,
                                                     "csrf_token": csrf_of(page)})

    def tokens(self, url: str) -> dict[str, str]:
        """The CSRF and one-time tokens of the form on `url`."""
        return self.tokens_in(self.client.get(url))

    @staticmethod
    def tokens_in(page) -> dict[str, str]:
        """The CSRF and one-time tokens of a page already loaded."""
        found = {"csrf_token": csrf_of(page)}
        once = ONCE_TOKEN.search(page.get_data(as_text=True))
        if once:
            found["once"] = once.group(1)
        return found

    def submit(self, form_url: str, action: str, data: dict, **kwargs):
        """Load the page holding a form, then post to its action with the page's tokens."""
        return self.client.post(action, data={**self.tokens(form_url), **data}, **kwargs)


def csrf_of(page) -> str:
    """The CSRF token in a page."""
    found = _CSRF.search(page.get_data(as_text=True))
    assert found, "the page has no CSRF token"
    return found.group(1)


@pytest.fixture
def browser(app):
    """A fresh signed-out client."""
    return Browser(app.test_client())


@pytest.fixture
def as_user(app):
    """Signed-in clients by username."""
    def make(username: str) -> Browser:
        b = Browser(app.test_client())
        response = b.login(username)
        assert response.status_code == 302, f"{username} could not sign in"
        return b
    return make
