"""Storage backends: byte I/O by S5 path, nothing above it."""
