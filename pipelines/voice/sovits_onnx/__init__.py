"""ONNX Runtime for the so-vits-svc path: export (ContentVec + generator), int8, cache, runtime."""
