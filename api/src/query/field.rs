//! One built-in field of an entity, declared once ([`FieldSpec`]): what it holds, how it is
//! shown, filtered, sorted, set and checked.

/// What a field holds: its GraphQL type, its filter operators and how cursors encode it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    String,
    Int,
    Boolean,
    DateTime,
    Date,
    /// Exact decimal text (money), never compared as a number by the database.
    Decimal,
    /// One of a fixed list of SCREAMING_CASE names; the GraphQL enum type is named here.
    Enum {
        type_name: &'static str,
        values: &'static [&'static str],
    },
    /// A reference to another record, by uuid; GraphQL shows it as a global id of `type_name`.
    Id {
        type_name: &'static str,
    },
    /// A list of strings (tags): filtered by membership, never sorted.
    StringList,
    /// A list of references (a plan's team), stored as a JSON array of uuids.
    IdList {
        type_name: &'static str,
    },
}

/// Why a value is refused: a violation code and a message.
pub type Refusal = (&'static str, String);

/// How an input value of a field is checked before it is stored.
#[derive(Debug, Clone, Copy)]
pub enum Check {
    /// Taken as its type allows: an enum within its values, an id of its type, a time, a date,
    /// a boolean.
    Plain,
    /// Trimmed text of 1 to `max` characters; blank clears it (or is refused, if it is required).
    Text(usize),
    /// Blank clears it; otherwise what the parser makes of it, canonical.
    Parsed(fn(&str) -> Result<String, Refusal>),
    /// A whole number from `.0` to `.1`.
    Range(i64, i64),
    /// At most `items` distinct entries (texts of 1 to `chars` characters, or ids).
    List { items: usize, chars: usize },
}

/// How a create or an update sets a field.
#[derive(Debug, Clone, Copy)]
pub struct Input {
    pub check: Check,
    /// A create must give it (its create input type is non-null).
    pub required: bool,
    /// Only a create may give it: a record stays with its customer.
    pub create_only: bool,
    /// Only an update may give it (a complaint's resolution).
    pub update_only: bool,
    /// Shown on the input field.
    pub doc: Option<&'static str>,
}

/// One built-in field of an entity, declared once. From the entity's list of these come its
/// GraphQL object fields, filter and order inputs, create and update inputs and how they are
/// read and checked, cursor values and audit snapshots; the store maps the same name to its
/// column (sea-orm's columns answer to the GraphQL names).
#[derive(Debug, Clone, Copy)]
pub struct FieldSpec {
    /// The GraphQL name (camelCase); the store maps it to its column.
    pub name: &'static str,
    pub kind: FieldKind,
    pub nullable: bool,
    /// The `<Entity>OrderField` value that sorts by it, if it is sortable.
    pub order: Option<&'static str>,
    /// In the entity's `<Entity>Filter`.
    pub filter: bool,
    /// A field of the GraphQL object. References are not: the object shows the record itself.
    pub shown: bool,
    /// Set by creates and updates; `None`: the server keeps it.
    pub input: Option<Input>,
    /// In the audit trail's snapshots of the record.
    pub audited: bool,
    /// Shown on the object field.
    pub doc: Option<&'static str>,
    /// For a reference, the object field showing what it references (`staffId` shows `staff`).
    pub shows: Option<&'static str>,
}

/// Two specs are the same field if they have the same name and kind.
impl PartialEq for FieldSpec {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.kind == other.kind
    }
}

impl Eq for FieldSpec {}

impl FieldSpec {
    /// A field the server keeps: non-null, filterable if its kind can be (dates, decimals and
    /// id lists are stored as text or JSON and cannot), shown unless it is a reference, not
    /// audited. The builders below say what else it is.
    #[must_use]
    pub const fn new(name: &'static str, kind: FieldKind) -> Self {
        let reference = matches!(kind, FieldKind::Id { .. } | FieldKind::IdList { .. });
        Self {
            name,
            kind,
            nullable: false,
            order: None,
            filter: !matches!(kind, FieldKind::Date | FieldKind::Decimal | FieldKind::IdList { .. }),
            shown: !reference,
            input: None,
            audited: false,
            doc: None,
            shows: None,
        }
    }

    /// The record's own global `id`.
    #[must_use]
    pub const fn id(type_name: &'static str) -> Self {
        let mut id = Self::new("id", FieldKind::Id { type_name });
        id.shown = true;
        id
    }

    #[must_use]
    pub const fn nullable(mut self) -> Self {
        self.nullable = true;
        self
    }

    /// Sortable, as `<Entity>OrderField.value`.
    #[must_use]
    pub const fn order(mut self, value: &'static str) -> Self {
        self.order = Some(value);
        self
    }

    /// Not offered in `<Entity>Filter`.
    #[must_use]
    pub const fn unfiltered(mut self) -> Self {
        self.filter = false;
        self
    }

    #[must_use]
    pub const fn doc(mut self, doc: &'static str) -> Self {
        self.doc = Some(doc);
        self
    }

    /// A reference the object shows as field `name`: the user or customer it references.
    #[must_use]
    pub const fn shows(mut self, name: &'static str) -> Self {
        self.shows = Some(name);
        self
    }

    /// Recorded in audit snapshots without being an input (a status moved by its own mutation).
    #[must_use]
    pub const fn audited(mut self) -> Self {
        self.audited = true;
        self
    }

    /// Set by creates and updates, checked by `check`; audited.
    #[must_use]
    pub const fn input(mut self, check: Check) -> Self {
        self.input = Some(Input { check, required: false, create_only: false, update_only: false, doc: None });
        self.audited = true;
        self
    }

    /// An input a create must give.
    #[must_use]
    pub const fn required(mut self) -> Self {
        if let Some(input) = &mut self.input {
            input.required = true;
        }
        self
    }

    /// An input only a create may give (and must).
    #[must_use]
    pub const fn create_only(mut self) -> Self {
        if let Some(input) = &mut self.input {
            input.required = true;
            input.create_only = true;
        }
        self
    }

    /// An input only an update may give.
    #[must_use]
    pub const fn update_only(mut self) -> Self {
        if let Some(input) = &mut self.input {
            input.update_only = true;
        }
        self
    }

    /// Shown on the input field.
    #[must_use]
    pub const fn input_doc(mut self, doc: &'static str) -> Self {
        if let Some(input) = &mut self.input {
            input.doc = Some(doc);
        }
        self
    }
}

/// The spec named `name` among an entity's `fields`.
///
/// # Panics
/// If there is none: the names are the code's own, and every test would catch a wrong one.
#[must_use]
#[expect(clippy::panic, reason = "a name missing from a declaration is a programming error, not input")]
pub fn field_named(fields: &'static [FieldSpec], name: &str) -> &'static FieldSpec {
    fields.iter().find(|f| f.name == name).unwrap_or_else(|| panic!("no field {name} in {fields:?}"))
}
