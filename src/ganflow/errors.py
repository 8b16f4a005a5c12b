"""ganflow's exceptions: the library raises them, and only the CLI turns them into a message and an
exit code.  Each message is a sentence a student understands and names the file, key or row."""
from __future__ import annotations


class GanflowError(Exception):
    """The root of ganflow's errors."""
