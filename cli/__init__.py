"""The `studio` command: starts each process of Persona Studio (imports front ends and workers lazily)."""
