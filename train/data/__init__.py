"""The trainer's data: factor vocabularies, the canvas encoding, the shard stream, epoch plans."""
