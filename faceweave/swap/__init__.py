"""Face swappers: the embedded mesh swap and its geometry."""
