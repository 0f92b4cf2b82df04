"""The committed server settings: .streamlit/config.toml holds the hardening the app relies on, every
key is a real Streamlit option with a valid value, and the optional sign-in example is complete."""
from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import pytest
from streamlit import config as st_config

from data.ingest.read import DEFAULT_MAX_BYTES

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / ".streamlit" / "config.toml"
SECRETS_EXAMPLE = ROOT / ".streamlit" / "secrets.toml.example"


@pytest.fixture(scope="module")
def settings() -> dict:
    with CONFIG.open("rb") as fh:
        return tomllib.load(fh)


def _flat(settings: dict) -> dict[str, object]:
    return {f"{section}.{key}": value for section, options in settings.items() for key, value in options.items()}


def options() -> dict:
    return st_config._config_options_template


def test_every_key_is_a_streamlit_option(settings):
    known = options()
    flat = _flat(settings)
    assert flat, "config.toml is empty"
    unknown = [key for key in flat if key not in known]
    assert not unknown, f"not Streamlit options: {unknown}"
    deprecated = [key for key in flat if known[key].deprecated]
    assert not deprecated, f"deprecated options: {deprecated}"
    for key, value in flat.items():
        default = known[key].default_val
        if isinstance(default, bool):
            assert isinstance(value, bool), (key, value)
        elif isinstance(default, int):
            assert isinstance(value, int) and not isinstance(value, bool), (key, value)


def test_upload_limit_matches_the_importer(settings):
    assert settings["server"]["maxUploadSize"] == 200
    assert settings["server"]["maxUploadSize"] * 1024 * 1024 == DEFAULT_MAX_BYTES
    assert settings["server"].get("maxMessageSize", 200) >= settings["server"]["maxUploadSize"]


def test_hardening(settings):
    assert settings["server"]["enableXsrfProtection"] is True
    assert settings["server"].get("enableCORS", True) is True, "XSRF protection needs CORS protection on"
    assert settings["browser"]["gatherUsageStats"] is False


def test_error_details_are_hidden_with_an_accepted_value(settings):
    value = settings["client"]["showErrorDetails"]
    assert value == "none"
    accepted = re.findall(r'-\s+"(\w+)"\s*:', options()["client.showErrorDetails"].description)
    assert set(accepted) >= {"full", "stacktrace", "type", "none"}, accepted
    assert value in accepted


def test_logger_level(settings):
    level = settings["logger"]["level"]
    accepted = re.findall(r'"(\w+)"', options()["logger.level"].description)
    assert level in accepted and level in ("error", "warning", "info", "debug"), (level, accepted)


def test_streamlit_reads_the_file(settings):
    """Streamlit's own loader, run from the project folder, ends up with these values."""
    code = (
        "from streamlit import config; config.get_config_options(force_reparse=True); "
        "print(config.get_option('server.maxUploadSize'), config.get_option('server.enableXsrfProtection'), "
        "config.get_option('client.showErrorDetails'), config.get_option('browser.gatherUsageStats'), "
        "config.get_option('logger.level'))"
    )
    import sys

    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["200", "True", "none", "False", settings["logger"]["level"]], out.stdout


def test_secrets_example_is_optional_and_complete():
    text = SECRETS_EXAMPLE.read_text(encoding="utf-8")
    assert "OPTIONAL" in text.splitlines()[0], "the first line must say the file is optional"
    # as shipped, nothing is active: copying it unchanged turns nothing on
    assert tomllib.loads(text) == {}
    # uncommented, it is a valid st.login configuration
    active = tomllib.loads("\n".join(re.sub(r"^# ?", "", line) for line in text.splitlines()
                                     if re.match(r"^# ?(\[|[a-z_]+ = )", line)))
    auth = active["auth"]
    for key in ("redirect_uri", "cookie_secret", "client_id", "client_secret", "server_metadata_url"):
        assert auth.get(key), f"[auth] {key} is not documented"
    assert auth["redirect_uri"].endswith("/oauth2callback")
    assert auth["server_metadata_url"].endswith("/.well-known/openid-configuration")
    assert "roles_file" in active.get("salescope", {})


def test_real_secrets_are_never_committed():
    out = subprocess.run(["git", "check-ignore", "-q", ".streamlit/secrets.toml"], cwd=ROOT)
    assert out.returncode == 0, ".streamlit/secrets.toml must be git-ignored"
    tracked = subprocess.run(["git", "ls-files", ".streamlit"], cwd=ROOT, capture_output=True, text=True).stdout
    assert ".streamlit/secrets.toml\n" not in tracked + "\n"
