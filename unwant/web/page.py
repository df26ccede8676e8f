"""The page: a Gradio Blocks app over one Editor, with a removal tab and a generation tab.

Every edit goes through one queue ("device"): one at a time on the model, the others wait and see their place.
"""

from __future__ import annotations

import functools
import json
import logging
import secrets
from collections.abc import Callable
from pathlib import Path

import gradio as gr
from PIL import Image

from editor import Editor
from editor.removal.fill import FILLS
from editor.presets import PRESETS
from inversion import METHODS
from unwant.sd.errors import UnwantError
from unwant.web.handlers import MAX_PAGE_STEPS, PRESET_INVERSION, generate_in_page, remove_in_page

log = logging.getLogger("unwant")

EXAMPLES = Path(__file__).parent / "examples"  # three toy-world scenes, for --model toyworld
QUEUE = "device"  # the one queue both tabs share
QUEUE_SIZE = 32  # edits waiting at most; the next one is told the page is busy


# the Editor's messages name the command line's options; the page has fields
FIELD_NAMES = {"--prompt": "the caption", "--remove TARGET": "what to remove in 'Remove'", "--remove": "'Remove'"}


def _for_the_page(message: str) -> str:
    for option, field in FIELD_NAMES.items():
        message = message.replace(option, field)
    return message


def _in_page(call: Callable) -> Callable:
    """Run a handler; whatever goes wrong becomes one message in the page, never a traceback."""

    @functools.wraps(call)  # Gradio reads the handler's signature for its progress tracker
    def run(*args, **kwargs):
        try:
            return call(*args, **kwargs)
        except UnwantError as error:
            raise gr.Error(_for_the_page(str(error)), print_exception=False) from None
        except gr.Error:
            raise
        except Exception as error:  # a bug: a short line and an id in the page (the page may be open to a network), the
            # detail and the traceback under that id in the server's log
            incident = secrets.token_hex(4)
            log.exception("unexpected error in the page (id %s): %s: %s", incident, type(error).__name__, error)
            raise gr.Error(f"unexpected error (id {incident}): the server's log has the details under that id; please report it",
                           print_exception=False) from None

    return run


def uploaded(payload) -> tuple[str | None, str | None]:
    """(path on the server, the name the user knows it by) of an image field's raw value."""
    if not payload:
        return None, None
    if isinstance(payload, str):
        return payload, Path(payload).name
    data = payload if isinstance(payload, dict) else vars(payload)
    return data.get("path"), data.get("orig_name") or Path(data.get("path") or "photo").name


def _examples() -> list[list[str]]:
    return [[str(EXAMPLES / e["file"]), e["remove"], e["caption"]] for e in json.loads((EXAMPLES / "examples.json").read_text())]


