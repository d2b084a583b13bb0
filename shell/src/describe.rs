//! `\d` and `\d TABLE`: the data contract in the shell, with every column's description.

use comfy_table::{ContentArrangement, Table};
use fjq_engine::{Engine, VIEWS};

pub fn tables(engine: &Engine) -> String {
    let mut t = Table::new();
    t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    t.set_content_arrangement(ContentArrangement::Dynamic);
    t.set_header(["name", "kind", "rows", "description"]);
    for spec in engine.tables() {
        let rows = engine
            .dataset()
            .tables
            .get(spec.name)
            .map(|t| crate::generate::thousands(t.rows))
            .unwrap_or_default();
        t.add_row([spec.name, "table", rows.as_str(), spec.description]);
    }
    for (name, description, _) in VIEWS {
        t.add_row([*name, "view", "", *description]);
    }
    t.to_string()
}

pub fn table(engine: &Engine, name: &str) -> Option<String> {
    let spec = engine
        .tables()
        .iter()
        .find(|t| t.name.eq_ignore_ascii_case(name))?;
    let mut t = Table::new();
    t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    t.set_content_arrangement(ContentArrangement::Dynamic);
    t.set_header(["column", "type", "nullable", "description"]);
    for c in spec.columns {
        t.add_row([
            c.name,
            &c.data_type.arrow().to_string(),
            if c.nullable { "yes" } else { "no" },
            c.description,
        ]);
    }
    Some(format!(
        "{}: {}\nSorted by {}.\n{t}",
        spec.name,
        spec.description,
        spec.sort_order.join(", ")
    ))
}
