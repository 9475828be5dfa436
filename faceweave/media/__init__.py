"""Media input and output: strict, size-checked image decoding and atomic image writing."""
