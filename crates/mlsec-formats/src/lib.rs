//! Static readers for model files: every container a model loader reads (zip as torch and
//! Python read it, tar, npy/npz, joblib and its compressors, HDF5, safetensors, GGUF, the
//! legacy torch formats), content sniffing, tensor views cut from their storages, and tensor
//! statistics.
//!
//! What it owns: the bytes-to-structure step for every format, and [`load::visit`], which hands
//! every tensor of a file to a caller. What it must not do: judge anything (rules and findings
//! live in the subcommand crates), print, or execute the input. Pickles are emulated by
//! `mlsec-pickle`; this crate supplies the loader knowledge the machine lacks (joblib's inline
//! array reads, [`joblib::machine`]) and reads tensor records from its trace.
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
pub mod safetensors;
pub mod sniff;
pub mod stats;
pub mod tar;
pub mod torch;
pub mod unscanned;
pub mod walk;
pub mod zip;
