"""Who may do what: open without configuration; with sign-in, roles from the roles file scope every
query (admin, manager, rep, viewer), and an unmapped person sees nothing. The identity provider is
replaced by an injected user."""
from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from ui import auth
from ui.auth import User, load_roles

ROOT = Path(__file__).resolve().parents[1]
ROLES = """
[users."boss@x.io"]
role = "admin"
[users."mgr@x.io"]
role = "manager"
team = "Shanghai"
[users."rep@x.io"]
role = "rep"
rep = "R001"
[users."look@x.io"]
role = "viewer"
[users."typo@x.io"]
role = "superuser"
"""


def test_roles_file_and_scopes(tmp_path):
    path = tmp_path / "roles.toml"
    path.write_text(ROLES, encoding="utf-8")
    roles = load_roles(path)
    assert set(roles) == {"boss@x.io", "mgr@x.io", "rep@x.io", "look@x.io"}   # an unknown role maps nobody
    assert roles["boss@x.io"].scope() == {} and roles["boss@x.io"].can_change_data
    assert roles["look@x.io"].scope() == {} and not roles["look@x.io"].can_change_data
    assert roles["mgr@x.io"].scope() == {"teams": ("Shanghai",)}
    assert roles["rep@x.io"].scope() == {"reps": ("R001",)}
    nobody = User("who@x.io", "none")
    assert not nobody.sees_anything and nobody.scope() == {"reps": ("\x00",)}
    assert load_roles(tmp_path / "missing.toml") == {}


def test_open_without_configuration():
    assert auth.current_user() == auth.OPEN_USER or not auth.auth_enabled()


def configure_sign_in(monkeypatch, roles_file, roles_text: str, db) -> list[str | None]:
    """Sign-in switched on with this roles file and database, caches dropped; returns `who`, whose
    first item is the injected identity's e-mail (None = not signed in)."""
    roles_file.write_text(roles_text, encoding="utf-8")
    monkeypatch.setenv("SALESCOPE_ROLES", str(roles_file))
    monkeypatch.setenv("SALESCOPE_DB", str(db))
    monkeypatch.setattr(auth, "auth_enabled", lambda: True)
    who: list[str | None] = [None]
    monkeypatch.setattr(auth, "identity", lambda: (who[0] is not None, who[0]))
    st.cache_resource.clear()
    st.cache_data.clear()
    return who


@pytest.fixture
def signed_in(tmp_path, monkeypatch):
    """Sign-in configured; `who` chooses the injected identity (None = not signed in)."""
    yield configure_sign_in(monkeypatch, tmp_path / "roles.toml", ROLES, tmp_path / "auth.duckdb")
    st.cache_resource.clear()
    st.cache_data.clear()


def run_app() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_not_signed_in_sees_only_the_sign_in_button(signed_in):
    at = run_app()
    assert [b.label for b in at.button] == ["Sign in"]
    assert not at.metric and not at.dataframe


def test_unmapped_person_sees_nothing(signed_in):
    signed_in[0] = "stranger@x.io"
    at = run_app()
    assert any("stranger@x.io" in w.value for w in at.warning)
    assert not at.metric and not at.dataframe


@pytest.mark.parametrize("email,role", [("boss@x.io", "admin"), ("look@x.io", "viewer"),
                                        ("mgr@x.io", "manager"), ("rep@x.io", "rep")])
def test_every_role_gets_in_and_only_admins_may_clear_the_demo(signed_in, email, role):
    signed_in[0] = email
    at = run_app()
    assert any(email in c.value for c in at.sidebar.caption), [c.value for c in at.sidebar.caption]
    has_clear = any(b.key == "clear_demo" for b in at.button)
    assert has_clear == (role == "admin")
