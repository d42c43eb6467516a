"""Session init against the fake host: exact frame shapes, encrypted inits, error mapping."""

from __future__ import annotations

import pytest

from s5vec.client import CONNECTION_FAILED, PROTOCOL_ERROR, ClientError, S5VecClient
from s5vec.crypto.ethereum import address_from_public_key
from s5vec.crypto.secp256k1 import public_key_from_private
from s5vec.errors import (
    DecryptionFailed,
    InvalidAddress,
    InvalidPath,
    OwnerMismatch,
    S5VecError,
)
from tests.client.fake_host import Refusal, fake_host

OWNER_KEY = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
OWNER = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"
INTRUDER_KEY = bytes([0x22]) * 32
SESSION_KEY = bytes(range(0xA0, 0xC0))
MANIFEST = f"home/vector-databases/{OWNER}/my-docs/manifest.json"


async def test_plain_init_sends_the_snake_case_frame_of_spec_2_1() -> None:
    async with fake_host() as host, S5VecClient.connect(host.url) as client:
        ack = await client.init_session(
            "s1", job_id=123, chain_id=84532, vector_database=(MANIFEST, OWNER)
        )
    (frame,) = host.frames("session_init")
    assert frame == {
        "type": "session_init",
        "session_id": "s1",
        "id": frame["id"],
        "job_id": 123,
        "chain_id": 84532,
        "vector_database": {"manifest_path": MANIFEST, "user_address": OWNER},
    }
    assert isinstance(frame["id"], str)
    assert host.violations == []
    assert (ack.status, ack.session_id, ack.job_id, ack.chain_id) == ("success", "s1", 123, 84532)
    assert ack.id == frame["id"]


async def test_plain_init_without_database_leaves_the_field_out() -> None:
    async with fake_host() as host, S5VecClient.connect(host.url) as client:
        await client.init_session("s1")
        assert client.session_id == "s1"
    (frame,) = host.frames("session_init")
    assert set(frame) == {"type", "session_id", "id"}


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("OWNER_MISMATCH", OwnerMismatch),
        ("INVALID_PATH", InvalidPath),
        ("INVALID_ADDRESS", InvalidAddress),
        ("DECRYPTION_FAILED", DecryptionFailed),
    ],
)
async def test_init_error_frame_raises_a_client_error_of_the_mapped_class(
    code: str, cls: type[S5VecError]
) -> None:
    refusal = Refusal(code, "refused by the fake host")
    async with (
        fake_host(refuse={"session_init": refusal}) as host,
        S5VecClient.connect(host.url) as client,
    ):
        with pytest.raises(cls) as caught:
            await client.init_session("s1", vector_database=(MANIFEST, OWNER))
    error = caught.value
    assert isinstance(error, ClientError)
    assert (error.code, error.message, error.session_id) == (code, "refused by the fake host", "s1")
    assert str(error) == f"{code}: refused by the fake host"


async def test_an_unknown_error_code_is_a_plain_client_error() -> None:
    refusal = Refusal("SOMETHING_NEW", "a code this client does not know")
    async with (
        fake_host(refuse={"session_init": refusal}) as host,
        S5VecClient.connect(host.url) as client,
    ):
        with pytest.raises(ClientError) as caught:
            await client.init_session("s1")
    assert type(caught.value) is ClientError
    assert caught.value.code == "SOMETHING_NEW"


async def test_host_public_key_is_the_fake_hosts_compressed_key() -> None:
    async with fake_host() as host, S5VecClient.connect(host.url) as client:
        key = await client.host_public_key()
    assert key == host.host_key.public_key_compressed


@pytest.mark.parametrize("eip191", [False, True])
async def test_encrypted_init_is_opened_by_the_hosts_key(eip191: bool) -> None:
    async with fake_host() as host, S5VecClient.connect(host.url) as client:
        ack = await client.init_encrypted_session(
            "s1",
            OWNER_KEY,
            SESSION_KEY,
            chain_id=84532,
            job_id=123,
            model_name="llama",
            price_per_token=2000,
            vector_database=(MANIFEST, OWNER),
            eip191=eip191,
        )
    (frame,) = host.frames("encrypted_session_init")
    assert set(frame) == {"type", "session_id", "id", "chain_id", "payload"}
    assert set(frame["payload"]) == {
        "ephPubHex",
        "ciphertextHex",
        "nonceHex",
        "signatureHex",
        "aadHex",
    }
    assert host.violations == []
    (opened,) = host.opened
    assert opened.session_key == SESSION_KEY
    assert (opened.job_id, opened.model_name, opened.price_per_token) == ("123", "llama", 2000)
    assert opened.vector_database is not None
    assert opened.vector_database.manifest_path == MANIFEST
    assert opened.vector_database.user_address == OWNER
    assert opened.client_address == OWNER
    assert ack.client_address == OWNER
    assert ack.session_id == "s1"


async def test_encrypted_init_without_database_reports_the_raw_signer() -> None:
    async with fake_host() as host, S5VecClient.connect(host.url) as client:
        ack = await client.init_encrypted_session("s1", INTRUDER_KEY, SESSION_KEY)
    assert ack.client_address == address_from_public_key(public_key_from_private(INTRUDER_KEY))
    (opened,) = host.opened
    assert opened.vector_database is None
    assert (opened.job_id, opened.model_name, opened.price_per_token) == (None, None, None)


async def test_encrypted_init_signed_by_someone_else_is_owner_mismatch() -> None:
    async with fake_host() as host, S5VecClient.connect(host.url) as client:
        with pytest.raises(OwnerMismatch) as caught:
            await client.init_encrypted_session(
                "s1", INTRUDER_KEY, SESSION_KEY, vector_database=(MANIFEST, OWNER)
            )
    assert caught.value.code == "OWNER_MISMATCH"
    assert host.opened == []


async def test_encrypted_init_needs_a_32_byte_session_key() -> None:
    async with fake_host() as host, S5VecClient.connect(host.url) as client:
        with pytest.raises(ValueError, match="32 bytes"):
            await client.init_encrypted_session("s1", OWNER_KEY, b"short")
    assert host.received == []


async def test_an_encrypted_ack_without_client_address_is_a_protocol_error() -> None:
    async with (
        fake_host(omit_client_address=True) as host,
        S5VecClient.connect(host.url) as client,
    ):
        with pytest.raises(ClientError) as caught:
            await client.init_encrypted_session("s1", OWNER_KEY, SESSION_KEY)
    assert caught.value.code == PROTOCOL_ERROR
    assert "client_address" in caught.value.message


async def test_connecting_to_a_closed_port_is_connection_failed(free_port: int) -> None:
    with pytest.raises(ClientError) as caught:
        async with S5VecClient.connect(f"ws://127.0.0.1:{free_port}/v1/ws"):
            pass
    assert caught.value.code == CONNECTION_FAILED
