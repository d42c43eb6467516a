"""Start-up configuration (SPEC section 8): every environment variable, validated once.

Field names are the environment variable names in lower case (``s5vec_port`` is read from
``S5VEC_PORT``, case-insensitively): no prefix is added or stripped, so a name found here
is the name to grep for in the SPEC and in ``.env.example``. Unknown variables are ignored
and an empty value means "unset" (the default applies), so a copied ``.env.example`` with
empty entries is valid. No ``.env`` file is read implicitly: ``make run`` passes the
process environment through, and loading a file is the shell's job (``set -a; . ./.env``),
which keeps one source of truth and no surprise from a stray file in the working directory.

Use ``Settings.from_env(os.environ)`` at start-up: it reads only the mapping it is given and
turns every validation failure into one ``ConfigError`` whose message is a single line
naming each bad variable and the values it allows. ``Settings()`` reads ``os.environ``
through pydantic-settings with the same validators (tests use ``from_env``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin
from urllib.parse import SplitResult, urlsplit, urlunsplit

import annotated_types
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

MIB = 1024 * 1024
SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

# Values of these variables never appear in error messages or summaries (keys, and URLs
# that may embed credentials).
_SENSITIVE = frozenset({"host_private_key", "enhanced_s5_url", "s5_portal_urls"})


class ConfigError(Exception):
    """A bad configuration value: the server refuses to start; the message is one line."""


class Settings(BaseSettings):
    """Every environment variable of SPEC section 8, with its default and allowed range."""

    model_config = SettingsConfigDict(
        case_sensitive=False,
        extra="ignore",
        env_ignore_empty=True,
        frozen=True,
        env_file=None,
        allow_inf_nan=False,
    )

    s5vec_host: str = Field(default="127.0.0.1", min_length=1, description="Interface to listen on")
    s5vec_port: int = Field(
        default=8080, ge=0, le=65535, description="TCP port, 0-65535 (0 picks a free port)"
    )
    s5vec_data_dir: Path = Field(
        default=Path("./data"), description="Host state: host key, persisted indexes"
    )
    s5_storage: Literal["local", "bridge"] = Field(
        default="local", description="Storage backend: local or bridge"
    )
    s5_local_dir: Path = Field(
        default=Path("./data/s5"),
        description="Root directory of the local S5 store (S5_STORAGE=local)",
    )
    enhanced_s5_url: str = Field(
        default="http://localhost:5522", description="S5.js bridge base URL (S5_STORAGE=bridge)"
    )
    s5_portal_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated S5 portal URLs for the chunk blob fallback (empty = none)",
    )
    s5_max_parallel_chunks: int = Field(
        default=10,
        ge=1,
        le=20,
        description="Chunk fetches in flight per load, 1-20 (local store: at most cores + 2)",
    )
    s5_download_timeout_seconds: float = Field(
        default=30, gt=0, description="Timeout of one file fetch in seconds, > 0"
    )
    s5_loading_timeout_minutes: float = Field(
        default=5, gt=0, description="Timeout of a whole load in minutes, > 0"
    )
    vector_index_cache_size: int = Field(
        default=10, ge=0, description="Built indexes kept in the cache, >= 0 (0 disables the cache)"
    )
    vector_index_cache_ttl_hours: float = Field(
        default=24, gt=0, description="Lifetime of a cached index in hours, > 0"
    )
    vector_cache_max_memory_mb: int = Field(
        default=1000, ge=0, description="Memory bound of the index cache in MiB, >= 0"
    )
    s5_download_retries: int = Field(
        default=3, ge=0, le=10, description="Retries per file fetch for retryable failures, 0-10"
    )
    s5_rate_limit_requests: int = Field(
        default=100,
        ge=1,
        le=100000,
        description="Remote storage requests per rate limit window, 1-100000",
    )
    s5_rate_limit_window_seconds: float = Field(
        default=60, gt=0, description="Rate limit window in seconds, > 0"
    )
    vector_memory_limit_mb: int = Field(
        default=500,
        ge=1,
        description="Memory bound of one database in MiB (pre-flight check), >= 1",
    )
    host_private_key: SecretStr | None = Field(
        default=None,
        description="secp256k1 host private key: 64 hex digits, 0x optional (empty = none)",
    )
    s5vec_require_signer_match: bool = Field(
        default=True, description="Encrypted init signer must equal userAddress: true or false"
    )
    s5vec_log_format: Literal["console", "json"] = Field(
        default="console", description="Log format: console or json"
    )
    s5vec_log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="Log level: debug, info, warning or error"
    )
    s5vec_max_frame_mb: int = Field(
        default=64, ge=1, description="Largest frame after decompression in MiB, >= 1"
    )
    s5vec_max_uploaded_vectors: int = Field(
        default=100000, ge=1, description="Uploaded vectors per session, >= 1"
    )
    s5vec_max_connections: int = Field(
        default=1000,
        ge=1,
        description="Open sockets at once, >= 1 (beyond it new sockets get HTTP 503)",
    )
    s5vec_idle_timeout_seconds: float = Field(
        default=1800, gt=0, description="Close a socket with no message for this many seconds, > 0"
    )
    s5vec_allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma-separated allowed Origin values (empty = any)"
    )
    # Index layer; defaults measured at 100K x 384 (see s5vec/index/config.py): i8 codes in
    # RAM re-scored from a spill file keep recall@10 >= 0.98 at the smallest footprint.
    s5vec_index_quantization: Literal["f32", "f16", "i8"] = Field(
        default="i8", description="Vector precision stored in the index: f32, f16 or i8"
    )
    s5vec_ann_threshold: int = Field(
        default=10000,
        ge=2,
        description="Vector count from which an ANN graph is built (exact search below), >= 2",
    )
    s5vec_hnsw_connectivity: int = Field(
        default=12, ge=2, le=128, description="HNSW connectivity (M), 2-128"
    )
    s5vec_hnsw_expansion_add: int = Field(
        default=128,
        ge=2,
        le=4096,
        description="HNSW expansion at construction (efConstruction), 2-4096",
    )
    s5vec_hnsw_expansion_search: int = Field(
        default=96, ge=2, le=4096, description="HNSW expansion at search (ef), 2-4096"
    )
    # Persisted indexes (SPEC section 9): saved under S5VEC_DATA_DIR/indexes, memory-mapped
    # after a restart; sealed with a key derived from the session key when it had one.
    s5vec_persist_indexes: bool = Field(
        default=True,
        description="Save built indexes in S5VEC_DATA_DIR to reload them after a restart: "
        "true or false",
    )
    s5vec_persist_max_mb: int = Field(
        default=4096,
        ge=1,
        description="Disk bound of the saved indexes in MiB, >= 1 (least recently used go first)",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Read constructor values, then the process environment; no files."""
        return init_settings, env_settings

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Validate settings from ``environ`` alone; raise one ``ConfigError`` on bad values."""
        given = {key.lower(): value for key, value in environ.items() if value != ""}
        # Every field is passed explicitly (the default when absent) so that the process
        # environment, the BaseSettings fallback, is never consulted.
        values: dict[str, Any] = {
            name: given.get(name, field.get_default(call_default_factory=True))
            for name, field in cls.model_fields.items()
        }
        try:
            return cls(**values)
        except ValidationError as exc:
            raise ConfigError(_one_line(exc)) from None

    @classmethod
    def env_names(cls) -> list[str]:
        """The environment variable names, in declaration order."""
        return [name.upper() for name in cls.model_fields]

    # --- validators -------------------------------------------------------------------

    @field_validator(
        "s5_storage",
        "s5vec_log_format",
        "s5vec_log_level",
        "s5vec_index_quantization",
        mode="before",
    )
    @classmethod
    def _lower_choice(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("enhanced_s5_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return _http_url(value)

    @field_validator("s5_portal_urls", "s5vec_allowed_origins", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("s5_portal_urls")
    @classmethod
    def _check_portals(cls, value: list[str]) -> list[str]:
        return [_http_url(url) for url in value]

    @field_validator("s5vec_allowed_origins")
    @classmethod
    def _check_origins(cls, value: list[str]) -> list[str]:
        return [_origin(origin) for origin in value]

    @field_validator("host_private_key")
    @classmethod
    def _check_host_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        text = value.get_secret_value().strip().lower().removeprefix("0x")
        message = (
            "must be a secp256k1 private key: 64 hex digits, optionally 0x-prefixed, "
            "not zero and below the curve order"
        )
        if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
            raise ValueError(message)
        if not 0 < int(text, 16) < SECP256K1_ORDER:
            raise ValueError(message)
        return SecretStr(text)

    # --- convenience ------------------------------------------------------------------

    @property
    def download_timeout_s(self) -> float:
        """Per-file fetch timeout in seconds."""
        return self.s5_download_timeout_seconds

    @property
    def loading_timeout_s(self) -> float:
        """Whole-load timeout in seconds."""
        return self.s5_loading_timeout_minutes * 60

    @property
    def memory_limit_bytes(self) -> int:
        """Memory bound of one database, in bytes."""
        return self.vector_memory_limit_mb * MIB

    @property
    def cache_max_bytes(self) -> int:
        """Memory bound of the index cache, in bytes."""
        return self.vector_cache_max_memory_mb * MIB

    @property
    def persist_max_bytes(self) -> int:
        """Disk bound of the persisted indexes, in bytes."""
        return self.s5vec_persist_max_mb * MIB

    @property
    def cache_ttl_s(self) -> float:
        """Index cache entry lifetime in seconds."""
        return self.vector_index_cache_ttl_hours * 3600

    @property
    def max_frame_bytes(self) -> int:
        """Largest accepted frame after decompression, in bytes."""
        return self.s5vec_max_frame_mb * MIB

    @property
    def host_private_key_bytes(self) -> bytes | None:
        """The 32-byte host key, or None when unset."""
        if self.host_private_key is None:
            return None
        return bytes.fromhex(self.host_private_key.get_secret_value())

    def masked_summary(self) -> dict[str, str]:
        """Every variable as ``NAME -> value`` for the start-up log, secrets masked."""
        summary: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name == "host_private_key":
                text = "unset" if value is None else "***set***"
            elif name == "enhanced_s5_url":
                text = mask_url(value)
            elif isinstance(value, list):
                text = ",".join(mask_url(item) for item in value)
            elif isinstance(value, bool):
                text = str(value).lower()
            elif isinstance(value, float):
                text = str(int(value)) if value.is_integer() else str(value)
            else:
                text = str(value)
            summary[name.upper()] = text
        return summary


def mask_url(url: str) -> str:
    """Hide credentials and query strings in a URL (``user:pw@`` and ``?token=``)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = "***" if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def _split_http(text: str) -> SplitResult | None:
    """The parts of an http(s) URL with a host and a valid port, else None."""
    try:
        parts = urlsplit(text)
        _ = parts.port  # raises on a non-numeric or out-of-range port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts


