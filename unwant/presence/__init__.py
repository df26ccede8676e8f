"""Is the target in the photo? A diffusion classifier read per latent cell, with the loaded model and no extra weights.

`presence` and `Presence` load on first use, so that `unwant.presence.config` imports without torch."""

__all__ = ["Presence", "PresenceConfig", "presence"]


def __getattr__(name: str):
    if name in ("Presence", "presence"):
        from unwant.presence import classifier

        return getattr(classifier, name)
    if name == "PresenceConfig":
        from unwant.presence.config import PresenceConfig

        return PresenceConfig
    raise AttributeError(f"module 'presence' has no attribute {name!r}")
