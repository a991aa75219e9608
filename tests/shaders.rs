//! Every WGSL file parses and validates offline with naga (the prelude
//! prepended, as the runtime does), so a broken shader fails without an
//! adapter too.

#[test]
fn every_shader_validates_with_naga() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/shaders");
    let prelude = std::fs::read_to_string(format!("{dir}/prelude.wgsl")).unwrap();
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "wgsl") || path.ends_with("prelude.wgsl") {
            continue;
        }
        let body = std::fs::read_to_string(&path).unwrap();
        // "// requires: X.wgsl" on the first line: the host compiles X first
        // (a file of shared definitions, without entry points of its own).
        let required = body
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("// requires: "))
            .map(|f| std::fs::read_to_string(format!("{dir}/{}", f.trim())).unwrap())
            .unwrap_or_default();
        // Shared definitions are validated inside the files that require them.
        if path.to_string_lossy().ends_with("_common.wgsl") {
            continue;
        }
        let src = format!("{prelude}\n{required}{body}");
        let module = naga::front::wgsl::parse_str(&src)
            .unwrap_or_else(|e| panic!("{}: {}", path.display(), e.emit_to_string(&src)));
        naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::all(),
        )
        .validate(&module)
        .unwrap_or_else(|e| panic!("{}: {}", path.display(), e.emit_to_string(&src)));
        assert!(
            !module.entry_points.is_empty(),
            "{} has no entry point",
            path.display()
        );
        checked += 1;
    }
    assert!(checked >= 4, "only {checked} shader files found");
}

#[test]
fn naga_rejects_a_broken_shader() {
    assert!(naga::front::wgsl::parse_str("fn main( { }").is_err());
}
