"""`unwant serve`: one model in memory, the page on this machine only unless told otherwise, nothing sent anywhere.

Uploads and results live in one temporary folder, removed when the server stops.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import tempfile
from pathlib import Path

from unwant.sd.scoped import environment, process_alive, signal_handler

log = logging.getLogger("unwant")

# Gradio's own usage statistics and version check, and the hub's telemetry: off before either is imported
PRIVATE_ENVIRONMENT = {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_DISABLE_TELEMETRY": "1", "GRADIO_SSR_MODE": "False"}
# system fonts: Gradio's default theme fetches its fonts from Google, which an offline page cannot reach
SYSTEM_FONTS = (["ui-sans-serif", "system-ui", "sans-serif"], ["ui-monospace", "SFMono-Regular", "monospace"])
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
WORK_PREFIX = "unwant-serve-"  # the server's temporary folder: unwant-serve-<pid>-<random>


def serve(model: str, host: str = "127.0.0.1", port: int = 7860, *, device: str | None = None, dtype: str | None = None,
          memory: tuple[str, ...] = (), max_upload_mb: int = 50, max_megapixels: float = 50.0, **load_options) -> None:
    """Load `model`, start the page and block until Ctrl-C; a model that fails to load is said on the page."""
    _remove_killed_servers_folders()
    work = Path(tempfile.mkdtemp(prefix=f"{WORK_PREFIX}{os.getpid()}-"))
    private = {key: os.environ.get(key, value) for key, value in PRIVATE_ENVIRONMENT.items()}  # a user's own choice stays
    # GRADIO_TEMP_DIR: Gradio reads it when it stores an upload; SIGTERM (`kill`, service managers) cleans up as Ctrl-C
    with environment(**private, GRADIO_TEMP_DIR=str(work / "uploads")), signal_handler(signal.SIGTERM, _stop):
        _serve(model, host, port, work, device, dtype, memory, max_upload_mb, max_megapixels, load_options)


def _serve(model: str, host: str, port: int, work: Path, device, dtype, memory, max_upload_mb: int, max_megapixels: float,
           load_options: dict) -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # Gradio's own start-up requests to itself
    try:
        import gradio as gr

        from editor import Editor
        from editor.checks import check_megapixels
        from unwant.sd.errors import UnwantError
        from unwant.web.page import build_page

        check_megapixels(max_megapixels)  # here: the editor's modules come after the private environment
        editor, load_error = None, None
        try:
            editor = Editor.from_pretrained(model, device=device, dtype=dtype, memory=memory, **load_options)
        except UnwantError as error:
            load_error = str(error)
            log.error("error: %s (the page will say so)", error)
        page = build_page(editor, model, work, load_error, examples=model == "toyworld", max_megapixels=max_megapixels)
        theme = gr.themes.Default(font=SYSTEM_FONTS[0], font_mono=SYSTEM_FONTS[1])
        try:
            page.launch(server_name=host, server_port=port, share=False, quiet=True, show_error=False, max_file_size=f"{max_upload_mb}mb",
                        ssr_mode=False, footer_links=[], theme=theme, prevent_thread_lock=True)
        except OSError as error:  # Gradio's "cannot find empty port"
            raise UnwantError(f"cannot listen on {host}:{port} ({str(error).strip().splitlines()[0]}): is another server using that port? "
                              "pass --port N") from None
        where = "this machine only; --host 0.0.0.0 shares it on your network" if host in LOCAL_HOSTS else "open to your network"
        log.warning("unwant: serving %s at http://%s:%d (%s); Ctrl-C stops it", model, "localhost" if host in LOCAL_HOSTS else host, port, where)
        page.block_thread()  # until Ctrl-C or SIGTERM
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _remove_killed_servers_folders() -> None:
    """A server killed outright (SIGKILL, a power cut) could not remove its uploads: the next start does, for every
    server whose process is gone."""
    for folder in Path(tempfile.gettempdir()).glob(f"{WORK_PREFIX}*"):
        match = re.match(rf"{WORK_PREFIX}(\d+)-", folder.name)
        if match and folder.is_dir() and not process_alive(int(match[1])):
            shutil.rmtree(folder, ignore_errors=True)


def _stop(signum, frame) -> None:
    raise SystemExit(0)
