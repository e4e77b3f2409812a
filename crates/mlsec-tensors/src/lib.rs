//! Static readers for model files, shared by `mlsec checkpoint` and `mlsec inspect`.
//!
//! **Architecture Invariant:** nothing here executes, imports or unpickles the input. Every
//! reader is bounded by the input's size and returns errors, never panics, on hostile bytes.

pub mod dtype;
pub mod gguf;
pub mod hdf5;
pub mod joblib;
pub mod legacy;
pub mod load;
pub mod npy;
pub mod pickle;
pub mod safetensors;
pub mod sniff;
pub mod stats;
pub mod tar;
pub mod torch;
pub mod unscanned;
pub mod write;
pub mod zip;
