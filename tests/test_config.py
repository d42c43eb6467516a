"""Start-up configuration: SPEC section 8 names, defaults, ranges and masking."""

import math
from pathlib import Path

import annotated_types
import pytest

from s5vec.config import MIB, SECP256K1_ORDER, ConfigError, Settings, mask_url

ENV_EXAMPLE = Path(__file__).resolve().parents[1] / ".env.example"
KEY = "1f" * 32

SPEC_DEFAULTS = {
    "S5VEC_HOST": "127.0.0.1",
    "S5VEC_PORT": "8080",
    "S5VEC_DATA_DIR": "data",
    "S5_STORAGE": "local",
    "S5_LOCAL_DIR": "data/s5",
    "ENHANCED_S5_URL": "http://localhost:5522",
    "S5_PORTAL_URLS": "",
    "S5_MAX_PARALLEL_CHUNKS": "10",
    "S5_DOWNLOAD_TIMEOUT_SECONDS": "30",
    "S5_LOADING_TIMEOUT_MINUTES": "5",
    "VECTOR_INDEX_CACHE_SIZE": "10",
    "VECTOR_INDEX_CACHE_TTL_HOURS": "24",
    "VECTOR_CACHE_MAX_MEMORY_MB": "1000",
    "S5_DOWNLOAD_RETRIES": "3",
    "S5_RATE_LIMIT_REQUESTS": "100",
    "S5_RATE_LIMIT_WINDOW_SECONDS": "60",
    "VECTOR_MEMORY_LIMIT_MB": "500",
    "HOST_PRIVATE_KEY": "unset",
    "S5VEC_REQUIRE_SIGNER_MATCH": "true",
    "S5VEC_LOG_FORMAT": "console",
    "S5VEC_LOG_LEVEL": "info",
    "S5VEC_MAX_FRAME_MB": "64",
    "S5VEC_MAX_UPLOADED_VECTORS": "100000",
    "S5VEC_MAX_CONNECTIONS": "1000",
    "S5VEC_IDLE_TIMEOUT_SECONDS": "1800",
    "S5VEC_ALLOWED_ORIGINS": "",
}


