"""Shared geometry below analysis and swap: the Face Mesh topology and canonical face, rasterising triangles into
dense maps, five-point alignment templates, warps and paste-back."""
