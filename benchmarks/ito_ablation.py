"""What ITO earns on the toy world: SWR alone against SWR + ITO with the reference code's loss (the default), each with
its seconds. (README's table also has ITO with unwant's earlier "mean" loss, measured at commit fef2bb0, before that
loss was dropped.)

    python -m benchmarks.ito_ablation [--count 50] [--scenes 100] [--only generation,removal,attention] [--captions no,yes] [--json PATH]
    python -m benchmarks.ito_ablation --table A.json B.json     # one table from runs made apart

Generation: "a Y and a X" and "a X and a Y", Y removed, `--count` seeded pairs each, 50 steps (step size 20).
Removal: the quality benchmark's seeded scenes with and without their caption, the quality preset (direct inversion,
50 steps, step size 5) with fill="model": the default fill reads only the original branch, so only there (and with
blend=False) does the suppressed branch, and so ITO, reach the output. Scored by the exact toy-world detector.
Attention: what each ITO moves at its steps (the target's share of the cross-attention, the reference loss), on
`--attention-count` pairs, "a X and a Y".
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import asdict, dataclass, replace

from benchmarks.options import choice_list

METHODS = {  # row name: the SuppressionConfig options of that variant
    "SWR only": {"optimize": False},
    'SWR + ITO, "reference" loss (default)': {"loss": "reference"},
}
SECTIONS = ("generation", "removal", "attention")
CAPTIONS = ("no", "yes")


def generation_rows(editor, count: int, steps: int) -> list:
    """Each method on both orders of each seeded pair, seed by seed."""
    from benchmarks.quality_rows import Row, _rates
    from benchmarks.toyworld.sets import object_pairs

    pairs = object_pairs(count)
    rows = []
    orders = {'Y first: "a Y and a X"': lambda x, y: f"a {y} and a {x}", 'Y last: "a X and a Y"': lambda x, y: f"a {x} and a {y}"}
    for order, prompt_of in orders.items():
        images = {method: [] for method in METHODS}
        seconds = dict.fromkeys(METHODS, 0.0)
        for seed, (x, y) in enumerate(pairs):  # the methods side by side, so that a busy machine slows each alike
            for method, options in METHODS.items():
                started = time.perf_counter()
                images[method].append(editor.generate(prompt_of(x, y), remove=y, seed=seed, steps=steps, progress=False, **options).image)
                seconds[method] += time.perf_counter() - started
        for method in METHODS:
            absent, kept = _rates(images[method], [[x] for x, _ in pairs], [y for _, y in pairs])
            rows.append(Row("ito: generation", f"{order}, {method}", len(pairs), absent, kept, seconds=seconds[method] / len(pairs)))
            print(f"  {order}, {method}: absent {absent:.2f} kept {kept:.2f} {rows[-1].seconds:.1f} s", flush=True)
    return rows


def removal_rows(editor, count: int, captions: list[str]) -> list:
    """Each method on each scene, scene by scene: the methods share the scene's inversion, whose seconds each pays."""
    import numpy as np

    from benchmarks.quality_rows import _names_array, _removal_row, _removal_targets, exact_removals
    from benchmarks.toyworld.world import render

    scenes, targets = _removal_targets(count)
    rows = []
    for captioned in (c == "yes" for c in captions):
        images = {method: [] for method in METHODS}
        seconds = dict.fromkeys(METHODS, 0.0)
        for scene, target in zip(scenes, targets):
            editor.forget_last_photo()
            for k, (method, options) in enumerate(METHODS.items()):
                started = time.perf_counter()
                result = editor.remove(render(scene), target, prompt=scene.caption if captioned else None, preset="quality", force=True,
                                       fill="model", progress=False, **options)
                seconds[method] += time.perf_counter() - started + (result.timings["invert"] if k else 0.0)
                images[method].append(np.asarray(result.image.convert("RGB")))
        label = "caption" if captioned else "no caption"
        for method in METHODS:
            row = _removal_row(f"{label}, {method}", scenes, targets, images[method], seconds[method])
            row.section = "ito: removal"
            rows.append(row)
        exact = {method: exact_removals(scenes, targets, [_names_array(im) for im in images[method]]) for method in METHODS}
        alone, *with_ito = METHODS
        for method in with_ito:  # which scenes ITO itself changed: a paired count, not two rates
            gained = sum(e and not a for e, a in zip(exact[method], exact[alone]))
            lost = sum(a and not e for e, a in zip(exact[method], exact[alone]))
            rows.append(PairedRow(f"{label}, {method}", alone, len(scenes), gained, lost))
            print(f"  {label}, {method} against {alone}: exact in {gained} more scenes, {lost} fewer", flush=True)
    return rows


