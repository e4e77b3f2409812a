//! With the `torch` feature, lets this crate's own test binaries find libtorch at run time
//! without `LD_LIBRARY_PATH` (an rpath to `$LIBTORCH/lib`). The `mlsec` binary needs the same
//! line in its own build script, since link arguments do not propagate to dependents.

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    if std::env::var_os("CARGO_FEATURE_TORCH").is_some()
        && let Some(dir) = std::env::var_os("LIBTORCH")
    {
        let lib = std::path::Path::new(&dir).join("lib");
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    }
}
