"""Face analysis: detection, dense mesh, head pose, identity and selection."""