def config_error(environ: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as info:
        Settings.from_env(environ)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_defaults_are_the_spec_defaults() -> None:
    summary = Settings.from_env({}).masked_summary()
    assert {name: summary[name] for name in SPEC_DEFAULTS} == SPEC_DEFAULTS


def test_every_spec_variable_is_a_setting() -> None:
    assert set(SPEC_DEFAULTS) <= set(Settings.env_names())


def test_process_environment_does_not_leak_into_from_env(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("S5VEC_PORT", "9999")
    assert Settings.from_env({}).s5vec_port == 8080


def test_names_are_case_insensitive_and_unknown_names_ignored() -> None:
    settings = Settings.from_env({"s5vec_port": "9000", "S5_Storage": "BRIDGE", "OTHER": "x"})
    assert settings.s5vec_port == 9000
    assert settings.s5_storage == "bridge"


def test_empty_value_means_default() -> None:
    settings = Settings.from_env({"S5VEC_PORT": "", "HOST_PRIVATE_KEY": "", "S5_PORTAL_URLS": ""})
    assert settings.s5vec_port == 8080
    assert settings.host_private_key is None
    assert settings.s5_portal_urls == []


def _boundary_violations() -> list[tuple[str, str]]:
    """One out-of-range value just past each declared numeric bound."""
    cases = []
    for name, field in Settings.model_fields.items():
        for meta in field.metadata:
            if isinstance(meta, annotated_types.Ge):
                assert isinstance(meta.ge, int)
                cases.append((name.upper(), str(meta.ge - 1)))
            elif isinstance(meta, annotated_types.Le):
                assert isinstance(meta.le, int)
                cases.append((name.upper(), str(meta.le + 1)))
            elif isinstance(meta, annotated_types.Gt):
                cases.append((name.upper(), str(meta.gt)))
    return cases


BOUNDARY_VIOLATIONS = _boundary_violations()


def test_every_spec_range_has_a_boundary_case() -> None:
    names = {name for name, _ in BOUNDARY_VIOLATIONS}
    for name in [
        "S5_MAX_PARALLEL_CHUNKS",
        "S5_DOWNLOAD_TIMEOUT_SECONDS",
        "S5_LOADING_TIMEOUT_MINUTES",
        "VECTOR_INDEX_CACHE_SIZE",
        "VECTOR_INDEX_CACHE_TTL_HOURS",
        "S5_DOWNLOAD_RETRIES",
        "S5_RATE_LIMIT_REQUESTS",
        "S5_RATE_LIMIT_WINDOW_SECONDS",
    ]:
        assert name in names
    assert ("S5_MAX_PARALLEL_CHUNKS", "21") in BOUNDARY_VIOLATIONS
    assert ("S5_RATE_LIMIT_REQUESTS", "100001") in BOUNDARY_VIOLATIONS


@pytest.mark.parametrize(("name", "value"), BOUNDARY_VIOLATIONS)
def test_out_of_range_value_names_the_variable_and_its_range(name: str, value: str) -> None:
    message = config_error({name: value})
    assert message.startswith(f"Invalid configuration: {name} must be ")
    assert any(word in message for word in ("from", ">=", ">"))


@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("S5VEC_PORT", "http", "an integer from 0 to 65535"),
        ("S5_STORAGE", "s3", "one of local, bridge"),
        ("S5VEC_LOG_FORMAT", "xml", "one of console, json"),
        ("S5VEC_LOG_LEVEL", "loud", "one of debug, info, warning, error"),
        ("S5VEC_REQUIRE_SIGNER_MATCH", "maybe", "true or false"),
        ("S5VEC_INDEX_QUANTIZATION", "f8", "one of f32, f16, i8"),
        ("S5_DOWNLOAD_TIMEOUT_SECONDS", "nan", "a number > 0"),
        ("S5_DOWNLOAD_TIMEOUT_SECONDS", "inf", "a number > 0"),
        ("S5_DOWNLOAD_RETRIES", "2.5", "an integer from 0 to 10"),
        ("ENHANCED_S5_URL", "ftp://bridge", "http:// or https:// URL"),
        ("ENHANCED_S5_URL", "http://[::1", "http:// or https:// URL"),
        ("ENHANCED_S5_URL", "http://bridge:99999", "http:// or https:// URL"),
        ("S5_PORTAL_URLS", "https://ok.example,not-a-url", "http:// or https:// URL"),
        ("S5VEC_ALLOWED_ORIGINS", "https://app.example/path", "origins like"),
        ("HOST_PRIVATE_KEY", "abc", "64 hex digits"),
    ],
)
def test_bad_value_names_the_variable_and_allowed_values(
    name: str, value: str, allowed: str
) -> None:
    message = config_error({name: value})
    assert message.startswith(f"Invalid configuration: {name} ")
    assert allowed in message


def test_boundary_values_are_accepted() -> None:
    settings = Settings.from_env(
        {"S5_MAX_PARALLEL_CHUNKS": "20", "S5_DOWNLOAD_RETRIES": "0", "VECTOR_INDEX_CACHE_SIZE": "0"}
    )
    assert settings.s5_max_parallel_chunks == 20
    assert Settings.from_env({"S5_RATE_LIMIT_REQUESTS": "100000"}).s5_rate_limit_requests == 100000


def test_several_bad_values_are_reported_on_one_line() -> None:
    message = config_error({"S5VEC_PORT": "x", "S5_STORAGE": "s3", "S5_DOWNLOAD_RETRIES": "99"})
    for name in ("S5VEC_PORT", "S5_STORAGE", "S5_DOWNLOAD_RETRIES"):
        assert name in message


def test_comma_separated_lists() -> None:
    settings = Settings.from_env(
        {
            "S5_PORTAL_URLS": " https://s5.one/ , https://s5.two:8443,, ",
            "S5VEC_ALLOWED_ORIGINS": "https://App.Example, http://localhost:3000/",
        }
    )
    assert settings.s5_portal_urls == ["https://s5.one", "https://s5.two:8443"]
    assert settings.s5vec_allowed_origins == ["https://app.example", "http://localhost:3000"]


