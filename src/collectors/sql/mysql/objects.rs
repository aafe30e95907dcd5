//! Schema objects beside tables: views, functions and procedures, triggers, events and
//! privileges, one bulk query per kind. Definers are collected (a rule can silence them).

use std::collections::BTreeMap;

use super::catalog::like_filter;
use super::normalize;
use super::session::{text, text_or_empty, Session};
use crate::collectors::CollectError;
use crate::glob::NameFilter;
use crate::snapshot::Node;

/// Runs `sql` (which ends in a `{filter}`-substituted WHERE) with the schema and filter binds.
async fn fetch_filtered(
    session: &mut Session,
    what: &str,
    sql: &str,
    column: &str,
    objects: &NameFilter,
) -> Result<Vec<sqlx::mysql::MySqlRow>, CollectError> {
    let (filter, filter_binds) = like_filter(column, objects);
    let mut binds = vec![session.schema.clone()];
    binds.extend(filter_binds);
    session
        .fetch(what, sql.replace("{filter}", &filter), &binds)
        .await
}

/// What a view's definition reads as when the server hides it.
pub const HIDDEN_VIEW: &str = "unknown: the collector's user needs the SHOW VIEW privilege";

/// Views: the stored text without the database qualifier the server writes into it.
pub async fn views(session: &mut Session, objects: &NameFilter) -> Result<Node, CollectError> {
    let rows = fetch_filtered(
        session,
        "reading views",
        "SELECT TABLE_NAME, VIEW_DEFINITION, CHECK_OPTION, IS_UPDATABLE, DEFINER, SECURITY_TYPE \
         FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ?{filter} ORDER BY TABLE_NAME",
        "TABLE_NAME",
        objects,
    )
    .await?;
    let target = session.target.clone();
    let mut node = Node::map();
    for row in &rows {
        let name = text_or_empty(row, "TABLE_NAME", &target)?;
        if !objects.allows(&name) {
            continue;
        }
        let definition = text_or_empty(row, "VIEW_DEFINITION", &target)?;
        // The server blanks the text for users without SHOW VIEW: say so, never "".
        let definition = if definition.trim().is_empty() {
            HIDDEN_VIEW.to_string()
        } else {
            normalize::definition(&normalize::unqualify(&definition, &session.schema))
        };
        let mut leaf = Node::map();
        leaf.insert("definition", definition);
        leaf.insert("check_option", text(row, "CHECK_OPTION", &target)?);
        leaf.insert(
            "updatable",
            text(row, "IS_UPDATABLE", &target)?.as_deref() == Some("YES"),
        );
        leaf.insert("security_type", text(row, "SECURITY_TYPE", &target)?);
        leaf.insert("definer", text(row, "DEFINER", &target)?);
        node.insert(name, leaf);
    }
    Ok(node)
}

