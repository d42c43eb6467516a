"""Manifest paths, user addresses and owner checks (SPEC 2.3)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s5vec.errors import InvalidAddress, InvalidPath, OwnerMismatch
from s5vec.formats.paths import (
    MAX_PATH_BYTES,
    ParsedManifestPath,
    check_path_owner,
    chunk_path,
    validate_manifest_path,
    validate_user_address,
)

ADDRESS = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
OTHER = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"
PREFIX = f"home/vector-databases/{ADDRESS}/"
VALID = f"{PREFIX}my-docs/manifest.json"


def _path(name: str, address: str = ADDRESS) -> str:
    return f"home/vector-databases/{address}/{name}/manifest.json"


def test_valid_path_is_split_into_its_parts() -> None:
    parsed = validate_manifest_path(VALID)
    assert parsed == ParsedManifestPath(
        address=ADDRESS, db_name="my-docs", directory=f"{PREFIX}my-docs"
    )


@pytest.mark.parametrize(
    "name", ["a", "My Docs", "v1.2", ".hidden", "résumé", "日本語", "x" * 200, "a.b-c_d~e"]
)
def test_ordinary_names_are_accepted(name: str) -> None:
    assert validate_manifest_path(_path(name)).db_name == name


@pytest.mark.parametrize("address", [ADDRESS.lower(), "0x" + ADDRESS[2:].upper()])
def test_address_segment_may_use_any_case(address: str) -> None:
    assert validate_manifest_path(_path("db", address)).address == address


@pytest.mark.parametrize(
    "path",
    [
        "",
        "/" + VALID,
        VALID + "/",
        f"{PREFIX}my-docs//manifest.json",
        f"{PREFIX}/manifest.json",
        f"{PREFIX}../{OTHER}/manifest.json",
        f"{PREFIX}../../etc/manifest.json",
        f"{PREFIX}..",
        _path(".."),
        _path("."),
        f"{PREFIX}a..b/manifest.json",
        f"{PREFIX}./manifest.json",
        f"home/vector-databases/{ADDRESS}/./db/manifest.json",
        f"home/./vector-databases/{ADDRESS}/db/manifest.json",
        f"{PREFIX}my-docs\\..\\manifest.json",
        f"{PREFIX}my\\docs/manifest.json",
        f"{PREFIX}my\x00docs/manifest.json",
        f"{PREFIX}my\ndocs/manifest.json",
        f"{PREFIX}my\tdocs/manifest.json",
        f"{PREFIX}my\x7fdocs/manifest.json",
        f"{PREFIX}my\x85docs/manifest.json",
        f"{PREFIX}my\u200bdocs/manifest.json",  # zero-width space
        f"{PREFIX}my\u202edocs/manifest.json",  # right-to-left override
        f"{PREFIX}my\u2028docs/manifest.json",  # line separator
        f"{PREFIX}\uff0e\uff0e/manifest.json",  # fullwidth dots
        f"{PREFIX}\u2025/manifest.json",  # two-dot leader
        f"{PREFIX}a\uff0fb/manifest.json",  # fullwidth solidus
        f"{PREFIX}a\uff3cb/manifest.json",  # fullwidth reverse solidus
        f"{PREFIX}a\u2215b/manifest.json",  # division slash
        f"{PREFIX}a\u2044b/manifest.json",  # fraction slash
        f"{PREFIX}a\u00a0b/manifest.json",  # no-break space
        f"{PREFIX}\ufb01le/manifest.json",  # fi ligature
        f"{PREFIX}\ue000/manifest.json",  # private use
        f"{PREFIX}\ud800/manifest.json",  # lone surrogate
        _path("db", ADDRESS[:-1] + "\u0430"),  # Cyrillic a
        _path("db", ADDRESS[:-1] + "\uff10"),  # fullwidth zero
        _path("db", ADDRESS[:-1] + "\u0660"),  # Arabic-Indic zero
        _path("db", "0X" + ADDRESS[2:]),
        _path("db", ADDRESS[:-1]),
        _path("db", ADDRESS + "0"),
        _path("db", ADDRESS[2:]),
        _path("db", "0xUser"),
        f"Home/vector-databases/{ADDRESS}/db/manifest.json",
        f"home/vector-database/{ADDRESS}/db/manifest.json",
        f"{PREFIX}db/manifest.JSON",
        f"{PREFIX}db/chunk-0.json",
        f"{PREFIX}db/sub/manifest.json",
        f"{PREFIX}manifest.json",
        f"home/vector-databases/{ADDRESS}/db/manifest.json\x00",
    ],
)
def test_malformed_paths_are_invalid(path: str) -> None:
    with pytest.raises(InvalidPath):
        validate_manifest_path(path)


@pytest.mark.parametrize("value", [None, 5, b"home", ["home"]])
def test_non_string_paths_are_invalid(value: object) -> None:
    with pytest.raises(InvalidPath):
        validate_manifest_path(value)


def test_length_limit_counts_utf8_bytes() -> None:
    fixed = len(_path(""))
    assert len(_path("x" * (MAX_PATH_BYTES - fixed)).encode()) == MAX_PATH_BYTES
    validate_manifest_path(_path("x" * (MAX_PATH_BYTES - fixed)))
    with pytest.raises(InvalidPath):
        validate_manifest_path(_path("x" * (MAX_PATH_BYTES - fixed + 1)))
    # Fewer than 1024 characters but more than 1024 bytes.
    two_byte = "é" * ((MAX_PATH_BYTES - fixed) // 2 + 1)
    assert len(_path(two_byte)) <= MAX_PATH_BYTES < len(_path(two_byte).encode())
    with pytest.raises(InvalidPath):
        validate_manifest_path(_path(two_byte))


def test_error_messages_do_not_echo_the_address() -> None:
    with pytest.raises(InvalidPath) as info:
        validate_manifest_path(f"{PREFIX}../x/manifest.json")
    assert ADDRESS[2:].lower() not in str(info.value).lower()


safe_names = st.text(alphabet=st.sampled_from("abcXYZ019-_ .~é日"), min_size=1, max_size=60).filter(
    lambda n: ".." not in n and n != "."
)


@given(safe_names, st.binary(min_size=20, max_size=20))
def test_any_safe_name_and_address_is_accepted(name: str, raw: bytes) -> None:
    address = "0x" + raw.hex()
    parsed = validate_manifest_path(_path(name, address))
    assert (parsed.address, parsed.db_name) == (address, name)
    assert f"{parsed.directory}/manifest.json" == _path(name, address)


@given(
    safe_names,
    st.integers(min_value=0),
    st.sampled_from(
        ["/", "\\", "\x00", "\x1f", "\u200d", "\uff0f", "\uff0e\uff0e", "..", "\u2215"]
    ),
)
def test_inserting_a_forbidden_piece_anywhere_in_the_name_is_rejected(
    name: str, position: int, piece: str
) -> None:
    index = position % (len(name) + 1)
    with pytest.raises(InvalidPath):
        validate_manifest_path(_path(name[:index] + piece + name[index:]))


@given(st.text(max_size=200))
def test_arbitrary_text_is_either_a_clean_path_or_invalid_path(text: str) -> None:
    try:
        parsed = validate_manifest_path(text)
    except InvalidPath:
        return
    assert text == f"{parsed.directory}/manifest.json"
    assert ".." not in text


@given(st.text(max_size=200).map(lambda t: PREFIX + t + "/manifest.json"))
def test_arbitrary_names_never_escape_the_owner_directory(path: str) -> None:
    try:
        parsed = validate_manifest_path(path)
    except InvalidPath:
        return
    assert parsed.directory.startswith(PREFIX)
    assert "/" not in parsed.db_name
    assert parsed.db_name not in ("", ".", "..")


@pytest.mark.parametrize(
    "address", [ADDRESS, ADDRESS.lower(), "0x" + ADDRESS[2:].upper(), "0x" + "0" * 40]
)
def test_valid_user_addresses_are_returned_unchanged(address: str) -> None:
    assert validate_user_address(address) == address


@pytest.mark.parametrize(
    "address",
    [
        ADDRESS[:3] + ADDRESS[3].swapcase() + ADDRESS[4:],  # "a" -> "A": bad checksum
        ADDRESS[2:],
        ADDRESS[:-1],
        "0xUser123",
        "",
        None,
        ADDRESS[:-1] + "\uff10",
    ],
)
def test_invalid_user_addresses_raise_invalid_address(address: object) -> None:
    with pytest.raises(InvalidAddress):
        validate_user_address(address)


def test_path_owner_compares_addresses_case_insensitively() -> None:
    parsed = validate_manifest_path(_path("db", ADDRESS.lower()))
    check_path_owner(parsed, ADDRESS)
    check_path_owner(parsed, "0x" + ADDRESS[2:].upper())
    with pytest.raises(OwnerMismatch):
        check_path_owner(parsed, OTHER)


def test_chunk_path_sits_next_to_the_manifest() -> None:
    assert chunk_path(VALID, 0) == f"{PREFIX}my-docs/chunk-0.json"
    assert chunk_path(VALID, 12) == f"{PREFIX}my-docs/chunk-12.json"


@pytest.mark.parametrize("chunk_id", [-1, True, 1.0, "3"])
def test_chunk_path_refuses_bad_chunk_ids(chunk_id: object) -> None:
    with pytest.raises(ValueError, match="chunk_id"):
        chunk_path(VALID, chunk_id)  # type: ignore[arg-type]


def test_chunk_path_refuses_an_invalid_manifest_path() -> None:
    with pytest.raises(InvalidPath):
        chunk_path(f"{PREFIX}../x/manifest.json", 0)
