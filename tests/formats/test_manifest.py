"""Manifests: schema, self-consistency, and the plaintext / encrypted detection of SPEC 5."""

from __future__ import annotations

from typing import Any

import cbor2
import msgspec
import pytest

from s5vec.crypto import aesgcm
from s5vec.errors import (
    DecryptionFailed,
    InvalidSessionKey,
    ManifestParseError,
)
from s5vec.formats import Manifest, decode_manifest, encode_manifest
from tests.formats.builders import KEY, OTHER_KEY, cbor, json, manifest, manifest_dict


@pytest.mark.parametrize("encode", [cbor, json])
def test_minimal_manifest_decodes_with_defaults(encode: Any) -> None:
    decoded = decode_manifest(encode(manifest_dict()), None)
    found = decoded.manifest
    assert (found.name, found.vector_count, found.chunk_count) == ("db", 3, 2)
    assert found.dimensions is None
    assert found.folder_paths == []
    assert found.deleted is False
    assert [chunk.size_bytes for chunk in found.chunks] == [0, 0]
    assert decoded.encrypted is False
    assert decoded.format == ("cbor" if encode is cbor else "json")


def test_unknown_fields_are_ignored() -> None:
    data = json(manifest_dict(revision=4, incarnation="x", bodies={"a": 1}))
    assert decode_manifest(data, None).manifest.name == "db"


def test_whole_number_float_times_read_as_integers() -> None:
    # s5.js writes Date.now() (above 2^32) as a float64.
    data = cbor(manifest_dict(created=1732000000123.0, updated=1732000000124.0))
    found = decode_manifest(data, None).manifest
    assert (found.created, found.updated) == (1732000000123, 1732000000124)
    assert isinstance(found.created, int)


def test_null_and_undefined_optional_fields_read_as_absent() -> None:
    value = manifest_dict(description=None, deleted=cbor2.undefined, dimensions=cbor2.undefined)
    value["description"] = None
    found = decode_manifest(cbor(value), None).manifest
    assert (found.description, found.deleted, found.dimensions) == (None, False, None)


def test_empty_database_is_valid() -> None:
    data = json(manifest_dict(vectorCount=0, chunks=[], chunkCount=0))
    found = decode_manifest(data, None).manifest
    assert found.chunks == []
    assert found.vector_count == 0


@pytest.mark.parametrize("missing", ["name", "owner", "vectorCount", "chunks", "chunkCount"])
def test_required_field_missing_is_a_parse_error(missing: str) -> None:
    with pytest.raises(ManifestParseError) as info:
        decode_manifest(json(manifest_dict(**{missing: None})), None)
    assert missing in info.value.message


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"chunkCount": 3}, "chunkCount"),
        ({"vectorCount": 4}, "vectorCount"),
        (
            {"chunks": [{"chunkId": 0, "cid": "a", "vectorCount": 1}] * 2, "vectorCount": 2},
            "chunk ids",
        ),
        (
            {
                "chunks": [
                    {"chunkId": 0, "cid": "a", "vectorCount": 1},
                    {"chunkId": 2, "cid": "b", "vectorCount": 2},
                ]
            },
            "chunk ids",
        ),
        ({"dimensions": 0}, "dimensions"),
        ({"dimensions": 4097}, "dimensions"),
        ({"vectorCount": -1}, "vectorCount"),
        ({"name": 5}, "name"),
        ({"chunks": [{"chunkId": 0, "cid": "a", "vectorCount": -1}]}, "vectorCount"),
        ({"chunks": {"0": {}}}, "chunks"),
        ({"created": 1.5}, "created"),
    ],
)
def test_inconsistent_or_ill_typed_manifest_is_a_parse_error(
    changes: dict[str, Any], words: str
) -> None:
    for encode in (cbor, json):
        with pytest.raises(ManifestParseError) as info:
            decode_manifest(encode(manifest_dict(**changes)), None)
        assert words in info.value.message


