"""Is the target in the photo? A diffusion classifier read per latent cell, with the loaded model and no extra weights."""

from presence.classifier import Presence, presence
from presence.config import PresenceConfig

__all__ = ["Presence", "PresenceConfig", "presence"]
