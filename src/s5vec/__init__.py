"""s5vec: serve retrieval over a user's own vector database kept in S5 storage."""

__version__ = "0.1.0"
