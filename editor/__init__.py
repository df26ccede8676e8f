"""unwant's editor: load a model once, then generate, reconstruct or remove objects; or edit files and whole folders.

    Editor.from_pretrained(model)      the model, loaded once: .remove, .remove_batch, .generate, .reconstruct, .presence
    edit_file(model, photo, output)    one photo file to one image file, metadata kept (what `edit photo.jpg` runs)
    edit_folder(model, inputs, output, remove=...)
                                       folders in, a folder out, with report.jsonl and summary.json (`edit photos/ -o out/`)
    generate_file(model, prompt, output)

Everything loads on first use, so that `editor.checks` (what the command line checks before any work) imports without
torch."""

__all__ = ["EditResult", "EditSettings", "Editor", "Extras", "FolderSettings", "ModelSpec", "edit_file", "edit_folder", "generate_file"]

_HOMES = {"Editor": "editor.editor", "EditResult": "editor.result", "ModelSpec": "editor.loading", "EditSettings": "editor.settings",
          "FolderSettings": "editor.dataset.folder", "edit_folder": "editor.dataset.folder", "Extras": "editor.files",
          "edit_file": "editor.files", "generate_file": "editor.files"}


def __getattr__(name: str):
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'editor' has no attribute {name!r}")
