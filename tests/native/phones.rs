//! The phone table (`tests/data/phones.tsv`): every documented input form, valid and
//! invalid, across many countries, with libphonenumber's expected answer.

use otp_guard::phone::parse;

pub struct Row {
    pub line: usize,
    pub input: String,
    pub region: Option<String>,
    pub e164: Option<String>,
    pub expected_region: Option<String>,
    pub kind: Option<String>,
}

pub fn rows() -> Vec<Row> {
    let text = include_str!("../data/phones.tsv");
    text.lines()
        .enumerate()
        .skip(1)
        .filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#') && !l.starts_with("input\t"))
        .map(|(i, l)| {
            let cols: Vec<&str> = l.split('\t').collect();
            assert!(cols.len() >= 5, "line {}: expected 5+ columns", i + 1);
            let opt = |s: &str| (s != "-").then(|| s.to_owned());
            Row {
                line: i + 1,
                input: cols[0].to_owned(),
                region: opt(cols[1]),
                e164: (cols[2] != "invalid").then(|| cols[2].to_owned()),
                expected_region: opt(cols[3]),
                kind: opt(cols[4]),
            }
        })
        .collect()
}

#[test]
fn phone_table() {
    let rows = rows();
    let mut failures = Vec::new();
    for row in &rows {
        let got = parse(&row.input, row.region.as_deref());
        let got = got.map(|p| (p.e164, p.region, p.kind.as_str().to_owned())).ok();
        let expected = row
            .e164
            .clone()
            .map(|e| (e, row.expected_region.clone().unwrap_or_default(), row.kind.clone().unwrap_or_default()));
        if got != expected {
            failures.push(format!(
                "line {}: {:?} in {:?}: got {got:?}, expected {expected:?}",
                row.line, row.input, row.region
            ));
        }
    }
    assert!(failures.is_empty(), "{} of {} rows differ:\n{}", failures.len(), rows.len(), failures.join("\n"));
}

#[test]
fn table_is_broad() {
    let rows = rows();
    let countries: std::collections::BTreeSet<_> = rows.iter().filter_map(|r| r.expected_region.clone()).collect();
    assert!(rows.len() >= 200, "{} rows", rows.len());
    assert!(countries.len() >= 30, "{} countries", countries.len());
    assert!(rows.iter().any(|r| r.e164.is_none()));
}
