"""Hypothesis strategies for S5 paths that every backend must accept."""

from __future__ import annotations

from hypothesis import strategies as st

from s5vec.storage.paths import is_reserved

segments = st.text(
    alphabet=st.characters(
        min_codepoint=0x20, exclude_characters="/\\\x7f", exclude_categories=("Cs",)
    ),
    min_size=1,
    max_size=24,
).filter(lambda s: s not in (".", "..") and not is_reserved(s))

relative_paths = st.lists(segments, min_size=1, max_size=4).map("/".join)
