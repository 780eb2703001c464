"""Keyword-only query functions over the tables; every lookup of user content is scoped to its owner."""
