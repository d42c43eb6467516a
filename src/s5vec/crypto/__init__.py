"""Pure cryptography: AES-256-GCM files, secp256k1 identities, encrypted session init."""
