"""The box diffusion: noise schedule and corruption, timestep samplers, the sampler."""
