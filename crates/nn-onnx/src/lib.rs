//! ONNX export for `nn` (in progress): the types of ONNX's `onnx.proto`.
#![deny(missing_docs)]

// Generated code: documented in onnx.proto, not here; most of its messages go unused.
#[allow(dead_code, missing_docs, clippy::all, rustdoc::all)]
mod proto;
