"""unwant's own packages beside the asked ones (`editor`, `inversion`, `suppression`, `cli`): `unwant.sd`, the Stable
Diffusion plumbing every stage shares; `unwant.presence`, whether a photo shows a word; `unwant.web`, the web page.

Nothing is imported here, so `import unwant.sd` stays light.
"""
