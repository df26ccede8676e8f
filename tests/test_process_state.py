"""A library call leaves the caller's process as it found it: warnings, progress bars, PIL's limits, umask, environment."""

from __future__ import annotations

import os
import signal
import warnings

import numpy as np
from diffusers.utils import logging as diffusers_logging
from PIL import Image, ImageFile
from transformers.utils import logging as transformers_logging

from editor.loading import load_pipeline
from editor.photos.photo_io import read_photo
from editor.photos.writing import write_image
from unwant.sd.scoped import environment, signal_handler


def test_loading_a_model_keeps_the_callers_warnings_and_progress_bars(tiny_pipe, tmp_path):
    tiny_pipe.save_pretrained(tmp_path / "m", safe_serialization=True)
    diffusers_logging.enable_progress_bar()
    transformers_logging.enable_progress_bar()
    filters = list(warnings.filters)
    load_pipeline(tmp_path / "m", device="cpu")
    assert warnings.filters == filters
    assert diffusers_logging.is_progress_bar_enabled() and transformers_logging.is_progress_bar_enabled()


def test_reading_and_writing_a_photo_keep_pils_limits_and_the_umask(tmp_path):
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(tmp_path / "p.png")
    limits = Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES
    before = os.umask(0o027)
    try:
        photo = read_photo(tmp_path / "p.png")
        out = write_image(photo.rgb, tmp_path / "out.png")
        assert os.umask(0o027) == 0o027  # nothing changed it
        assert out.stat().st_mode & 0o777 == 0o640  # 0o666 less the caller's umask
    finally:
        os.umask(before)
    assert (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES) == limits


def test_scoped_environment_and_signal_handlers_are_put_back(monkeypatch):
    monkeypatch.setenv("UNWANT_PROBE_KEPT", "mine")
    monkeypatch.delenv("UNWANT_PROBE_NEW", raising=False)
    handler = signal.getsignal(signal.SIGTERM)
    with environment(UNWANT_PROBE_KEPT="ours", UNWANT_PROBE_NEW="ours"), signal_handler(signal.SIGTERM, lambda *a: None):
        assert os.environ["UNWANT_PROBE_KEPT"] == os.environ["UNWANT_PROBE_NEW"] == "ours"
    assert os.environ["UNWANT_PROBE_KEPT"] == "mine" and "UNWANT_PROBE_NEW" not in os.environ
    assert signal.getsignal(signal.SIGTERM) == handler