def test_process_environment_path_parses_comma_lists_like_from_env(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    environ = {
        "S5_PORTAL_URLS": "https://s5.one,https://s5.two",
        "S5VEC_ALLOWED_ORIGINS": "https://app.example",
        "S5VEC_PORT": "9001",
        "S5VEC_REQUIRE_SIGNER_MATCH": "false",
    }
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert Settings() == Settings.from_env(environ)


@pytest.mark.parametrize("text", [KEY, "0x" + KEY, "0X" + KEY.upper(), f"  {KEY}\n"])
def test_host_key_accepts_64_hex_digits_with_optional_0x(text: str) -> None:
    settings = Settings.from_env({"HOST_PRIVATE_KEY": text})
    assert settings.host_private_key_bytes == bytes.fromhex(KEY)


@pytest.mark.parametrize(
    "text",
    [
        KEY[:-1],
        KEY + "0",
        "zz" * 32,
        "0" * 64,
        f"{SECP256K1_ORDER:064x}",
        "0x1234",
    ],
)
def test_host_key_rejects_malformed_keys_without_echoing_them(text: str) -> None:
    message = config_error({"HOST_PRIVATE_KEY": text})
    assert "HOST_PRIVATE_KEY" in message
    assert text not in message


def test_masked_summary_never_contains_the_host_key() -> None:
    settings = Settings.from_env({"HOST_PRIVATE_KEY": "0x" + KEY.upper()})
    summary = settings.masked_summary()
    assert summary["HOST_PRIVATE_KEY"] == "***set***"
    flat = " ".join(summary.values()).lower()
    assert KEY not in flat
    assert KEY[:16] not in flat
    assert KEY not in repr(settings).lower()
    assert KEY not in str(settings).lower()


def test_masked_summary_hides_url_credentials() -> None:
    settings = Settings.from_env(
        {
            "ENHANCED_S5_URL": "https://alice:hunter2@bridge.example:5522",
            "S5_PORTAL_URLS": "https://s5.one?token=abc123,https://bob@s5.two",
        }
    )
    summary = settings.masked_summary()
    assert summary["ENHANCED_S5_URL"] == "https://***@bridge.example:5522"
    assert summary["S5_PORTAL_URLS"] == "https://s5.one?***,https://***@s5.two"
    flat = " ".join(summary.values())
    for secret in ("alice", "hunter2", "abc123", "bob"):
        assert secret not in flat


def test_url_errors_do_not_echo_the_url() -> None:
    message = config_error({"ENHANCED_S5_URL": "ftp://alice:hunter2@bridge"})
    assert "hunter2" not in message


def test_mask_url_leaves_plain_urls_alone() -> None:
    assert mask_url("http://localhost:5522/base") == "http://localhost:5522/base"


def test_convenience_units() -> None:
    settings = Settings.from_env(
        {
            "S5_LOADING_TIMEOUT_MINUTES": "2",
            "S5_DOWNLOAD_TIMEOUT_SECONDS": "7.5",
            "S5_RATE_LIMIT_WINDOW_SECONDS": "1000000",
            "VECTOR_MEMORY_LIMIT_MB": "3",
            "VECTOR_CACHE_MAX_MEMORY_MB": "4",
            "VECTOR_INDEX_CACHE_TTL_HOURS": "0.5",
            "S5VEC_MAX_FRAME_MB": "2",
        }
    )
    assert settings.loading_timeout_s == 120
    assert settings.download_timeout_s == 7.5
    assert settings.memory_limit_bytes == 3 * MIB
    assert settings.cache_max_bytes == 4 * MIB
    assert math.isclose(settings.cache_ttl_s, 1800)
    assert settings.max_frame_bytes == 2 * MIB
    summary = settings.masked_summary()
    assert summary["S5_DOWNLOAD_TIMEOUT_SECONDS"] == "7.5"
    assert summary["S5_RATE_LIMIT_WINDOW_SECONDS"] == "1000000"
    assert Settings.from_env({}).host_private_key_bytes is None


def _env_example() -> dict[str, str]:
    entries: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            assert name not in entries, f"{name} listed twice"
            entries[name] = value
    return entries


def test_env_example_lists_exactly_the_settings() -> None:
    assert list(_env_example()) == Settings.env_names()


def test_env_example_values_are_the_defaults() -> None:
    assert Settings.from_env(_env_example()) == Settings.from_env({})


def test_env_example_comments_are_the_field_descriptions() -> None:
    lines = ENV_EXAMPLE.read_text().splitlines()
    comments = {
        line.partition("=")[0]: lines[i - 1].removeprefix("# ")
        for i, line in enumerate(lines)
        if line and not line.startswith("#")
    }
    assert comments == {
        name.upper(): field.description for name, field in Settings.model_fields.items()
    }
