//! Sample kernel files for unit tests, in `tests/data/kpollctl/` at the repository root.

/// The contents of sample file `name`.
pub fn read(name: &str) -> String {
    let path = format!(
        "{}/../tests/data/kpollctl/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(path).unwrap()
}
