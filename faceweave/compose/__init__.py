"""Compositing: masks, lighting transfer and blending."""
