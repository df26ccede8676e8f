"""Stable Diffusion plumbing that inversion, suppression and the editor share: errors, prompt encoding, the UNet's
guided output, the DDIM sampler built from any checkpoint's scheduler, the VAE and UNet call counting, and changes to the
caller's process scoped to our call."""
