"""Neural model plug-ins: catalog of ModelSpecs, a verified file store and the one ONNX Runtime session factory."""
