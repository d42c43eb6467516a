"""Operator tools behind the CLI: publish a database into a store, inspect one."""
