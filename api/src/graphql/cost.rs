//! What an operation may cost, decided before anything of it runs.
//!
//! Two linear passes guard every request:
//! 1. [`scan`] reads the raw document once, before the parser sees it, counting tokens and the
//!    nesting of brackets: no input can make the (recursive) parser exhaust a stack, and a huge
//!    document is refused without building its tree.
//! 2. [`walk`] reads the parsed operation once, with each fragment's figures memoised, so its
//!    time follows the document's size and never the size of its expansion (twelve fragments
//!    each spreading the next four times expand to 4¹² selections; the walk visits 24 spreads).
//!    It measures depth, aliases, selections after expansion and the cost: one point per object
//!    the operation can return, lists and connections multiplied by their `first`/`last` (the
//!    default page size when absent) and through their nesting, as GitHub's node count and
//!    Shopify's query cost do.
//!
//! Only when both pass does async-graphql validate and run the operation; its own depth and
//! complexity passes, which expand every fragment without memo, are not used (see
//! [`super::build`]).

use std::collections::HashMap;

use async_graphql::Positioned;
use async_graphql::Variables;
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationDefinition, OperationType, Selection, SelectionSet,
};
use async_graphql::registry::Registry;
use serde::Serialize;

/// Page size assumed for a connection or list whose `first`/`last` is absent: the server's own
/// default page size (see [`crate::query`]).
const DEFAULT_PAGE: u64 = 20;

/// Lists of records read whole, each with the most items it can hold (bounded where it is
/// written, or where it is read): costed at that bound, not at a page. Other lists hold a few
/// items by construction (a plan's team, a customer's scores, the tenant's plugins).
const BOUNDED_LISTS: [(&str, &str, u64); 4] = [
    ("Complaint", "history", crate::domain::complaints::MAX_TRANSITIONS),
    ("KeyAccountPlan", "actions", crate::domain::plans::MAX_ACTIONS),
    ("Customer", "openComplaints", crate::domain::complaints::OPEN_LISTED),
    ("WebhookDelivery", "attempts", super::webhooks::MAX_ATTEMPTS),
];

fn bounded_list(parent: Option<&str>, name: &str) -> Option<u64> {
    let parent = parent?;
    BOUNDED_LISTS.iter().find(|(p, n, _)| *p == parent && *n == name).map(|(_, _, bound)| *bound)
}

/// The largest page a connection serves; a larger `first` is refused when it runs, so it is
/// costed as this.
const MAX_PAGE: u64 = 100;

/// Points a mutation field costs beyond what it returns: a write takes a transaction, locks,
/// validation and an audit line, about ten reads' worth.
const MUTATION_POINTS: u64 = 10;

/// Points of a mutation that makes work over the whole tenant: `recomputeScores` queues every
/// customer for the scorers, and a plugin or settings change re-scores or re-ranks them all; it
/// counts against the rate limit like a large read rather than a single write.
const TENANT_WIDE_POINTS: u64 = 1_000;

/// Mutations whose work spans the whole tenant (see [`TENANT_WIDE_POINTS`]).
const TENANT_WIDE: [&str; 9] = [
    "recomputeScores",
    "installPlugin",
    "upgradePlugin",
    "setPluginEnabled",
    "configurePlugin",
    "uninstallPlugin",
    "updateTenantSettings",
    "defineCustomField",
    "updateCustomField",
];

/// Most terms a `filter` may have (keys at any depth). A screen's filter has a few dozen; each
/// term is a condition the database evaluates on every candidate row, so a filter of thousands
/// costs seconds on a large tenant while returning nothing. Lists of values (`in`) are single
/// terms, bounded by their own limit.
const MAX_FILTER_TERMS: u64 = 200;

/// Deepest nesting of brackets (`{`, `[`, `(`) a document may have. The deepest legitimate page
/// nests selections about 8 levels and a filter tree about as many; 64 leaves room while keeping
/// the parser's recursion far from any stack's end.
const MAX_NESTING: u32 = 64;

/// Nested introspection expansions (`fields`, `inputFields`, `interfaces`, `possibleTypes`) a path
/// may have. Introspection answers from memory, so its lists cost one point each; what makes it
/// expensive is nesting them (`types { fields { type { fields { … } } } }` multiplies the schema
/// by itself). The standard introspection queries of GraphiQL and code generators nest one.
/// graphql-js refuses such nesting the same way (`MaxIntrospectionDepthRule`).
const MAX_INTROSPECTION_NESTING: u32 = 2;

