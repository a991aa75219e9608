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
        // Shared definitions are validated inside the files that require
        // them: "_common" files and those headed "// included by:".
        if path.to_string_lossy().ends_with("_common.wgsl") || body.starts_with("// included by:") {
            continue;
        }
        // "// requires: X.wgsl Y.wgsl" (and any "// or requires: ..."
        // after it) on the first lines: the host compiles those files, in
        // order, before this one; "enable-f16" puts `enable f16;` first.
        // Each variant is validated.
        let mut variants: Vec<Vec<&str>> = body
            .lines()
            .take_while(|l| l.starts_with("//"))
            .filter_map(|l| {
                l.strip_prefix("// requires: ")
                    .or_else(|| l.strip_prefix("// or requires: "))
            })
            .map(|l| l.split_whitespace().collect())
            .collect();
        if variants.is_empty() {
            variants.push(vec![]);
        }
        for files in variants {
            let enable = if files.contains(&"enable-f16") {
                "enable f16;\n"
            } else {
                ""
            };
            let required: String = files
                .iter()
                .filter(|f| **f != "enable-f16")
                .map(|f| {
                    std::fs::read_to_string(format!("{dir}/{f}"))
                        .unwrap_or_else(|e| panic!("{}: {f}: {e}", path.display()))
                })
                .collect();
            let src = format!("{enable}{prelude}\n{required}{body}");
            let module = naga::front::wgsl::parse_str(&src).unwrap_or_else(|e| {
                panic!("{} {files:?}: {}", path.display(), e.emit_to_string(&src))
            });
            naga::valid::Validator::new(
                naga::valid::ValidationFlags::all(),
                naga::valid::Capabilities::all(),
            )
            .validate(&module)
            .unwrap_or_else(|e| panic!("{} {files:?}: {}", path.display(), e.emit_to_string(&src)));
            assert!(
                !module.entry_points.is_empty(),
                "{} has no entry point",
                path.display()
            );
        }
        checked += 1;
    }
    assert!(checked >= 4, "only {checked} shader files found");
}

#[test]
fn naga_rejects_a_broken_shader() {
    assert!(naga::front::wgsl::parse_str("fn main( { }").is_err());
}