/// Functions and procedures (two subtrees, since they may share a name), with their
/// parameter lists read by one more query over `PARAMETERS`.
pub async fn routines(
    session: &mut Session,
    objects: &NameFilter,
) -> Result<(Node, Node), CollectError> {
    let rows = fetch_filtered(
        session,
        "reading routines",
        "SELECT ROUTINE_NAME, ROUTINE_TYPE, DTD_IDENTIFIER, ROUTINE_DEFINITION, \
         IS_DETERMINISTIC, SQL_DATA_ACCESS, SECURITY_TYPE, SQL_MODE, ROUTINE_COMMENT, DEFINER \
         FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?{filter} \
         ORDER BY ROUTINE_TYPE, ROUTINE_NAME",
        "ROUTINE_NAME",
        objects,
    )
    .await?;
    let params = fetch_filtered(
        session,
        "reading routine parameters",
        "SELECT SPECIFIC_NAME, ROUTINE_TYPE, PARAMETER_MODE, PARAMETER_NAME, DTD_IDENTIFIER \
         FROM information_schema.PARAMETERS WHERE SPECIFIC_SCHEMA = ? AND ORDINAL_POSITION > 0\
         {filter} ORDER BY ROUTINE_TYPE, SPECIFIC_NAME, ORDINAL_POSITION",
        "SPECIFIC_NAME",
        objects,
    )
    .await?;
    let target = session.target.clone();
    let mut parameters: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for row in &params {
        let name = text_or_empty(row, "SPECIFIC_NAME", &target)?;
        let kind = text_or_empty(row, "ROUTINE_TYPE", &target)?;
        let mut text_form = String::new();
        // Function parameters are always IN: MariaDB says so, MySQL reports NULL.
        if let Some(mode) = text(row, "PARAMETER_MODE", &target)?.filter(|_| kind != "FUNCTION") {
            text_form.push_str(&mode);
            text_form.push(' ');
        }
        text_form.push_str(&text_or_empty(row, "PARAMETER_NAME", &target)?);
        text_form.push(' ');
        text_form.push_str(&normalize::column_type(&text_or_empty(
            row,
            "DTD_IDENTIFIER",
            &target,
        )?));
        parameters.entry((kind, name)).or_default().push(text_form);
    }
    let (mut functions, mut procedures) = (Node::map(), Node::map());
    for row in &rows {
        let name = text_or_empty(row, "ROUTINE_NAME", &target)?;
        if !objects.allows(&name) {
            continue;
        }
        let kind = text_or_empty(row, "ROUTINE_TYPE", &target)?;
        let mut leaf = Node::map();
        leaf.insert(
            "parameters",
            parameters
                .remove(&(kind.clone(), name.clone()))
                .unwrap_or_default(),
        );
        if kind == "FUNCTION" {
            leaf.insert(
                "returns",
                text(row, "DTD_IDENTIFIER", &target)?.map(|t| normalize::column_type(&t)),
            );
        }
        // NULL when the collector may not see the body (MySQL: SHOW_ROUTINE or being definer).
        leaf.insert(
            "definition",
            text(row, "ROUTINE_DEFINITION", &target)?.map(|d| normalize::definition(&d)),
        );
        leaf.insert(
            "deterministic",
            text(row, "IS_DETERMINISTIC", &target)?.as_deref() == Some("YES"),
        );
        leaf.insert("data_access", text(row, "SQL_DATA_ACCESS", &target)?);
        leaf.insert("security_type", text(row, "SECURITY_TYPE", &target)?);
        leaf.insert("sql_mode", text(row, "SQL_MODE", &target)?);
        leaf.insert("comment", text_or_empty(row, "ROUTINE_COMMENT", &target)?);
        leaf.insert("definer", text(row, "DEFINER", &target)?);
        if kind == "FUNCTION" {
            functions.insert(name, leaf);
        } else {
            procedures.insert(name, leaf);
        }
    }
    Ok((functions, procedures))
}

/// Triggers: table, timing, event and body.
pub async fn triggers(session: &mut Session, objects: &NameFilter) -> Result<Node, CollectError> {
    let rows = fetch_filtered(
        session,
        "reading triggers",
        "SELECT TRIGGER_NAME, EVENT_MANIPULATION, EVENT_OBJECT_TABLE, ACTION_TIMING, \
         ACTION_STATEMENT, SQL_MODE, DEFINER FROM information_schema.TRIGGERS \
         WHERE TRIGGER_SCHEMA = ?{filter} ORDER BY TRIGGER_NAME",
        "TRIGGER_NAME",
        objects,
    )
    .await?;
    let target = session.target.clone();
    let mut node = Node::map();
    for row in &rows {
        let name = text_or_empty(row, "TRIGGER_NAME", &target)?;
        if !objects.allows(&name) {
            continue;
        }
        let mut leaf = Node::map();
        leaf.insert("table", text(row, "EVENT_OBJECT_TABLE", &target)?);
        leaf.insert("timing", text(row, "ACTION_TIMING", &target)?);
        leaf.insert("event", text(row, "EVENT_MANIPULATION", &target)?);
        leaf.insert(
            "definition",
            normalize::definition(&text_or_empty(row, "ACTION_STATEMENT", &target)?),
        );
        leaf.insert("sql_mode", text(row, "SQL_MODE", &target)?);
        leaf.insert("definer", text(row, "DEFINER", &target)?);
        node.insert(name, leaf);
    }
    Ok(node)
}

