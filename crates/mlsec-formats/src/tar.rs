//! The tar reader lives in `mlsec-util` (shared with `mlsec-triton`'s environment tarballs);
//! re-exported here so the container readers keep their paths.
pub use mlsec_util::tar::*;
