"""The benchmark networks: per-modality encoders, heads, and how they are assembled."""
