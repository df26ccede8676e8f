"""unwant's editor: load a model once, then generate, reconstruct or remove objects."""

from editor.editor import Editor
from editor.result import EditResult

__all__ = ["EditResult", "Editor"]
