"""Entropy coding of descriptor maps: integer context model, wavefront range coding."""
