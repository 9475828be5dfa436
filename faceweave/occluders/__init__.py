"""What stays in front of a face: hands (MediaPipe Hands) and glasses frames (found in the canonical eye band)."""
