//! The `schema/` subtree under construction: one map per object family, keyed by
//! schema-qualified name. Catalog readers add to it; sub-objects (columns, indexes, …) are
//! only attached to relations that were collected, so the objects filter and the exclusion of
//! migration tables apply to them without repeating the conditions.

use crate::snapshot::Node;

/// `schema.name`, the identity of an object in paths.
pub fn qualified(schema: &str, name: &str) -> String {
    format!("{schema}.{name}")
}

/// The families of `schema/`, each a map.
#[derive(Debug, Default)]
pub struct Schema {
    /// `schema/schemas/<name>`.
    pub schemas: Node,
    /// `schema/tables/<schema.table>` (including partitioned and foreign tables).
    pub tables: Node,
    /// `schema/views/<schema.view>`.
    pub views: Node,
    /// `schema/materialized_views/<schema.view>`.
    pub materialized_views: Node,
    /// `schema/sequences/<schema.sequence>`.
    pub sequences: Node,
    /// `schema/triggers/<schema.table.trigger>`.
    pub triggers: Node,
    /// `schema/functions/<schema.name(arguments)>`.
    pub functions: Node,
    /// `schema/types/<schema.type>`: enums, domains, composite and range types.
    pub types: Node,
    /// `schema/extensions/<name>`.
    pub extensions: Node,
}

fn child<'a>(family: &'a mut Node, key: &str) -> Option<&'a mut Node> {
    match family {
        Node::Map(map) => map.get_mut(key),
        _ => None,
    }
}

impl Schema {
    /// A collected table (ordinary, partitioned or foreign).
    pub fn table_mut(&mut self, key: &str) -> Option<&mut Node> {
        child(&mut self.tables, key)
    }

    /// A collected relation of any family: table, view, materialized view or sequence.
    pub fn relation_mut(&mut self, key: &str) -> Option<&mut Node> {
        if let Some(node) = child(&mut self.tables, key) {
            return Some(node);
        }
        if let Some(node) = child(&mut self.views, key) {
            return Some(node);
        }
        if let Some(node) = child(&mut self.materialized_views, key) {
            return Some(node);
        }
        child(&mut self.sequences, key)
    }

    /// Whether any collected relation, function or type lives in `schema`.
    pub fn uses_schema(&self, schema: &str) -> bool {
        let prefix = format!("{schema}.");
        [
            &self.tables,
            &self.views,
            &self.materialized_views,
            &self.sequences,
            &self.functions,
            &self.types,
        ]
        .iter()
        .any(
            |family| matches!(family, Node::Map(map) if map.keys().any(|k| k.starts_with(&prefix))),
        )
    }

    /// The finished `schema/` node.
    pub fn into_node(self) -> Node {
        let mut node = Node::map();
        node.insert("schemas", self.schemas);
        node.insert("tables", self.tables);
        node.insert("views", self.views);
        node.insert("materialized_views", self.materialized_views);
        node.insert("sequences", self.sequences);
        node.insert("triggers", self.triggers);
        node.insert("functions", self.functions);
        node.insert("types", self.types);
        node.insert("extensions", self.extensions);
        node
    }
}
