//! The layout file (TOML): how a secure environment's delimited exports map onto the contract.
//! Each table of the layout names its files, their format, the source fields (by header or by
//! position) and, for each contract column, the field it comes from, its date format and code
//! list, or the SQL expression that derives it. The layout is checked against the contract when
//! it is read, so a typo is named before a byte of data is read.

use fjq_contract::{ColumnType, TableSpec};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The layouts fjq ships (engine/layouts/), by the name `--layout` also accepts.
pub const SHIPPED: &[(&str, &str)] = &[
    ("sail-del", include_str!("../../layouts/sail-del.toml")),
    ("fjq-csv", include_str!("../../layouts/fjq-csv.toml")),
];

/// A layout as written in the file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayoutFile {
    #[serde(default)]
    pub description: Option<String>,
    /// Defaults for every table's format.
    #[serde(default)]
    pub format: FormatSpec,
    /// The coverage windows to record in dataset.json; taken from the data when absent.
    #[serde(default)]
    pub coverage: Option<fjq_contract::Coverage>,
    pub tables: BTreeMap<String, TableLayoutFile>,
}

/// How a file is written. Every field is optional so a table may override the layout's defaults.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormatSpec {
    /// `del` (Db2 EXPORT ... OF DEL: no header) or `csv` (a header row).
    pub kind: Option<Kind>,
    pub delimiter: Option<String>,
    pub quote: Option<String>,
    pub header: Option<bool>,
    /// `utf-8` or `windows-1252`.
    pub encoding: Option<Encoding>,
    /// Trim spaces around values (Db2 pads CHAR columns). Default true.
    pub trim: Option<bool>,
    /// The date format: YYYY, MM and DD with any separators (`DD/MM/YYYY`). Default ISO.
    pub date_format: Option<String>,
    /// Values read as NULL (after trimming). Default: the empty value.
    pub null: Option<Vec<String>>,
    /// The words for true and false, besides true/false, t/f, yes/no, y/n and 1/0.
    pub booleans: Option<[String; 2]>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Del,
    Csv,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Encoding {
    #[serde(rename = "utf-8", alias = "UTF-8", alias = "utf8")]
    Utf8,
    #[serde(rename = "windows-1252", alias = "cp1252", alias = "Windows-1252")]
    Windows1252,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableLayoutFile {
    /// File name pattern inside --from (`*` any characters, `?` one).
    pub files: String,
    #[serde(default)]
    pub format: FormatSpec,
    /// The source fields in file order; required without a header row.
    #[serde(default)]
    pub fields: Option<Vec<String>>,
    #[serde(default)]
    pub columns: BTreeMap<String, ColumnLayoutFile>,
}

/// A contract column's source: a field name (`case_id = "CASE_NUMBER_HASH"`) or a table.
#[derive(Debug)]
pub enum ColumnLayoutFile {
    Field(String),
    Spec(ColumnSpecFile),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnSpecFile {
    /// The source field's name.
    pub from: Option<String>,
    /// The source field's position, from 1.
    pub position: Option<usize>,
    /// A SQL expression over the row (contract columns by their names, other source fields by
    /// theirs) for a column the source lacks.
    pub expr: Option<String>,
    pub date_format: Option<String>,
    /// Source value -> contract value. A value not in the list is rejected.
    pub codes: Option<BTreeMap<String, String>>,
}

impl<'de> Deserialize<'de> for ColumnLayoutFile {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = ColumnLayoutFile;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a source field name or a table with from, position, expr, date_format or codes")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(ColumnLayoutFile::Field(v.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Self::Value, A::Error> {
                ColumnSpecFile::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(ColumnLayoutFile::Spec)
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// A checked layout, ready to read with.
#[derive(Debug)]
pub struct Layout {
    pub description: Option<String>,
    pub coverage: Option<fjq_contract::Coverage>,
    /// In the contract's table order.
    pub tables: Vec<TableLayout>,
}

#[derive(Debug, Clone)]
pub struct Format {
    pub kind: Kind,
    pub delimiter: u8,
    pub quote: u8,
    pub header: bool,
    pub encoding: Encoding,
    pub trim: bool,
    pub date_format: DateFormat,
    pub null: Vec<String>,
    pub booleans: Option<[String; 2]>,
}

#[derive(Debug)]
pub struct TableLayout {
    pub spec: &'static TableSpec,
    pub files: String,
    pub format: Format,
    /// The source fields by position, when the layout names them.
    pub fields: Option<Vec<String>>,
    /// One per contract column, in the contract's order.
    pub columns: Vec<ColumnLayout>,
}

impl TableLayout {
    /// How many fields a file must have for the columns taken by position (0 when none is).
    pub fn positional_width(&self) -> usize {
        self.columns
            .iter()
            .filter_map(|c| match c.source {
                Source::Position(p) => Some(p + 1),
                _ => None,
            })
            .max()
            .unwrap_or(0)
    }
}

#[derive(Debug, Clone)]
pub enum Source {
    /// A field by name (looked up in `fields` or the header).
    Name(String),
    /// A field by position, from 0.
    Position(usize),
    /// Derived by a SQL expression.
    Expr(String),
}

#[derive(Debug, Clone)]
pub struct ColumnLayout {
    pub name: &'static str,
    pub data_type: ColumnType,
    pub nullable: bool,
    pub source: Source,
    pub date_format: DateFormat,
    pub codes: Option<BTreeMap<String, String>>,
}

/// A date format of YYYY, MM and DD tokens and literal separators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateFormat {
    pub text: String,
    pub parts: Vec<DatePart>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatePart {
    Year,
    Month,
    Day,
    Literal(u8),
}

impl DateFormat {
    pub fn parse(text: &str) -> Result<DateFormat, String> {
        let mut parts = Vec::new();
        let b = text.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i..].starts_with(b"YYYY") {
                parts.push(DatePart::Year);
                i += 4;
            } else if b[i..].starts_with(b"MM") {
                parts.push(DatePart::Month);
                i += 2;
            } else if b[i..].starts_with(b"DD") {
                parts.push(DatePart::Day);
                i += 2;
            } else if b[i].is_ascii_alphanumeric() || !b[i].is_ascii() {
                return Err(format!(
                    "date format {text:?}: {:?} is neither YYYY, MM, DD nor a separator",
                    &text[i..]
                ));
            } else {
                parts.push(DatePart::Literal(b[i]));
                i += 1;
            }
        }
        for want in [DatePart::Year, DatePart::Month, DatePart::Day] {
            if parts.iter().filter(|p| **p == want).count() != 1 {
                return Err(format!(
                    "date format {text:?} must hold YYYY, MM and DD once each"
                ));
            }
        }
        Ok(DateFormat {
            text: text.to_string(),
            parts,
        })
    }
}

/// An error in the layout file, naming where in it.
fn at(place: &str, message: impl std::fmt::Display) -> String {
    format!("{place}: {message}")
}

fn one_byte(place: &str, what: &str, v: &str) -> Result<u8, String> {
    let v = if v == "\\t" { "\t" } else { v };
    match v.as_bytes() {
        [b] if b.is_ascii() => Ok(*b),
        _ => Err(at(
            place,
            format!("{what} must be one ASCII character, not {v:?}"),
        )),
    }
}

fn merge(base: &FormatSpec, over: &FormatSpec, place: &str) -> Result<Format, String> {
    let kind = over.kind.or(base.kind).unwrap_or(Kind::Del);
    let pick = |o: &Option<String>, b: &Option<String>| o.clone().or_else(|| b.clone());
    let delimiter = one_byte(
        place,
        "delimiter",
        &pick(&over.delimiter, &base.delimiter).unwrap_or_else(|| ",".into()),
    )?;
    let quote = one_byte(
        place,
        "quote",
        &pick(&over.quote, &base.quote).unwrap_or_else(|| "\"".into()),
    )?;
    let date_text =
        pick(&over.date_format, &base.date_format).unwrap_or_else(|| "YYYY-MM-DD".into());
    Ok(Format {
        kind,
        delimiter,
        quote,
        header: over.header.or(base.header).unwrap_or(kind == Kind::Csv),
        encoding: over.encoding.or(base.encoding).unwrap_or(Encoding::Utf8),
        trim: over.trim.or(base.trim).unwrap_or(true),
        date_format: DateFormat::parse(&date_text).map_err(|e| at(place, e))?,
        null: over
            .null
            .clone()
            .or_else(|| base.null.clone())
            .unwrap_or_else(|| vec![String::new()]),
        booleans: over.booleans.clone().or_else(|| base.booleans.clone()),
    })
}

impl Layout {
    /// Reads `--layout`: a file, or the name of a shipped layout.
    pub fn load(arg: &str) -> Result<Layout, String> {
        let path = Path::new(arg);
        if !path.exists()
            && let Some((_, text)) = SHIPPED.iter().find(|(name, _)| *name == arg)
        {
            return Layout::parse(text, &format!("the shipped layout {arg}"));
        }
        let text = std::fs::read_to_string(path).map_err(|e| {
            let shipped: Vec<_> = SHIPPED.iter().map(|(n, _)| *n).collect();
            format!(
                "cannot read layout {arg}: {e} (give a TOML file, or one of the shipped layouts: {})",
                shipped.join(", ")
            )
        })?;
        Layout::parse(&text, arg)
    }

    /// Parses and checks a layout against the contract; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Layout, String> {
        let file: LayoutFile = toml::from_str(text)
            .map_err(|e| format!("layout {origin}: {}", e.to_string().trim_end()))?;
        for name in file.tables.keys() {
            if fjq_contract::table(name).is_none() {
                let known: Vec<_> = fjq_contract::TABLES.iter().map(|t| t.name).collect();
                return Err(format!(
                    "layout {origin}: [tables.{name}] is not a table of the contract (its tables: {})",
                    known.join(", ")
                ));
            }
        }
        if let Some(c) = &file.coverage {
            let info = fjq_contract::DatasetInfo {
                dataset: String::new(),
                coverage: c.clone(),
                generator: None,
                tables: Default::default(),
            };
            info.check()
                .map_err(|e| format!("layout {origin}: [coverage] {e}"))?;
        }
        let mut tables = Vec::new();
        for spec in fjq_contract::TABLES {
            let Some(t) = file.tables.get(spec.name) else {
                continue;
            };
            let place = format!("layout {origin}: [tables.{}]", spec.name);
            let format = merge(&file.format, &t.format, &place)?;
            for name in t.columns.keys() {
                if spec.column(name).is_none() {
                    let known: Vec<_> = spec.columns.iter().map(|c| c.name).collect();
                    return Err(format!(
                        "{place}: column {name} is not a column of {} (its columns: {})",
                        spec.name,
                        known.join(", ")
                    ));
                }
            }
            if !format.header && t.fields.is_none() {
                // Position-only layouts are allowed, but then every column needs a position.
                for c in spec.columns {
                    let positional = matches!(
                        t.columns.get(c.name),
                        Some(ColumnLayoutFile::Spec(ColumnSpecFile {
                            position: Some(_),
                            ..
                        })) | Some(ColumnLayoutFile::Spec(ColumnSpecFile { expr: Some(_), .. }))
                    );
                    if !positional {
                        return Err(format!(
                            "{place}: the files have no header row, so the layout must list the source `fields` in order (or give every column a `position`); column {} has neither",
                            c.name
                        ));
                    }
                }
            }
            let mut columns = Vec::new();
            for c in spec.columns {
                let cplace = format!("{place} column {}", c.name);
                let (source, date_format, codes) = match t.columns.get(c.name) {
                    None => (Source::Name(c.name.to_string()), None, None),
                    Some(ColumnLayoutFile::Field(f)) => (Source::Name(f.clone()), None, None),
                    Some(ColumnLayoutFile::Spec(s)) => {
                        let source = match (&s.from, s.position, &s.expr) {
                            (Some(f), None, None) => Source::Name(f.clone()),
                            (None, Some(p), None) if p >= 1 => Source::Position(p - 1),
                            (None, Some(_), None) => {
                                return Err(at(&cplace, "position counts from 1"));
                            }
                            (None, None, Some(e)) => Source::Expr(e.clone()),
                            (None, None, None) => Source::Name(c.name.to_string()),
                            _ => {
                                return Err(at(
                                    &cplace,
                                    "give one of from, position and expr, not several",
                                ));
                            }
                        };
                        (source, s.date_format.clone(), s.codes.clone())
                    }
                };
                if date_format.is_some() && c.data_type != ColumnType::Date32 {
                    return Err(at(&cplace, "date_format is for date columns only"));
                }
                if matches!(source, Source::Expr(_)) && codes.is_some() {
                    return Err(at(&cplace, "a derived column takes no code list"));
                }
                if let (Source::Name(n), Some(fields)) = (&source, &t.fields)
                    && !fields.contains(n)
                {
                    return Err(at(
                        &cplace,
                        format!(
                            "the source field {n} is not among the table's fields ({})",
                            fields.join(", ")
                        ),
                    ));
                }
                let date_format = match date_format {
                    Some(d) => DateFormat::parse(&d).map_err(|e| at(&cplace, e))?,
                    None => format.date_format.clone(),
                };
                columns.push(ColumnLayout {
                    name: c.name,
                    data_type: c.data_type,
                    nullable: c.nullable,
                    source,
                    date_format,
                    codes,
                });
            }
            tables.push(TableLayout {
                spec,
                files: t.files.clone(),
                format,
                fields: t.fields.clone(),
                columns,
            });
        }
        if tables.is_empty() {
            return Err(format!("layout {origin} maps no table"));
        }
        Ok(Layout {
            description: file.description,
            coverage: file.coverage,
            tables,
        })
    }
}

