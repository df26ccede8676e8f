"""unwant's editor: load a model once, then generate, reconstruct or remove objects.

`Editor` and `EditResult` load on first use, so that `editor.checks` (what the command line checks before any work)
imports without torch."""

__all__ = ["EditResult", "Editor"]


def __getattr__(name: str):
    if name == "Editor":
        from editor.editor import Editor

        return Editor
    if name == "EditResult":
        from editor.result import EditResult

        return EditResult
    raise AttributeError(f"module 'editor' has no attribute {name!r}")
