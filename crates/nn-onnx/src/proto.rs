//! The Rust types of ONNX's `proto/onnx.proto` (package `onnx`), as prost-build generates
//! them: one struct per message, `Option` fields for proto2's `optional` (so that a value
//! equal to the default, such as `alpha = 0`, is still written), enums as `i32` fields
//! with Rust enums beside them.
//!
//! The code is generated once and committed (`src/generated/onnx.rs`); the test
//! `tests/generated.rs` regenerates it and fails if it differs. It is included rather
//! than declared as a module so that rustfmt leaves prost-build's formatting alone.

include!("generated/onnx.rs");