/// Scheduled events: schedule, status and body. `STARTS` defaults to the creation time, so it
/// is left out as noise; one-time events keep `EXECUTE_AT`.
pub async fn events(session: &mut Session, objects: &NameFilter) -> Result<Node, CollectError> {
    let rows = fetch_filtered(
        session,
        "reading events",
        "SELECT EVENT_NAME, EVENT_DEFINITION, EVENT_TYPE, \
         CAST(EXECUTE_AT AS CHAR) AS EXECUTE_AT, CAST(INTERVAL_VALUE AS CHAR) AS INTERVAL_VALUE, \
         INTERVAL_FIELD, STATUS, ON_COMPLETION, SQL_MODE, EVENT_COMMENT, DEFINER \
         FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?{filter} ORDER BY EVENT_NAME",
        "EVENT_NAME",
        objects,
    )
    .await?;
    let target = session.target.clone();
    let mut node = Node::map();
    for row in &rows {
        let name = text_or_empty(row, "EVENT_NAME", &target)?;
        if !objects.allows(&name) {
            continue;
        }
        let schedule = match text_or_empty(row, "EVENT_TYPE", &target)?.as_str() {
            "ONE TIME" => format!("AT {}", text_or_empty(row, "EXECUTE_AT", &target)?),
            _ => format!(
                "EVERY {} {}",
                text_or_empty(row, "INTERVAL_VALUE", &target)?,
                text_or_empty(row, "INTERVAL_FIELD", &target)?
            ),
        };
        let mut leaf = Node::map();
        leaf.insert("schedule", schedule);
        leaf.insert("status", text(row, "STATUS", &target)?);
        leaf.insert("on_completion", text(row, "ON_COMPLETION", &target)?);
        leaf.insert(
            "definition",
            normalize::definition(&text_or_empty(row, "EVENT_DEFINITION", &target)?),
        );
        leaf.insert("sql_mode", text(row, "SQL_MODE", &target)?);
        leaf.insert("comment", text_or_empty(row, "EVENT_COMMENT", &target)?);
        leaf.insert("definer", text(row, "DEFINER", &target)?);
        node.insert(name, leaf);
    }
    Ok(node)
}

/// Privileges granted on this database and its tables, per grantee: sorted lists such as
/// `["INSERT", "SELECT WITH GRANT OPTION"]`. Grants whose database pattern escapes `_` as
/// `\_` count as grants on this database. The caller sees only what it may see: without
/// `SELECT` on `mysql.*` that is its own grants.
pub async fn privileges(session: &mut Session, objects: &NameFilter) -> Result<Node, CollectError> {
    let escaped = session.schema.replace('_', "\\_").replace('%', "\\%");
    let sql = "SELECT GRANTEE, NULL AS TABLE_NAME, PRIVILEGE_TYPE, IS_GRANTABLE \
               FROM information_schema.SCHEMA_PRIVILEGES WHERE TABLE_SCHEMA IN (?, ?) \
               UNION ALL SELECT GRANTEE, TABLE_NAME, PRIVILEGE_TYPE, IS_GRANTABLE \
               FROM information_schema.TABLE_PRIVILEGES WHERE TABLE_SCHEMA = ?"
        .to_string();
    let binds = [session.schema.clone(), escaped, session.schema.clone()];
    let rows = session.fetch("reading privileges", sql, &binds).await?;
    let target = session.target.clone();
    let mut grants: BTreeMap<(String, Option<String>), Vec<String>> = BTreeMap::new();
    for row in &rows {
        let table = text(row, "TABLE_NAME", &target)?;
        if table.as_deref().is_some_and(|t| !objects.allows(t)) {
            continue;
        }
        let mut privilege = text_or_empty(row, "PRIVILEGE_TYPE", &target)?;
        if text(row, "IS_GRANTABLE", &target)?.as_deref() == Some("YES") {
            privilege.push_str(" WITH GRANT OPTION");
        }
        let grantee = text_or_empty(row, "GRANTEE", &target)?;
        grants.entry((grantee, table)).or_default().push(privilege);
    }
    let mut node = Node::map();
    for ((grantee, table), mut list) in grants {
        list.sort();
        list.dedup();
        let entry = node.entry(&grantee);
        match table {
            None => entry.insert("database", list),
            Some(table) => entry.entry("tables").insert(table, list),
        }
    }
    Ok(node)
}
