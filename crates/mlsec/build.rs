//! With the `torch` feature, records `$LIBTORCH/lib` as the binary's rpath, so `mlsec` runs
//! without `LD_LIBRARY_PATH` (libtorch's own libraries find their CUDA runtime stubs through
//! their `$ORIGIN` rpaths). Link arguments do not propagate from dependencies: this has to be in
//! the crate that links the executable.

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    if std::env::var_os("CARGO_FEATURE_TORCH").is_some()
        && let Some(dir) = std::env::var_os("LIBTORCH")
    {
        let lib = std::path::Path::new(&dir).join("lib");
        println!("cargo:rustc-link-arg-bins=-Wl,-rpath,{}", lib.display());
    }
}
