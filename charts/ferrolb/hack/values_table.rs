//! Generates the chart README's values table from the `# --` comments in `values.yaml`.
//!
//! Included by the `helm` test suite (tests/e2e/helm.rs), which fails when the README is stale
//! or a value is undocumented; `FERROLB_UPDATE_README=1` rewrites the table instead.
//!
//! The format follows helm-docs: a comment block starting with `# --` documents the key below
//! it, and covers that key's whole subtree. A key without such a comment must be a map whose
//! children are all documented.

use std::fmt::Write as _;

/// The README markers between which the table lives.
pub const BEGIN: &str = "<!-- values-table:begin (generated from values.yaml; do not edit) -->";
/// See [`BEGIN`].
pub const END: &str = "<!-- values-table:end -->";

/// One documented value.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Dotted path, e.g. `controller.image.tag`.
    pub key: String,
    /// JSON type name of the default.
    pub kind: &'static str,
    /// The default, as compact JSON.
    pub default: String,
    /// The comment text.
    pub description: String,
}

fn kind_of(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "bool",
        serde_json::Value::Number(n) if n.is_i64() || n.is_u64() => "int",
        serde_json::Value::Number(_) => "float",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "list",
        serde_json::Value::Object(_) => "object",
    }
}

fn lookup<'a>(root: &'a serde_json::Value, path: &[String]) -> Option<&'a serde_json::Value> {
    path.iter().try_fold(root, |v, k| v.get(k))
}

/// Parses `values.yaml` into rows, in file order. Errors name every undocumented key.
pub fn rows(values_yaml: &str) -> Result<Vec<Row>, String> {
    let root: serde_json::Value =
        serde_yaml_ng::from_str(values_yaml).map_err(|e| format!("values.yaml: {e}"))?;
    let mut rows = Vec::new();
    let mut undocumented = Vec::new();
    // (indent, key) of the enclosing maps.
    let mut stack: Vec<(usize, String)> = Vec::new();
    // Indent of a documented key whose subtree is being skipped.
    let mut covered: Option<usize> = None;
    let mut comment: Option<String> = None;
    for line in values_yaml.lines() {
        let indent = line.len() - line.trim_start().len();
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        if let Some(c) = covered {
            if indent > c || (indent == c && text.starts_with("- ")) {
                continue;
            }
            covered = None;
        }
        if let Some(rest) = text.strip_prefix("# --") {
            comment = Some(rest.trim().to_owned());
            continue;
        }
        if let Some(rest) = text.strip_prefix('#') {
            if let Some(c) = comment.as_mut() {
                c.push(' ');
                c.push_str(rest.trim());
            }
            continue;
        }
        let Some((key, _)) = text.split_once(':') else {
            continue;
        };
        let key = key.trim().trim_matches('"').to_owned();
        while stack.last().is_some_and(|(i, _)| *i >= indent) {
            stack.pop();
        }
        let mut path: Vec<String> = stack.iter().map(|(_, k)| k.clone()).collect();
        path.push(key.clone());
        let value = lookup(&root, &path)
            .ok_or_else(|| format!("values.yaml: cannot read {}", path.join(".")))?;
        match comment.take() {
            Some(description) => {
                rows.push(Row {
                    key: path.join("."),
                    kind: kind_of(value),
                    default: serde_json::to_string(value).map_err(|e| e.to_string())?,
                    description,
                });
                covered = Some(indent);
            }
            None => match value {
                serde_json::Value::Object(m) if !m.is_empty() => stack.push((indent, key)),
                _ => undocumented.push(path.join(".")),
            },
        }
    }
    if undocumented.is_empty() {
        Ok(rows)
    } else {
        Err(format!(
            "values.yaml: undocumented values (add a `# --` comment above each): {}",
            undocumented.join(", ")
        ))
    }
}

/// The Markdown table for `rows`.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from("| Key | Type | Default | Description |\n|---|---|---|---|\n");
    for r in rows {
        let _ = writeln!(
            out,
            "| `{}` | {} | `{}` | {} |",
            r.key,
            r.kind,
            r.default.replace('|', "\\|"),
            r.description.replace('|', "\\|")
        );
    }
    out
}

/// `readme` with the text between the markers replaced by the table of `values_yaml`.
pub fn render_readme(readme: &str, values_yaml: &str) -> Result<String, String> {
    let table = table(&rows(values_yaml)?);
    let (head, rest) = readme
        .split_once(BEGIN)
        .ok_or_else(|| format!("README.md lacks the marker {BEGIN}"))?;
    let (_, tail) = rest
        .split_once(END)
        .ok_or_else(|| format!("README.md lacks the marker {END}"))?;
    Ok(format!("{head}{BEGIN}\n{table}{END}{tail}"))
}