/// Whether a file name matches a pattern of `*` (any characters) and `?` (one).
pub fn matches(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], n) || (!n.is_empty() && go(p, &n[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &n[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_layouts_are_valid() {
        for (name, text) in SHIPPED {
            let layout = Layout::parse(text, name).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(layout.tables.len(), fjq_contract::TABLES.len(), "{name}");
        }
    }

    #[test]
    fn patterns() {
        assert!(matches("FACO_CASES_*.del", "FACO_CASES_20210131_001.del"));
        assert!(!matches("FACO_CASES_*.del", "FACO_CASES_1.csv"));
        assert!(matches("a?c", "abc"));
        assert!(!matches("a?c", "ac"));
    }

    #[test]
    fn date_formats() {
        let f = DateFormat::parse("DD/MM/YYYY").unwrap();
        assert_eq!(f.parts.len(), 5);
        assert!(DateFormat::parse("DD/MM/YY").is_err());
        assert!(DateFormat::parse("YYYY-MM-DD HH").is_err());
    }

    #[test]
    fn typos_are_named() {
        let e = Layout::parse(
            "[tables.cases]\nfiles = \"x\"\n[tables.cases.columns]\ncase_idd = \"A\"\n",
            "t",
        )
        .unwrap_err();
        assert!(e.contains("case_idd is not a column of cases"), "{e}");
        let e = Layout::parse("[tables.casez]\nfiles = \"x\"\n", "t").unwrap_err();
        assert!(e.contains("[tables.casez] is not a table"), "{e}");
        let e = Layout::parse(
            "[tables.cases]\nfiles = \"x\"\n[tables.cases.columns]\ncase_id = { form = \"A\" }\n",
            "t",
        )
        .unwrap_err();
        assert!(e.contains("unknown field `form`"), "{e}");
    }
}
