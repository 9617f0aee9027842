//! The crate's top-level modules depend on one another one way (README "Development", the map
//! in `src/lib.rs`): a reader finds where a thing lives from its name, and a change flows down
//! the data's path, never back up it. This reads the sources and fails on an import circle
//! between top-level modules, naming the files that close it.
//!
//! What counts is a path `crate::<module>` in code (comments and `#[cfg(test)]` modules are
//! left out: a test may drive a module from beside it).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("reading src/") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without its comments and without what follows `#[cfg(test)]` at the
/// start of a line (the test module, last in every file by the project's habit).
fn code(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        if line.trim_start() == "#[cfg(test)]" && !line.starts_with(' ') {
            break;
        }
        let line = match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        };
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The top-level modules each top-level module names, with the files that name them.
fn graph(src: &Path) -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
    let modules: BTreeSet<String> = std::fs::read_dir(src)
        .expect("reading src/")
        .map(|e| e.expect("a directory entry").path())
        .filter_map(|p| {
            let name = p.file_stem()?.to_str()?.to_string();
            (p.is_dir() || p.extension().is_some_and(|e| e == "rs")).then_some(name)
        })
        .filter(|m| m != "lib" && m != "main")
        .collect();
    let mut files = Vec::new();
    sources(src, &mut files);
    let mut deps: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(src).expect("under src/");
        let Some(owner) = rel
            .components()
            .next()
            .and_then(|c| Path::new(c.as_os_str()).file_stem())
            .and_then(|s| s.to_str())
            .map(str::to_string)
        else {
            continue;
        };
        if !modules.contains(&owner) || rel.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("reading a source file");
        let code = code(&text);
        for (i, _) in code.match_indices("crate::") {
            let name: String = code[i + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if name != owner && modules.contains(&name) {
                deps.entry(owner.clone())
                    .or_default()
                    .entry(name)
                    .or_default()
                    .insert(rel.display().to_string());
            }
        }
    }
    deps
}

/// A path from `from` back to `to`, if there is one.
fn path_to(
    deps: &BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
    from: &str,
    to: &str,
    seen: &mut BTreeSet<String>,
) -> Option<Vec<String>> {
    if from == to {
        return Some(vec![to.to_string()]);
    }
    if !seen.insert(from.to_string()) {
        return None;
    }
    for next in deps.get(from).into_iter().flat_map(|d| d.keys()) {
        if let Some(mut rest) = path_to(deps, next, to, seen) {
            rest.insert(0, from.to_string());
            return Some(rest);
        }
    }
    None
}

fn circles(deps: &BTreeMap<String, BTreeMap<String, BTreeSet<String>>>) -> Vec<String> {
    let mut found = Vec::new();
    for (module, named) in deps {
        for (dep, files) in named {
            if let Some(back) = path_to(deps, dep, module, &mut BTreeSet::new()) {
                found.push(format!(
                    "{module} -> {} (first step in {})",
                    back.join(" -> "),
                    files.iter().cloned().collect::<Vec<_>>().join(", ")
                ));
            }
        }
    }
    found
}

#[test]
fn top_level_modules_import_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let deps = graph(&src);
    // The reading itself works: the driver's imports are seen.
    assert!(
        deps.get("streams").is_some_and(|d| d.contains_key("api")),
        "no streams -> api import found: the source reader is broken"
    );
    let found = circles(&deps);
    assert!(found.is_empty(), "import circles:\n{}", found.join("\n"));
}

#[test]
fn a_circle_is_found_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::write(src.join("lib.rs"), "pub mod a;\npub mod b;\n").unwrap();
    std::fs::create_dir(src.join("a")).unwrap();
    std::fs::write(src.join("a/mod.rs"), "use crate::b::Thing;\n").unwrap();
    // A comment and a test module do not count; the code after them does.
    std::fs::write(
        src.join("b.rs"),
        "// crate::a is only mentioned\nfn f() { crate::a::g() }\n#[cfg(test)]\nmod tests { use crate::lib; }\n",
    )
    .unwrap();
    let found = circles(&graph(src));
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[0].starts_with("a -> b -> a"), "{found:?}");
    assert!(found[0].contains("a/mod.rs"), "{found:?}");

    std::fs::write(src.join("b.rs"), "// crate::a is only mentioned\n").unwrap();
    assert!(circles(&graph(src)).is_empty());
}
