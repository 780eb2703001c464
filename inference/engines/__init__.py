"""Engines: one contract (construct with loaded parts, ``check_inputs``, ``run``, ``unload``) per capability."""