/// The limits one operation is held to.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most points (see the module docs).
    pub cost: u64,
    /// Deepest nesting of fields.
    pub depth: u32,
    /// Most aliased fields, fragments counted once per use.
    pub aliases: u64,
    /// Most field selections after expanding fragments (what validation and execution visit).
    pub selections: u64,
    /// Most lexical tokens in the document.
    pub tokens: u64,
}

/// What the walk measured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Measure {
    pub cost: u64,
    /// The part of the cost that is work rather than returned objects (mutations, filter
    /// terms): spent whatever the operation returns.
    pub work: u64,
    pub depth: u32,
    pub aliases: u64,
    pub selections: u64,
}

/// Why an operation was refused before it ran: the message names the figure and its limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooComplex {
    pub message: String,
    /// The cost measured so far (the whole cost when the cost limit was the one exceeded).
    pub requested: u64,
}

fn refuse(message: String, requested: u64) -> TooComplex {
    TooComplex { message, requested }
}

/// Counts the document's tokens and the nesting of its brackets, in one pass over its bytes.
///
/// # Errors
/// [`TooComplex`] when it has more tokens than `limits.tokens` or nests brackets deeper than 64.
pub fn scan(query: &str, limits: &Limits) -> Result<(), TooComplex> {
    let bytes = query.as_bytes();
    let (mut i, mut tokens, mut nesting) = (0, 0u64, 0u32);
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => i += 1,
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' => {
                tokens += 1;
                i = skip_string(bytes, i);
            }
            b'{' | b'[' | b'(' => {
                tokens += 1;
                nesting += 1;
                if nesting > MAX_NESTING {
                    return Err(refuse(format!("the document nests brackets deeper than {MAX_NESTING}"), 0));
                }
                i += 1;
            }
            b'}' | b']' | b')' => {
                tokens += 1;
                nesting = nesting.saturating_sub(1);
                i += 1;
            }
            b'A'..=b'Z' | b'a'..=b'z' | b'_' | b'0'..=b'9' | b'-' | b'.' => {
                tokens += 1;
                while i < bytes.len()
                    && matches!(bytes[i], b'A'..=b'Z' | b'a'..=b'z' | b'_' | b'0'..=b'9' | b'-' | b'.' | b'+')
                {
                    i += 1;
                }
            }
            _ => {
                tokens += 1;
                i += 1;
            }
        }
        if tokens > limits.tokens {
            return Err(refuse(format!("the document has more than {} tokens", limits.tokens), 0));
        }
    }
    Ok(())
}

/// The index just past the string starting at `start` (a `"…"` or a `"""…"""` block string).
fn skip_string(bytes: &[u8], start: usize) -> usize {
    if bytes[start..].starts_with(b"\"\"\"") {
        let mut i = start + 3;
        while i < bytes.len() {
            if bytes[i..].starts_with(b"\\\"\"\"") {
                i += 4;
            } else if bytes[i..].starts_with(b"\"\"\"") {
                return i + 3;
            } else {
                i += 1;
            }
        }
        return i;
    }
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' | b'\n' | b'\r' => return i + 1,
            _ => i += 1,
        }
    }
    i
}

/// What the walk needs to know of a field: the composite type it returns, and whether it
/// returns a list.
#[derive(Debug, Clone)]
struct FieldShape {
    /// The object or interface type the field returns; `None` for scalars and enums.
    target: Option<String>,
    list: bool,
}

/// Every object and interface field of one schema, read once from its registry when the schema
/// is built.
#[derive(Debug, Default)]
pub struct Shapes {
    fields: HashMap<String, HashMap<String, FieldShape>>,
    query: String,
    mutation: Option<String>,
    subscription: Option<String>,
}

impl Shapes {
    /// Reads the field shapes of a built schema.
    #[must_use]
    pub fn of(registry: &Registry) -> Self {
        let mut fields = HashMap::new();
        for (name, ty) in &registry.types {
            let Some(meta_fields) = ty.fields() else { continue };
            let shapes = meta_fields
                .values()
                .map(|f| {
                    let named = f.ty.trim_matches(|c| matches!(c, '[' | ']' | '!'));
                    let target = registry.types.get(named).filter(|t| t.is_composite()).map(|t| t.name().to_owned());
                    (f.name.clone(), FieldShape { target, list: f.ty.contains('[') })
                })
                .collect();
            fields.insert(name.clone(), shapes);
        }
        Self {
            fields,
            query: registry.query_type.clone(),
            mutation: registry.mutation_type.clone(),
            subscription: registry.subscription_type.clone(),
        }
    }

