"""`python -m cli ...`: the `edit` / `unwant` command from a checkout."""

from cli import entry

entry()
