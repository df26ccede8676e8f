import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))
TOYWORLD_MODEL = ROOT / "editor" / "models" / "toyworld"
SCENES = ROOT / "samples" / "toyworld"  # the shipped scenes and their captions


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """Small tensors: a second intra-op thread mostly waits, and on a shared CPU it makes runs many times slower."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_pipe():
    from tiny_models import tiny_pipeline

    return tiny_pipeline()


@pytest.fixture(scope="session")
def toy_pipe():
    if not (TOYWORLD_MODEL / "model_index.json").exists():
        pytest.skip("the toy-world model is not in editor/models/toyworld")
    from editor.loading import load_pipeline

    return load_pipeline("toyworld", device="cpu", dtype="float32")



@pytest.fixture(scope="module")
def toy_server(tmp_path_factory):
    """`unwant serve --model toyworld` in a subprocess on a free port (tests/web_server.py), one per test module."""
    from web_server import Server

    running = Server("toyworld", tmp_path_factory.mktemp("serve"))
    yield running
    running.stop()
