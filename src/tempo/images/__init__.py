"""Image classification with ONNX Runtime on the CPU: the bundled digits model, or any ONNX
image classifier named by IMAGE_MODEL (README, Classify images)."""