def test_parse_error_message_holds_no_file_contents() -> None:
    data = json(manifest_dict(name="SECRET-NAME", owner="SECRET-OWNER", chunkCount=9))
    with pytest.raises(ManifestParseError) as info:
        decode_manifest(data, None)
    assert "SECRET" not in info.value.message


def test_constructing_an_inconsistent_manifest_fails() -> None:
    with pytest.raises(ValueError, match="chunkCount"):
        Manifest(name="db", owner="o", vector_count=0, chunks=[], chunk_count=1)


@pytest.mark.parametrize("fmt", ["cbor", "json"])
def test_encrypted_manifest_opens_with_its_key(fmt: Any) -> None:
    original = manifest((1, 2))
    decoded = decode_manifest(encode_manifest(original, fmt, KEY), KEY)
    assert decoded.manifest == original
    assert decoded.encrypted is True
    assert decoded.format == fmt


@pytest.mark.parametrize("fmt", ["cbor", "json"])
def test_plaintext_manifest_is_accepted_inside_an_encrypted_session(fmt: Any) -> None:
    decoded = decode_manifest(encode_manifest(manifest(), fmt), KEY)
    assert decoded.encrypted is False
    assert decoded.manifest == manifest()


def test_wrong_key_is_a_decryption_failure() -> None:
    with pytest.raises(DecryptionFailed):
        decode_manifest(encode_manifest(manifest(), "cbor", KEY), OTHER_KEY)


def test_encrypted_manifest_without_key_needs_encrypted_init() -> None:
    with pytest.raises(InvalidSessionKey) as info:
        decode_manifest(encode_manifest(manifest(), "json", KEY), None)
    assert "encrypted" in info.value.message


@pytest.mark.parametrize("data", [b"", b"\x00" * 40, b"not a manifest", b"[1, 2]", b"\x83\x01"])
def test_bytes_that_are_no_map_need_a_key_or_fail_decryption(data: bytes) -> None:
    with pytest.raises(InvalidSessionKey):
        decode_manifest(data, None)
    with pytest.raises(DecryptionFailed):
        decode_manifest(data, KEY)


@pytest.mark.parametrize("fmt", ["cbor", "json"])
def test_trailing_bytes_are_not_plaintext(fmt: Any) -> None:
    data = encode_manifest(manifest(), fmt) + (b"\x00" if fmt == "cbor" else b"x")
    with pytest.raises(InvalidSessionKey):
        decode_manifest(data, None)
    with pytest.raises(DecryptionFailed):
        decode_manifest(data, KEY)


def test_json_with_surrounding_whitespace_is_plaintext() -> None:
    data = b"\n\t " + encode_manifest(manifest(), "json") + b" \r\n"
    assert decode_manifest(data, None).format == "json"


def test_plaintext_that_breaks_the_schema_is_a_parse_error_even_with_a_key() -> None:
    with pytest.raises(ManifestParseError):
        decode_manifest(json(manifest_dict(chunkCount=7)), KEY)


def test_ciphertext_of_something_else_is_a_parse_error() -> None:
    with pytest.raises(ManifestParseError):
        decode_manifest(aesgcm.encrypt(KEY, b"\xff\xfe not cbor"), KEY)
    with pytest.raises(ManifestParseError):
        decode_manifest(aesgcm.encrypt(KEY, json({"a": 1})), KEY)


def test_short_key_is_a_decryption_failure_that_says_so() -> None:
    with pytest.raises(DecryptionFailed, match="32 bytes"):
        decode_manifest(b"\x01" * 64, b"short")


def test_encoder_omits_absent_optionals_and_writes_the_rest() -> None:
    written = msgspec.json.decode(encode_manifest(manifest(dimensions=None), "json"))
    assert "dimensions" not in written
    assert "description" not in written
    assert written["folderPaths"] == []
    assert written["deleted"] is False
    assert written["chunks"][0] == {
        "chunkId": 0,
        "cid": "db/chunk-0.json",
        "vectorCount": 2,
        "sizeBytes": 0,
        "updatedAt": 0,
    }
