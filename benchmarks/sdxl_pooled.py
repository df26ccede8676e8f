"""What SDXL's pooled embedding still says after suppression, three ways (suppression/pooled.py), measured on the toy
world's trained text encoder standing in for SDXL's second one (no SDXL weights reach this machine).

    python -m benchmarks.sdxl_pooled [--count 100] [--json PATH]

For each removal scene ("a A and a B and a X", remove X), each way's pooled embedding against the prompt's own: its
norm, and its cosine with the pooled embedding of the target alone ("a X") and of the caption without it, means over
the scenes. "keep" is the prompt's own pooled embedding; "swr" is what unwant sends (SWR on the final hidden states, the
[EOT] row projected); "re-encoded" encodes the caption without the target, which needs the caption's other objects
named apart, something a user's caption ("a man wearing glasses") does not give.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

WAYS = ("keep", "swr", "re-encoded")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=100, help="removal scenes (default 100, the quality benchmark's set)")
    parser.add_argument("--json", type=Path, help="write the rows here")
    args = parser.parse_args(argv)
    rows = measure(args.count)
    print(markdown(rows))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"meta": {"count": args.count}, "rows": rows}, indent=2) + "\n")


def toy_second_encoder():
    """The toy world's text encoder as a CLIPTextModelWithProjection (identity projection) and a "!"-padding tokenizer."""
    import torch
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    from benchmarks.toyworld.architecture import make_tokenizer
    from editor.loading import TOYWORLD_PATH

    trained = CLIPTextModel.from_pretrained(TOYWORLD_PATH / "text_encoder", torch_dtype=torch.float32)
    config = trained.config
    config.projection_dim = config.hidden_size
    encoder = CLIPTextModelWithProjection(config)
    encoder.load_state_dict({**{f"text_model.{k.removeprefix('text_model.')}": v for k, v in trained.state_dict().items()},
                             "text_projection.weight": torch.eye(config.hidden_size)}, strict=False)
    return encoder.eval(), make_tokenizer("!")


def measure(count: int) -> list[dict]:
    import torch

    from benchmarks.real_configs import build_pipeline
    from benchmarks.toyworld.sets import caption, removal_scenes
    from unwant.sd.text import padded_ids
    from suppression.config import SuppressionConfig
    from suppression.pooled import suppressed_pooled
    from suppression.tokens import locate_tokens

    pipe = build_pipeline("sdxl", tiny=True)
    pipe.text_encoder_2, pipe.tokenizer_2 = toy_second_encoder()

    @torch.no_grad()
    def pooled(prompt: str) -> torch.Tensor:
        return pipe.text_encoder_2(padded_ids(pipe.tokenizer_2, prompt)).text_embeds[0]

    tallies = {way: {"norm_vs_keep": 0.0, "cosine_with_target": 0.0, "cosine_with_the_rest": 0.0} for way in WAYS}
    cosine = torch.nn.functional.cosine_similarity
    for scene in removal_scenes(count):
        names = [o.name for o in scene.objects]
        target = names[-1]  # last in the caption, as the quality benchmark's captions put it
        prompt, rest = caption(names), caption(names[:-1])
        layout = locate_tokens(pipe.tokenizer_2, prompt, target)
        keep, alone, without = pooled(prompt), pooled(caption([target])), pooled(rest)
        ways = {"keep": keep, "swr": suppressed_pooled(pipe, prompt, layout, SuppressionConfig())[0], "re-encoded": without}
        for way, vector in ways.items():
            tallies[way]["norm_vs_keep"] += float(vector.norm() / keep.norm())
            tallies[way]["cosine_with_target"] += float(cosine(vector, alone, dim=0))
            tallies[way]["cosine_with_the_rest"] += float(cosine(vector, without, dim=0))
    return [{"pooled": way, "n": count, **{k: round(v / count, 3) for k, v in t.items()}} for way, t in tallies.items()]


def markdown(rows: list[dict]) -> str:
    lines = ["| pooled embedding | n | norm (x the prompt's) | cosine with \"a X\"'s | cosine with the caption without X's |", "|---|---|---|---|---|"]
    lines += [f"| {r['pooled']} | {r['n']} | {r['norm_vs_keep']:.3f} | {r['cosine_with_target']:.3f} | {r['cosine_with_the_rest']:.3f} |" for r in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
