//! SQLite DDL as stored in `sqlite_master`: any text is read best-effort, never a panic.
#![no_main]

use driftwarden::collectors::sql::normalize_definition;
use driftwarden::collectors::sql::sqlite_ddl::{parse_create_index, parse_create_table};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(sql) = std::str::from_utf8(data) else {
        return;
    };
    let table = parse_create_table(sql);
    for column in &table.columns {
        let _ = table.column(&column.name);
    }
    let _ = parse_create_index(sql);
    let normalized = normalize_definition(sql);
    assert!(normalized.ends_with('\n'));
    assert_eq!(normalize_definition(&normalized), normalized);
});
