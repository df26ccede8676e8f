"""The benchmarks run end to end (on the tiny model, a couple of samples): their tables cannot silently rot."""


from benchmarks import quality
from benchmarks.toyworld_sets import object_pairs, removal_scenes
from editor import Editor


def test_quality_sections_produce_rows(tiny_pipe):
    editor = Editor(tiny_pipe, "tiny")
    rows = quality.fidelity_rows(editor, 2, 2) + quality.generation_rows(editor, 1, 3)
    rows += quality.reconstruction_rows(editor, 1, ["direct"]) + quality.removal_rows(editor, 1, ["direct"])
    rows += quality.preset_rows(editor, 1) + quality.position_rows(editor, 1)
    assert {r.section for r in rows} == {"fidelity", "generation", "reconstruction", "removal"}
    removal = [r.method for r in rows if r.section == "removal"]
    assert len(removal) == 3 + 3 + 3  # with blend, without, negative-prompt baseline; each preset, fast uncaptioned; position
    assert removal[3:] == ["preset quality", "preset fast", 'preset fast, no caption ("a {target}")',
                           "preset fast, target first in the caption",
                           "preset fast, target first, paper's SWR rows (target + [EOT] only)",
                           "preset fast, target last in the caption"]
    for row in rows:
        for value in (row.unwanted_absent, row.wanted_kept, row.exact, row.ssim):
            assert value is None or 0.0 <= value <= 1.0
    table = quality.markdown(rows)
    assert table.count("\n") == len(rows) + 1


def test_background_scores_look_only_outside_the_box():
    scene = removal_scenes(1)[0]
    target = scene.objects[0].name
    from toyworld.world import render

    original = render(scene)
    edited = original.copy()
    x0, y0, x1, y1 = scene.objects[0].box
    edited[y0:y1, x0:x1] = 0  # change only inside the target's box
    psnr, ssim = quality.background_scores(original, edited, quality._outside_box_mask(scene, target))
    assert psnr == float("inf") and ssim > 0.9


def test_sets_are_seeded_and_well_formed():
    assert object_pairs(5) == object_pairs(5)
    for x, y in object_pairs(30):
        assert x.split()[0] != y.split()[0]
    scenes = removal_scenes(10)
    assert all(2 <= len(s.objects) <= 3 for s in scenes) and removal_scenes(10) == scenes
