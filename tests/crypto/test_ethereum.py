"""Ethereum identities: keccak-256, EIP-55 addresses, EIP-191, key -> address."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s5vec.crypto.ethereum import (
    address_from_public_key,
    eip191_hash,
    is_valid_address,
    keccak256,
    to_checksum_address,
)
from s5vec.crypto.secp256k1 import public_key_from_private
from s5vec.errors import InvalidAddress

# Every example in the EIP-55 text: all caps, all lower, and "normal" mixed case.
EIP55_EXAMPLES = [
    "0x52908400098527886E0F7030069857D2E4169EE7",
    "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
    "0xde709f2102306220921060314715629080e2fb77",
    "0x27b1fdb04752bbc536007a920d24acb045561c26",
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
    "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
]
# The web3.js documentation key and its address.
WEB3_DOC_KEY = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
WEB3_DOC_ADDRESS = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"


def _flip_case(address: str, index: int) -> str:
    char = address[index]
    return (
        address[:index] + (char.lower() if char.isupper() else char.upper()) + address[index + 1 :]
    )


def test_keccak256_is_ethereum_keccak_not_sha3() -> None:
    assert keccak256(b"").hex() == (
        "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    )


def test_keccak256_of_a_personal_message_matches_ethers_hash_message() -> None:
    # ethers.hashMessage("Hello World")
    assert keccak256(b"\x19Ethereum Signed Message:\n11Hello World").hex() == (
        "a1de988600a42c4b4ab089b619297c17d53cffae5d5120d82d8a92d0bb3b78f2"
    )


@pytest.mark.parametrize("address", EIP55_EXAMPLES)
def test_eip55_examples_checksum_from_any_case(address: str) -> None:
    assert to_checksum_address(address.lower()) == address
    assert to_checksum_address("0x" + address[2:].upper()) == address
    assert to_checksum_address(bytes.fromhex(address[2:])) == address
    assert is_valid_address(address)


@pytest.mark.parametrize("address", EIP55_EXAMPLES)
def test_any_single_case_flip_of_an_eip55_example_is_invalid(address: str) -> None:
    letters = [i for i in range(2, 42) if address[i].isalpha()]
    assert letters
    for index in letters:
        flipped = _flip_case(address, index)
        body = flipped[2:]
        if body in (body.lower(), body.upper()):
            assert is_valid_address(flipped)  # a single-case spelling carries no checksum
        else:
            assert not is_valid_address(flipped), flipped


def test_all_lower_and_all_upper_addresses_are_accepted_without_checksum() -> None:
    mixed = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
    assert is_valid_address(mixed.lower())
    assert is_valid_address("0x" + mixed[2:].upper())


@pytest.mark.parametrize(
    "candidate",
    [
        "5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "0X5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED",
        "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beae",
        "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed0",
        "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaeg",
        "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed\n",
        " 0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed",
        "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beae\uff10",  # fullwidth zero
        "0x5aaeb6053f3e94c9b9a09f33669435e7ef1be\u0430ed",  # Cyrillic a
        "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beae\u0660",  # Arabic-Indic zero
        "",
        None,
        123,
        b"0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed",
    ],
)
def test_malformed_addresses_are_invalid(candidate: object) -> None:
    assert not is_valid_address(candidate)


@pytest.mark.parametrize("bad", ["0x1234", "0xZZ" + "0" * 38, bytes(19)])
def test_to_checksum_address_rejects_malformed_input(bad: str | bytes) -> None:
    with pytest.raises(InvalidAddress):
        to_checksum_address(bad)


def test_known_private_key_gives_the_documented_address() -> None:
    compressed = public_key_from_private(WEB3_DOC_KEY)
    uncompressed = public_key_from_private(WEB3_DOC_KEY, compressed=False)
    assert len(compressed) == 33
    assert len(uncompressed) == 65
    assert address_from_public_key(compressed) == WEB3_DOC_ADDRESS
    assert address_from_public_key(uncompressed) == WEB3_DOC_ADDRESS


def test_eip191_hash_is_the_personal_message_of_the_32_raw_bytes() -> None:
    digest = bytes(range(32))
    # The general EIP-191 personal-message rule: prefix, decimal length, then the bytes.
    expected = keccak256(b"\x19Ethereum Signed Message:\n" + str(len(digest)).encode() + digest)
    assert eip191_hash(digest) == expected
    assert eip191_hash(digest) != keccak256(digest)


def test_eip191_hash_refuses_other_lengths() -> None:
    with pytest.raises(ValueError, match="32-byte"):
        eip191_hash(bytes(31))


@given(st.binary(min_size=20, max_size=20))
def test_checksummed_addresses_are_valid_and_stable(raw: bytes) -> None:
    address = to_checksum_address(raw)
    assert is_valid_address(address)
    assert is_valid_address(address.lower())
    assert to_checksum_address(address) == address
    assert to_checksum_address(address.lower()) == address


@given(st.binary(min_size=20, max_size=20), st.integers(min_value=2, max_value=41))
def test_a_case_flip_breaks_a_mixed_case_checksum(raw: bytes, index: int) -> None:
    address = to_checksum_address(raw)
    if not address[index].isalpha():
        return
    flipped = _flip_case(address, index)
    body = flipped[2:]
    assert is_valid_address(flipped) == (body in (body.lower(), body.upper()))
