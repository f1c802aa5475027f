"""Sign-in throttling: wrong passwords slow down whoever types them, never lock the clerk out of their account."""
from __future__ import annotations

from tests.web.conftest import DEMO_PASSWORD, csrf_of

CLERK_DESK, STRANGER = "10.1.0.5", "10.9.9.9"


def _login(client, username: str, password: str, remote: str):
    """Post the sign-in form from `remote`."""
    token = csrf_of(client.get("/auth/login"))
    return client.post("/auth/login", data={"username": username, "password": password, "csrf_token": token},
                       environ_base={"REMOTE_ADDR": remote})


def test_a_stranger_guessing_cannot_lock_the_clerk_out(app):
    stranger, clerk = app.test_client(), app.test_client()
    statuses = [_login(stranger, "window1", f"guess-{n}", STRANGER).status_code for n in range(12)]
    assert statuses[:3] == [401, 401, 401] and 429 in statuses
    # The stranger's address waits, even with the right password …
    assert _login(stranger, "window1", DEMO_PASSWORD, STRANGER).status_code == 429
    # … while the clerk at their own desk signs in at once.
    assert _login(clerk, "window1", DEMO_PASSWORD, CLERK_DESK).status_code == 302


def test_the_wait_doubles_with_each_failure_and_passes(app, clock):
    client = app.test_client()
    for n in range(3):
        assert _login(client, "window2", f"typo-{n}", CLERK_DESK).status_code == 401
    slowed = _login(client, "window2", DEMO_PASSWORD, CLERK_DESK)
    assert slowed.status_code == 429 and slowed.headers["Retry-After"] == "2"
    assert "2 秒后再试" in slowed.get_data(as_text=True)
    clock.advance(seconds=3)
    assert _login(client, "window2", "typo-again", CLERK_DESK).status_code == 401
    assert _login(client, "window2", DEMO_PASSWORD, CLERK_DESK).headers["Retry-After"] == "4"
    clock.advance(seconds=5)
    assert _login(client, "window2", DEMO_PASSWORD, CLERK_DESK).status_code == 302
    # A success forgets the earlier typos of that desk.
    assert _login(app.test_client(), "window2", "one-more-typo", CLERK_DESK).status_code == 401


def test_one_address_guessing_many_accounts_is_slowed_down(app):
    client = app.test_client()
    for n in range(20):
        assert _login(client, f"nobody{n}", "guess", STRANGER).status_code == 401
    assert _login(client, "reviewer1", DEMO_PASSWORD, STRANGER).status_code == 429
    assert _login(app.test_client(), "reviewer1", DEMO_PASSWORD, CLERK_DESK).status_code == 302


def test_guesses_at_one_account_from_many_addresses_slow_new_addresses_but_not_a_known_desk(app):
    assert _login(app.test_client(), "chief1", DEMO_PASSWORD, CLERK_DESK).status_code == 302
    client = app.test_client()
    for n in range(20):
        assert _login(client, "chief1", "guess", f"10.8.0.{n}").status_code == 401
    assert _login(client, "chief1", DEMO_PASSWORD, "10.8.1.1").status_code == 429
    assert _login(app.test_client(), "chief1", DEMO_PASSWORD, CLERK_DESK).status_code == 302