def build_page(editor: Editor | None, model: str, work: Path, load_error: str | None = None, examples: bool = False,
               max_megapixels: float = 50.0) -> gr.Blocks:
    """The page for `editor` (None with `load_error`: the page says why and every button repeats it)."""

    def needs_model():
        if editor is None:
            raise UnwantError(f"the model {model!r} could not be loaded: {load_error}")
        return editor

    @_in_page
    def remove(photo, targets, caption=None, preset="quality", seed=None, steps=None, mask_threshold=0.1, fill="repaint",
               inversion=PRESET_INVERSION, progress=gr.Progress(track_tqdm=True)):  # the defaults: the API's too
        """Inputs arrive as sent (preprocess=False): the upload is read by unwant's own photo reader, whose errors name it."""
        path, name = uploaded(photo)
        out = remove_in_page(needs_model(), path, targets, caption, preset, root=work / "results", max_megapixels=max_megapixels, seed=seed, steps=steps,
                             mask_threshold=mask_threshold, fill=fill, inversion=inversion, name=name)
        return out.photo, out.mask, out.result, out.attention, str(out.download)

    @_in_page
    def generate(prompt, seed=None, steps=50, progress=gr.Progress(track_tqdm=True)):
        out = generate_in_page(needs_model(), prompt, root=work / "results", seed=seed, steps=steps)
        return out.image, str(out.download), out.seed

    with gr.Blocks(title="unwant", analytics_enabled=False) as page:
        gr.Markdown(f"# unwant\nRemove a named object from a photo, or generate an image without it. Model: `{model}`.")
        if load_error:
            gr.Markdown(f"**The model could not be loaded.** {load_error}", elem_id="load-error")
        with gr.Tab("Remove"):
            with gr.Row():
                with gr.Column(scale=1):
                    photo = gr.Image(type="filepath", image_mode=None, sources=["upload", "clipboard"], label="Photo", elem_id="photo")
                    targets = gr.Textbox(label="Remove", placeholder="glasses    (several: glasses, hat)", elem_id="targets")
                    caption = gr.Textbox(label="Caption (optional, names the object too)", placeholder="a man with glasses", elem_id="caption")
                    preset = gr.Radio(list(PRESETS), value="quality", label="Preset",
                                      info="quality: 50 steps; fast: 40, no ITO; reference: the paper's null-text inversion (slow)")
                    with gr.Accordion("Advanced", open=False):
                        seed = gr.Number(value=None, precision=0, label="Seed of the repaint's noise (empty: 0)")
                        steps = gr.Number(value=None, precision=0, minimum=1, maximum=MAX_PAGE_STEPS, label="Steps (empty: the preset's)")
                        mask_threshold = gr.Slider(0.05, 0.95, value=0.1, step=0.05, label="Mask threshold (share of the attention's peak)")
                        fill = gr.Radio(list(FILLS), value="repaint", label="Fill where the object was")
                        inversion = gr.Dropdown([PRESET_INVERSION, *METHODS], value=PRESET_INVERSION, label="Inversion")
                    run = gr.Button("Remove", variant="primary", elem_id="remove-button")
                with gr.Column(scale=2):
                    with gr.Row():
                        shown = gr.Image(label="Input", format="png", buttons=["download"], interactive=False)
                        mask = gr.Image(label="Mask", format="png", buttons=["download"], interactive=False)
                        result = gr.Image(label="Result", format="png", buttons=["download"], interactive=False, elem_id="result")
                    attention = gr.Image(label="Attention of the target (original branch; the suppressed branch's beside it when that ran)", format="png", buttons=["download"], interactive=False)
                    download = gr.File(label="Result as PNG (the photo's metadata kept)", elem_id="download")
            if examples:
                gr.Examples(_examples(), inputs=[photo, targets, caption], label="Toy-world scenes")
            run.click(remove, [photo, targets, caption, preset, seed, steps, mask_threshold, fill, inversion],
                      [shown, mask, result, attention, download], api_name="remove", concurrency_id=QUEUE, concurrency_limit=1,
                      preprocess=False)
        with gr.Tab("Generate"):
            with gr.Row():
                with gr.Column(scale=1):
                    prompt = gr.Textbox(label="Prompt", placeholder="a red circle without a blue square",
                                        info="'without X' or 'no X' is suppressed, not just left out", elem_id="prompt")
                    gen_seed = gr.Number(value=None, precision=0, label="Seed (empty: a new one)")
                    gen_steps = gr.Number(value=50, precision=0, minimum=1, maximum=MAX_PAGE_STEPS, label="Steps")
                    gen_run = gr.Button("Generate", variant="primary", elem_id="generate-button")
                with gr.Column(scale=2):
                    image = gr.Image(label="Image", format="png", buttons=["download"], interactive=False)
                    gen_download = gr.File(label="Image as PNG")
                    used_seed = gr.Number(label="Seed used", interactive=False)
            gen_run.click(generate, [prompt, gen_seed, gen_steps], [image, gen_download, used_seed], api_name="generate",
                          concurrency_id=QUEUE, concurrency_limit=1)
    page.queue(max_size=QUEUE_SIZE, default_concurrency_limit=1)
    return page


def example_image(index: int = 0) -> Image.Image:
    """One of the shipped example scenes (tests and the README's screenshot use them)."""
    return Image.open(_examples()[index][0])