def _http_url(value: str) -> str:
    text = value.strip().rstrip("/")
    if _split_http(text) is None:
        raise ValueError("must be an http:// or https:// URL")
    return text


def _origin(value: str) -> str:
    text = value.strip().rstrip("/").lower()
    parts = _split_http(text)
    if parts is None or parts.path or parts.query or parts.username:
        raise ValueError("must be comma-separated origins like https://app.example.com")
    return text


def _allowed(field: FieldInfo) -> str:
    """Describe a field's allowed values from its type and constraints."""
    annotation = field.annotation
    if get_origin(annotation) is Literal:
        return "one of " + ", ".join(str(arg) for arg in get_args(annotation))
    if annotation is bool:
        return "true or false"
    kind = "an integer" if annotation is int else "a number"
    bounds = {type(meta).__name__: meta for meta in field.metadata}
    ge, le, gt = bounds.get("Ge"), bounds.get("Le"), bounds.get("Gt")
    if isinstance(ge, annotated_types.Ge) and isinstance(le, annotated_types.Le):
        return f"{kind} from {ge.ge} to {le.le}"
    if isinstance(ge, annotated_types.Ge):
        return f"{kind} >= {ge.ge}"
    if isinstance(gt, annotated_types.Gt):
        return f"{kind} > {gt.gt}"
    if annotation in (int, float):
        return kind
    return "a non-empty value" if annotation is str else "a valid path"


def _one_line(exc: ValidationError) -> str:
    """One line naming every bad variable, what it allows, and (if not secret) the value."""
    problems: list[str] = []
    seen: set[str] = set()
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else ""
        if name in seen or name not in Settings.model_fields:
            continue
        seen.add(name)
        if error["type"] == "value_error":
            rule = str(error["ctx"]["error"])
        else:
            rule = "must be " + _allowed(Settings.model_fields[name])
        problem = f"{name.upper()} {rule}"
        if name not in _SENSITIVE:
            shown = repr(error["input"])
            problem += f" (got {shown[:40] + '...' if len(shown) > 40 else shown})"
        problems.append(problem)
    return ("Invalid configuration: " + "; ".join(problems)).replace("\n", " ")