@dataclass
class PairedRow:
    method: str
    against: str
    scenes: int
    gained: int  # scenes exact with this method and not with `against`
    lost: int  # scenes exact with `against` and not with this method


@dataclass
class AttentionRow:
    method: str
    ito_steps: int  # ITO steps measured (each step restarts from the SWR embedding)
    original_share: float  # the target pieces' share of each pixel's cross-attention, original branch, mean
    swr_share: float  # ... suppressed branch with the SWR embedding, before ITO
    ito_share: float  # ... after ITO's iterations
    reference_loss_before: float  # the reference form's loss at the SWR embedding, mean over steps
    reference_loss_after: float  # ... after ITO
    embedding_moved: float  # ||c_ITO - c_SWR|| / ||c_SWR||, mean over steps


def attention_rows(editor, count: int, steps: int) -> list[AttentionRow]:
    """What each ITO moves, at each of its steps: the target's share of the cross-attention and the reference loss,
    before and after, generating "a X and a Y" with Y removed for `count` pairs."""
    import editor.removal.sampler as sampler
    from benchmarks.toyworld.sets import object_pairs
    from suppression.ito import attention_loss

    optimize, rows = sampler.optimize_embedding, []
    for method, options in METHODS.items():
        if not options.get("optimize", True):
            continue
        records = []

        def measured(start, maps_of, cross, self_attn, layout, size, config, step_size):
            """The sampler's ITO, its maps read before and after."""
            result = optimize(start, maps_of, cross, self_attn, layout, size, config, step_size)
            reference = replace(config, loss="reference")
            targets = list(layout.target_positions)
            record = [float(cross[:, targets].sum(-1).mean())]
            for embedding in (start, result):
                cross_hat, self_hat = maps_of(embedding)
                record += [float(cross_hat[:, targets].sum(-1).mean()),
                           float(attention_loss(cross, cross_hat, self_attn, self_hat, layout, size, reference))]
            records.append(record + [float((result - start).norm() / start.norm())])
            return result

        sampler.optimize_embedding = measured
        try:
            for seed, (x, y) in enumerate(object_pairs(count)):
                editor.generate(f"a {x} and a {y}", remove=y, seed=seed, steps=steps, progress=False, **options)
        finally:
            sampler.optimize_embedding = optimize
        if not records:  # too few steps for an ITO window
            continue
        mean = [sum(column) / len(records) for column in zip(*records)]
        rows.append(AttentionRow(method, len(records), mean[0], mean[1], mean[3], mean[2], mean[4], mean[5]))
        print(f"  {method}: share {mean[0]:.4f} -> SWR {mean[1]:.4f} -> ITO {mean[3]:.4f}, loss {mean[2]:.3f} -> {mean[4]:.3f}, "
              f"moved {mean[5]:.3f}", flush=True)
    return rows


