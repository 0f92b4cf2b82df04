"""Who may do what: optional sign-in with st.login (any OIDC provider) and a small roles file.

Without an `[auth]` block in `.streamlit/secrets.toml` the app runs open (on localhost) and everyone
is an admin, as before. With it, people sign in and a roles file maps e-mails to:
- admin: sees everything, may import, undo and clear;
- manager: sees their team (`team = "…"`);
- rep: sees their own deals (`rep = "<rep id or name>"`);
- viewer: sees everything, changes nothing.
An e-mail that is not in the roles file sees nothing. The role becomes a scope that every query
applies in the data layer (it is part of the filters, so of every cache key and every export).

Roles file (path from $SALESCOPE_ROLES, else `[salescope] roles_file` in secrets, else
`.streamlit/roles.toml`):

    [users."ann@example.com"]
    role = "admin"
    [users."li.na@example.com"]
    role = "manager"
    team = "Shanghai"
    [users."mehmet@example.com"]
    role = "rep"
    rep = "R026"
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import streamlit as st

ROLES: tuple[str, ...] = ("admin", "manager", "rep", "viewer")
HERE = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class User:
    """The person using this session and what their role lets them see and do."""

    email: str | None
    role: str                      # admin, manager, rep, viewer, or "none" (signed in, not mapped)
    team: str | None = None
    rep: str | None = None

    @property
    def can_change_data(self) -> bool:
        return self.role == "admin"

    @property
    def sees_anything(self) -> bool:
        return self.role in ROLES

    def scope(self) -> dict[str, tuple[str, ...]]:
        """The part of the filters the role fixes (the data layer applies it to every query)."""
        if self.role == "manager":
            return {"teams": (self.team or "\x00",)}
        if self.role == "rep":
            return {"reps": (self.rep or "\x00",)}
        if self.role in ("admin", "viewer"):
            return {}
        return {"reps": ("\x00",)}       # nothing matches: an unmapped user sees nothing


OPEN_USER = User(email=None, role="admin")


def _secrets() -> dict:
    try:
        return dict(st.secrets)
    except Exception:  # no secrets file at all: open mode
        return {}


def auth_enabled() -> bool:
    """True when `.streamlit/secrets.toml` configures sign-in (an `[auth]` block)."""
    return "auth" in _secrets()


def roles_path() -> Path:
    env = os.environ.get("SALESCOPE_ROLES")
    if env:
        return Path(env)
    conf = _secrets().get("salescope", {})
    return Path(conf.get("roles_file", HERE / ".streamlit" / "roles.toml"))


def load_roles(path: Path) -> dict[str, User]:
    """E-mail (lower case) -> User. A missing or broken file maps nobody (everyone sees nothing)."""
    try:
        with path.open("rb") as fh:
            doc = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError):
        return {}
    out: dict[str, User] = {}
    for email, spec in (doc.get("users") or {}).items():
        role = str(spec.get("role", "")).lower()
        if role in ROLES:
            out[email.strip().lower()] = User(email.strip().lower(), role, spec.get("team"), spec.get("rep"))
    return out


def _identity() -> tuple[bool, str | None]:
    """(signed in?, e-mail) from Streamlit's st.user."""
    user = st.user
    return bool(getattr(user, "is_logged_in", False)), (user.get("email") if hasattr(user, "get") else None)


identity: Callable[[], tuple[bool, str | None]] = _identity   # tests inject a user here


def current_user() -> User | None:
    """The session's user; None when sign-in is required and nobody is signed in yet."""
    if not auth_enabled():
        return OPEN_USER
    signed_in, email = identity()
    if not signed_in:
        return None
    key = (email or "").strip().lower()
    return load_roles(roles_path()).get(key) or User(key or None, "none")