    fn shape(&self, parent: Option<&str>, field: &str) -> Option<&FieldShape> {
        self.fields.get(parent?)?.get(field)
    }
}

/// Figures of one selection set.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    cost: u64,
    work: u64,
    depth: u32,
    aliases: u64,
    selections: u64,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.cost = self.cost.saturating_add(other.cost);
        self.work = self.work.saturating_add(other.work);
        self.depth = self.depth.max(other.depth);
        self.aliases = self.aliases.saturating_add(other.aliases);
        self.selections = self.selections.saturating_add(other.selections);
    }
}

/// Where a selection set sits: its type, the page of the connection it belongs to (for its
/// `nodes` and `edges`), and how many introspection expansions lead to it.
#[derive(Clone, Copy)]
struct Place<'a> {
    parent: Option<&'a str>,
    page: u64,
    introspection: Option<u32>,
}

struct Walker<'a> {
    doc: &'a ExecutableDocument,
    shapes: &'a Shapes,
    variables: &'a Variables,
    /// Fragments already measured, by (name, page of the enclosing connection, introspection
    /// nesting, spread at the root): a fragment's figures depend on nothing else.
    memo: HashMap<(&'a str, u64, Option<u32>, bool), Tally>,
    /// Fragments being measured: meeting one again is a cycle, which GraphQL forbids.
    open: Vec<&'a str>,
    mutation: bool,
}

/// The operation a request runs: the one named, or the only one (a single named operation is
/// parsed as one of several).
#[must_use]
pub fn operation<'a>(
    doc: &'a ExecutableDocument,
    operation_name: Option<&str>,
) -> Option<&'a Positioned<OperationDefinition>> {
    match (&doc.operations, operation_name) {
        (DocumentOperations::Single(op), _) => Some(op),
        (DocumentOperations::Multiple(ops), Some(name)) => {
            ops.iter().find(|(n, _)| n.as_str() == name).map(|(_, op)| op)
        }
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next(),
        (DocumentOperations::Multiple(_), None) => None,
    }
}

/// Measures the operation `operation_name` of `doc` (the only one when `None`) against the
/// schema's shapes.
///
/// # Errors
/// [`TooComplex`] when a figure is above its limit, or a fragment spreads itself.
pub fn walk(
    doc: &ExecutableDocument,
    operation_name: Option<&str>,
    variables: &Variables,
    shapes: &Shapes,
    limits: &Limits,
) -> Result<Measure, TooComplex> {
    // No operation to run: execution answers that, at no cost.
    let Some(operation) = operation(doc, operation_name) else { return Ok(Measure::default()) };
    let root = match operation.node.ty {
        OperationType::Query => Some(shapes.query.as_str()),
        OperationType::Mutation => shapes.mutation.as_deref(),
        OperationType::Subscription => shapes.subscription.as_deref(),
    };
    // Page sizes may come from variables the request leaves out and the operation defaults
    // (copied only then: variables can be large inputs).
    let defaulted = operation
        .node
        .variable_definitions
        .iter()
        .filter(|d| d.node.default_value.is_some() && !variables.contains_key(&d.node.name.node));
    let with_defaults;
    let variables = if defaulted.clone().next().is_some() {
        let mut all = variables.clone();
        for definition in defaulted {
            if let Some(default) = &definition.node.default_value {
                all.insert(definition.node.name.node.clone(), default.node.clone());
            }
        }
        with_defaults = all;
        &with_defaults
    } else {
        variables
    };
    let mut walker = Walker {
        doc,
        shapes,
        variables,
        memo: HashMap::new(),
        open: Vec::new(),
        mutation: operation.node.ty == OperationType::Mutation,
    };
    let place = Place { parent: root, page: DEFAULT_PAGE, introspection: None };
    let tally = walker.set(&operation.node.selection_set.node, place, true)?;
    let measure = Measure {
        cost: tally.cost,
        work: tally.work,
        depth: tally.depth,
        aliases: tally.aliases,
        selections: tally.selections,
    };
    let over = |what: &str, figure: u64, limit: u64| {
        refuse(format!("the query {what} {figure}; at most {limit} allowed"), measure.cost)
    };
    if u64::from(measure.depth) > u64::from(limits.depth) {
        return Err(over("nests fields", u64::from(measure.depth), u64::from(limits.depth)));
    }
    if measure.aliases > limits.aliases {
        return Err(over("uses aliases", measure.aliases, limits.aliases));
    }
    if measure.selections > limits.selections {
        return Err(over("selects fields (fragments expanded)", measure.selections, limits.selections));
    }
    if measure.cost > limits.cost {
        return Err(over("costs", measure.cost, limits.cost));
    }
    Ok(measure)
}