def table(rows: list[dict]) -> str:
    """Markdown: one table for each kind of row present (generation, removal, paired, attention), a blank line apart."""
    fmt = lambda v, p=2: "" if v is None else f"{v:.{p}f}"
    generation = [r for r in rows if r.get("section") == "ito: generation"]
    removal = [r for r in rows if r.get("section") == "ito: removal"]
    paired = [r for r in rows if "gained" in r]
    attention = [r for r in rows if "ito_share" in r]
    tables = [
        ("| generation, Y removed | n | Y absent | X kept | s / image |",
         [f"| {r['method']} | {r['samples']} | {fmt(r['unwanted_absent'])} | {fmt(r['wanted_kept'])} | {fmt(r['seconds'], 1)} |"
          for r in generation]),
        ("| removal, fill model | n | target absent | others kept | **exact** | PSNR outside (dB) | remnant | collateral | s / image |",
         [f"| {r['method']} | {r['samples']} | {fmt(r['unwanted_absent'])} | {fmt(r['wanted_kept'])} | **{fmt(r['exact'])}** | "
          f"{fmt(r['psnr'], 1)} | {fmt(r['remnant'], 3)} | {fmt(r['collateral'], 3)} | {fmt(r['seconds'], 1)} |" for r in removal]),
        ("| removal, paired by scene | against | scenes | exact only with it | exact only without |",
         [f"| {r['method']} | {r['against']} | {r['scenes']} | {r['gained']} | {r['lost']} |" for r in paired]),
        ("| at each ITO step | steps | target's attention share: original | with SWR | after ITO | reference loss: with SWR | after ITO | embedding moved |",
         [f"| {r['method']} | {r['ito_steps']} | {r['original_share']:.4f} | {r['swr_share']:.4f} | {r['ito_share']:.4f} | "
          f"{r['reference_loss_before']:.3f} | {r['reference_loss_after']:.3f} | {r['embedding_moved']:.3f} |" for r in attention]),
    ]
    return "\n\n".join("\n".join([header, "|" + "---|" * (header.count("|") - 1), *body]) for header, body in tables if body)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="ITO ablation on the toy world")
    parser.add_argument("--model", default="toyworld", help="a model of the toy world's kind (default toyworld)")
    parser.add_argument("--count", type=int, default=50, help="generation pairs per order (default 50)")
    parser.add_argument("--scenes", type=int, default=100, help="removal scenes (default 100)")
    parser.add_argument("--steps", type=int, default=50, help="generation steps (removal runs the quality preset's 50)")
    parser.add_argument("--only", type=choice_list(SECTIONS, "section"), default=",".join(SECTIONS), help="comma-separated sections (default: all)")
    parser.add_argument("--captions", type=choice_list(CAPTIONS, "caption choice"), default=",".join(CAPTIONS),
                        help="removal without (no) and with (yes) the scene's caption")
    parser.add_argument("--attention-count", type=int, default=10, help="pairs of the attention section (default 10)")
    parser.add_argument("--json", help="also write the rows here")
    parser.add_argument("--table", nargs="+", metavar="JSON", help="print one table from the rows of these files, and run nothing")
    args = parser.parse_args(argv)
    if args.table:
        print(table([row for path in args.table for row in json.load(open(path))["rows"]]))
        return
    import torch

    from editor import Editor  # here, not at the top: `--help` answers without loading torch

    torch.set_num_threads(1)  # 64 px tensors: a second thread mostly waits (README: one thread per process)
    editor = Editor.from_pretrained(args.model, device="cpu", dtype="float32")
    rows = []
    if "generation" in args.only:
        rows += generation_rows(editor, args.count, args.steps)
    if "removal" in args.only:
        rows += removal_rows(editor, args.scenes, args.captions)
    if "attention" in args.only:
        rows += attention_rows(editor, args.attention_count, args.steps)
    command = "python -m benchmarks.ito_ablation " + " ".join(argv if argv is not None else sys.argv[1:])
    print(f"\n{table([asdict(r) for r in rows])}\n\n`{command.strip()}` on {platform.machine()}, model {args.model}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"command": command.strip(), "rows": [asdict(r) for r in rows]}, handle, indent=2)


if __name__ == "__main__":
    main()
