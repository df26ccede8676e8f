"""The page's handlers and API without a server: step cap, old results removed, the API's defaults, errors with an id."""

from __future__ import annotations

import os
import time

import pytest

from unwant.sd.errors import UnwantError
from unwant.web.handlers import MAX_PAGE_STEPS, RESULTS_KEPT_FOR, _page_steps, _work_folder


def test_the_page_caps_steps_at_what_a_person_waits_for():
    assert _page_steps(None) is None and _page_steps("") is None and _page_steps(MAX_PAGE_STEPS) == MAX_PAGE_STEPS
    with pytest.raises(UnwantError, match=f"at most {MAX_PAGE_STEPS} steps"):
        _page_steps(MAX_PAGE_STEPS + 1)


def test_each_request_removes_results_older_than_an_hour(tmp_path):
    old, recent = tmp_path / "old", tmp_path / "recent"
    old.mkdir(), recent.mkdir()
    (old / "a.png").write_bytes(b"x")
    past = time.time() - RESULTS_KEPT_FOR - 10
    os.utime(old, (past, past))
    fresh = _work_folder(tmp_path)
    assert not old.exists() and recent.exists() and fresh.is_dir()


def test_the_api_has_the_pages_defaults_and_hides_an_unexpected_errors_detail(tmp_path, caplog):
    import gradio as gr

    from unwant.web.page import _in_page, build_page

    page = build_page(None, "tiny", tmp_path)
    parameters = {e: {p["parameter_name"]: p for p in page.get_api_info()["named_endpoints"][e]["parameters"]} for e in ("/remove", "/generate")}
    assert parameters["/remove"]["seed"]["parameter_has_default"] and parameters["/remove"]["steps"]["parameter_has_default"]
    assert parameters["/generate"]["steps"]["parameter_default"] == 50
    assert not parameters["/remove"]["photo"]["parameter_has_default"]

    @_in_page
    def broken():
        raise ZeroDivisionError("/srv/secret/path")

    with pytest.raises(gr.Error) as error:
        broken()
    assert "/srv/secret" not in str(error.value) and "id " in str(error.value)
    incident = str(error.value).split("id ")[1][:8]
    assert incident in caplog.text and "/srv/secret/path" in caplog.text