impl<'a> Walker<'a> {
    fn set(&mut self, set: &'a SelectionSet, place: Place<'a>, root: bool) -> Result<Tally, TooComplex> {
        let mut tally = Tally::default();
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    let name = field.name.node.as_str();
                    let mut own =
                        Tally { selections: 1, aliases: u64::from(field.alias.is_some()), depth: 1, cost: 0, work: 0 };
                    if name == "__typename" {
                        tally.add(own);
                        continue;
                    }
                    let (child_place, multiplier, points) = self.field_place(place, name, field, root);
                    if child_place.introspection.is_some_and(|n| n > MAX_INTROSPECTION_NESTING) {
                        return Err(refuse(
                            format!(
                                "introspection nests fields, inputFields, interfaces or possibleTypes more than {MAX_INTROSPECTION_NESTING} deep"
                            ),
                            0,
                        ));
                    }
                    let terms = self.filter_terms(field)?;
                    if !field.selection_set.node.items.is_empty() {
                        let children = self.set(&field.selection_set.node, child_place, false)?;
                        own.depth = children.depth.saturating_add(1);
                        own.aliases = own.aliases.saturating_add(children.aliases);
                        own.selections = own.selections.saturating_add(children.selections);
                        own.cost = multiplier.saturating_mul(children.cost.saturating_add(1).saturating_add(terms));
                        own.work = multiplier.saturating_mul(children.work.saturating_add(terms));
                    }
                    own.cost = own.cost.saturating_add(points);
                    own.work = own.work.saturating_add(points);
                    tally.add(own);
                }
                Selection::InlineFragment(inline) => {
                    let inline = &inline.node;
                    let parent = inline.type_condition.as_ref().map(|t| t.node.on.node.as_str()).or(place.parent);
                    tally.add(self.set(&inline.selection_set.node, Place { parent, ..place }, root)?);
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    // An unknown fragment is for validation to report.
                    let Some((key, fragment)) = self.doc.fragments.get_key_value(&spread.node.fragment_name.node)
                    else {
                        continue;
                    };
                    let memo_key = (key.as_str(), place.page, place.introspection, root);
                    if let Some(known) = self.memo.get(&memo_key) {
                        tally.add(*known);
                        continue;
                    }
                    if self.open.contains(&name) {
                        return Err(refuse(format!("fragment {name} spreads itself"), 0));
                    }
                    self.open.push(key.as_str());
                    let parent = Some(fragment.node.type_condition.node.on.node.as_str());
                    let measured = self.set(&fragment.node.selection_set.node, Place { parent, ..place }, root)?;
                    self.open.pop();
                    self.memo.insert(memo_key, measured);
                    tally.add(measured);
                }
            }
        }
        Ok(tally)
    }

    /// Where a field's own selections sit, how many times they are returned, and the points the
    /// field costs beyond its objects.
    fn field_place(
        &self,
        place: Place<'a>,
        name: &str,
        field: &'a async_graphql::parser::types::Field,
        root: bool,
    ) -> (Place<'a>, u64, u64) {
        let points = match (root && self.mutation, name) {
            (true, name) if TENANT_WIDE.contains(&name) => TENANT_WIDE_POINTS,
            (true, _) => MUTATION_POINTS,
            (false, _) => 0,
        };
        if root && matches!(name, "__schema" | "__type") {
            let parent = if name == "__schema" { "__Schema" } else { "__Type" };
            return (Place { parent: Some(parent), page: 1, introspection: Some(0) }, 1, points);
        }
        let shape = self.shapes.shape(place.parent, name);
        let target = shape.and_then(|s| s.target.as_deref());
        if let Some(nesting) = place.introspection {
            // Inside introspection every object counts once; expansions count toward their limit.
            let nesting = if matches!(name, "fields" | "inputFields" | "interfaces" | "possibleTypes") {
                nesting.saturating_add(1)
            } else {
                nesting
            };
            return (Place { parent: target, page: 1, introspection: Some(nesting) }, 1, points);
        }
        let page = self.page_of(field);
        let is_connection = target.is_some_and(|t| t.ends_with("Connection"));
        let in_connection = place.parent.is_some_and(|p| p.ends_with("Connection"));
        let multiplier = if is_connection {
            1
        } else if shape.is_some_and(|s| s.list) {
            match page {
                Some(n) => n,
                None if in_connection && matches!(name, "nodes" | "edges") => place.page,
                None => bounded_list(place.parent, name).unwrap_or(DEFAULT_PAGE),
            }
        } else {
            1
        };
        let child_page = if is_connection { page.unwrap_or(DEFAULT_PAGE) } else { place.page };
        (Place { parent: target, page: child_page, introspection: None }, multiplier, points)
    }

    /// The terms of a field's `filter` (every key of its input object, at any depth: `and`,
    /// `or`, `not`, fields and operators alike), literal or from variables. Each is a point of
    /// database work per time the field runs, whatever the page returns.
    ///
    /// # Errors
    /// [`TooComplex`] above [`MAX_FILTER_TERMS`].
    fn filter_terms(&self, field: &async_graphql::parser::types::Field) -> Result<u64, TooComplex> {
        fn keys(value: &async_graphql::Value) -> u64 {
            match value {
                async_graphql::Value::Object(map) => {
                    map.values().map(keys).fold(u64::try_from(map.len()).unwrap_or(u64::MAX), u64::saturating_add)
                }
                async_graphql::Value::List(items) => items.iter().map(keys).fold(0, u64::saturating_add),
                _ => 0,
            }
        }
        let Some((_, value)) = field.arguments.iter().find(|(name, _)| name.node.as_str() == "filter") else {
            return Ok(0);
        };
        let value = value.node.clone().into_const_with(|var| self.variables.get(&var).cloned().ok_or(()));
        let terms = value.map_or(0, |v| keys(&v));
        if terms > MAX_FILTER_TERMS {
            return Err(refuse(
                format!("the filter of {} has {terms} terms; at most {MAX_FILTER_TERMS} allowed", field.name.node),
                0,
            ));
        }
        Ok(terms)
    }

    /// The page size a field asks for with `first` or `last` (the larger when both are given),
    /// literal or from a variable, capped at the largest page served.
    fn page_of(&self, field: &async_graphql::parser::types::Field) -> Option<u64> {
        let mut page = None;
        for (arg, value) in &field.arguments {
            if !matches!(arg.node.as_str(), "first" | "last") {
                continue;
            }
            // A literal, or a variable's value; anything else is for validation to refuse.
            let value = value.node.clone().into_const_with(|var| self.variables.get(&var).cloned().ok_or(()));
            let number = match value {
                Ok(async_graphql::Value::Number(n)) => n.as_i64(),
                _ => None,
            };
            if let Some(n) = number {
                let n = u64::try_from(n).unwrap_or(0).min(MAX_PAGE);
                page = Some(page.map_or(n, |p: u64| p.max(n)));
            }
        }
        page
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits { cost: 50_000, depth: 15, aliases: 30, selections: 2_000, tokens: 10_000 }
    }

    #[test]
    fn scan_refuses_deep_brackets_and_many_tokens() {
        let deep = "{".repeat(100_000);
        assert!(scan(&deep, &limits()).unwrap_err().message.contains("nests brackets"));
        let long = "{ a }".repeat(10_000);
        assert!(scan(&long, &limits()).unwrap_err().message.contains("tokens"));
        // Brackets and names inside strings and comments are not structure.
        let quoted = format!("{{ a(s: \"{}\") # {}\n }}", "{".repeat(200), "[".repeat(200));
        assert_eq!(scan(&quoted, &limits()), Ok(()));
        let block = format!("{{ a(s: \"\"\"{}\\\"\"\" \"\"\") }}", "(".repeat(200));
        assert_eq!(scan(&block, &limits()), Ok(()));
    }
}
