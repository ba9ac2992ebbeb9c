//! Messages in the caller's language. The code speaks English; at the edge, each message of a
//! response is matched against the English patterns of `api/locales/en.toml` and replaced by the
//! same key's text in the caller's catalogue (gettext's way: the English text is the id). Codes,
//! field paths and values never change; a message no pattern matches stays English.
//!
//! A leaf module: it imports nothing of the crate, so every layer may speak it.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::LazyLock;

use async_graphql::ServerError;
use regex::{Regex, RegexSet};

/// A language the server speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Locale {
    #[default]
    En,
    /// Simplified Chinese.
    ZhCn,
}

impl Locale {
    /// The language tag, as `Content-Language` says it.
    #[must_use]
    pub const fn tag(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::ZhCn => "zh-CN",
        }
    }

    /// The language a tag names (`zh-CN`, `zh-Hans`, `zh`, `en-GB`), if the server speaks it.
    /// Traditional Chinese (`zh-TW`, `zh-HK`, `zh-Hant`) is not Simplified: English it is.
    #[must_use]
    pub fn parse(tag: &str) -> Option<Self> {
        let tag = tag.trim().to_ascii_lowercase();
        let mut parts = tag.split(['-', '_']);
        match parts.next()? {
            "en" => Some(Self::En),
            "zh" => match parts.next() {
                None | Some("cn" | "hans" | "sg" | "my") => Some(Self::ZhCn),
                Some(_) => None,
            },
            _ => None,
        }
    }

    /// The language an `Accept-Language` header prefers among those the server speaks (by
    /// q-value, then by order), if any.
    #[must_use]
    pub fn negotiate(accept_language: &str) -> Option<Self> {
        let mut best: Option<(f32, Self)> = None;
        for range in accept_language.split(',').take(32) {
            let mut parts = range.split(';');
            let Some(locale) = parts.next().and_then(Self::parse) else { continue };
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())
                .unwrap_or(0.0);
            if q > 0.0 && best.is_none_or(|(b, _)| q > b) {
                best = Some((q, locale));
            }
        }
        best.map(|(_, locale)| locale)
    }

    /// The caller's language: the token's `locale` claim wins (the user's own setting), then
    /// `Accept-Language`, then English.
    #[must_use]
    pub fn choose(claim: Option<Self>, accept_language: Option<&str>) -> Self {
        claim.or_else(|| accept_language.and_then(Self::negotiate)).unwrap_or_default()
    }

    /// `message` in this language; English when it is longer than [`MAX_MESSAGE_BYTES`].
    #[must_use]
    pub fn translate(self, message: &str) -> Cow<'_, str> {
        match self {
            Self::ZhCn if message.len() <= MAX_MESSAGE_BYTES => CATALOGUES.translate(message, 0),
            _ => Cow::Borrowed(message),
        }
    }

    /// Translates the errors of a response: each message and each violation's message, as long
    /// as the answer's [`BUDGET_BYTES`] last (the rest stays English).
    pub fn localize(self, errors: &mut [ServerError]) {
        if self == Self::En {
            return;
        }
        let mut budget = Budget(BUDGET_BYTES);
        for err in errors {
            if let Cow::Owned(m) = budget.translate(self, &err.message) {
                err.message = m;
            }
            let Some(extensions) = err.extensions.as_mut() else { continue };
            let Some(async_graphql::Value::List(violations)) = extensions.get("violations").cloned() else { continue };
            let translated = violations
                .into_iter()
                .map(|v| match v {
                    async_graphql::Value::Object(mut fields) => {
                        // A plugin's violation is in the plugin's own words.
                        if !fields.contains_key("plugin")
                            && let Some(async_graphql::Value::String(m)) = fields.get_mut("message")
                            && let Cow::Owned(t) = budget.translate(self, m)
                        {
                            *m = t;
                        }
                        async_graphql::Value::Object(fields)
                    }
                    other => other,
                })
                .collect();
            extensions.set("violations", async_graphql::Value::List(translated));
        }
    }
}

impl Locale {
    /// Translates a list of errors as JSON carries them (`[{ "message", "extensions": {
    /// "violations": [{ "message" }] } }]`), for answers made before the caller's language was
    /// known (a subscription's runs, shared by sockets of any language).
    pub fn localize_json(self, errors: &mut serde_json::Value) {
        use serde_json::Value;
        if self == Self::En {
            return;
        }
        let mut budget = Budget(BUDGET_BYTES);
        let mut translate = |message: &mut Value| {
            if let Value::String(m) = message
                && let Cow::Owned(t) = budget.translate(self, m)
            {
                *m = t;
            }
        };
        for err in errors.as_array_mut().into_iter().flatten() {
            if let Some(message) = err.get_mut("message") {
                translate(message);
            }
            let violations = err.pointer_mut("/extensions/violations").and_then(Value::as_array_mut);
            for violation in violations.into_iter().flatten() {
                // A plugin's violation is in the plugin's own words.
                if violation.get("plugin").is_none()
                    && let Some(message) = violation.get_mut("message")
                {
                    translate(message);
                }
            }
        }
    }
}

/// The catalogues, parsed once.
static CATALOGUES: LazyLock<Catalogues> = LazyLock::new(|| {
    Catalogues::parse(include_str!("../locales/en.toml"), include_str!("../locales/zh-CN.toml"))
        .unwrap_or_else(|err| {
            // A unit test checks them; should one slip through, messages stay English.
            tracing::error!(error = %err, "the message catalogues are broken");
            Catalogues { patterns: RegexSet::empty(), entries: Vec::new() }
        })
});

/// Patterns nested deeper than this are left as they are (a message quoting a message quoting…).
const MAX_NESTING: usize = 3;
/// A longer message stays English: messages quote what the caller sent, and matching costs
/// time in proportion to the text.
pub const MAX_MESSAGE_BYTES: usize = 1024;
/// Bytes of messages one answer translates; the rest stay English, so an answer of thousands
/// of errors costs no more than one of a few.
const BUDGET_BYTES: usize = 16 * 1024;
/// Matching patterns a message's placeholders are read for, the most literal first: a message
/// crafted to match many patterns costs no more than one that matches a few.
const MAX_CANDIDATES: usize = 8;

/// What is left of an answer's [`BUDGET_BYTES`].
struct Budget(usize);

impl Budget {
    fn translate<'m>(&mut self, locale: Locale, message: &'m str) -> Cow<'m, str> {
        if message.len() > self.0 {
            return Cow::Borrowed(message);
        }
        self.0 -= message.len();
        locale.translate(message)
    }
}

struct Catalogues {
    /// Every English pattern, to find the ones a message matches in one pass.
    patterns: RegexSet,
    entries: Vec<Entry>,
}

struct Entry {
    /// `table.key`, for the tests' messages.
    #[cfg_attr(not(test), expect(dead_code, reason = "named in the tests' failures"))]
    key: String,
    /// The English pattern, anchored, one group per placeholder.
    regex: Regex,
    /// The placeholders' names, in the order of `regex`'s groups.
    names: Vec<String>,
    /// Characters of the pattern that are not placeholders: of two patterns that leave as much
    /// to their placeholders, the more literal one is the more specific.
    literal: usize,
    zh_cn: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Hole(String),
}

impl Catalogues {
    fn parse(en: &str, zh_cn: &str) -> Result<Self, String> {
        let en = flatten(en)?;
        let mut zh_cn = flatten(zh_cn)?;
        let mut entries = Vec::with_capacity(en.len());
        for (key, english) in en {
            let parts = template(&english).map_err(|e| format!("en `{key}`: {e}"))?;
            let chinese = zh_cn.remove(&key).ok_or_else(|| format!("zh-CN has no `{key}`"))?;
            let chinese = template(&chinese).map_err(|e| format!("zh-CN `{key}`: {e}"))?;
            let names: Vec<String> =
                parts.iter().filter_map(|p| if let Part::Hole(n) = p { Some(n.clone()) } else { None }).collect();
            let holes = |parts: &[Part]| -> std::collections::BTreeSet<String> {
                parts.iter().filter_map(|p| if let Part::Hole(n) = p { Some(n.clone()) } else { None }).collect()
            };
            if holes(&parts) != holes(&chinese) {
                return Err(format!("`{key}`: zh-CN's placeholders differ from en's"));
            }
            let mut regex = String::from("^");
            let mut literal = 0;
            for part in &parts {
                match part {
                    Part::Text(t) => {
                        literal += t.chars().count();
                        regex.push_str(&regex::escape(t));
                    }
                    Part::Hole(_) => regex.push_str("(.*?)"),
                }
            }
            regex.push('$');
            let regex = Regex::new(&format!("(?s){regex}")).map_err(|e| format!("`{key}`: {e}"))?;
            entries.push(Entry { key, regex, names, literal, zh_cn: chinese });
        }
        if let Some(extra) = zh_cn.keys().next() {
            return Err(format!("zh-CN has `{extra}`, which en has not"));
        }
        let patterns = RegexSet::new(entries.iter().map(|e| e.regex.as_str())).map_err(|e| e.to_string())?;
        Ok(Self { patterns, entries })
    }

    /// `message` in Simplified Chinese.
    fn translate<'m>(&self, message: &'m str, depth: usize) -> Cow<'m, str> {
        if depth > MAX_NESTING {
            return Cow::Borrowed(message);
        }
        // Of the patterns that match, the one that leaves the least of the message to its
        // placeholders says the most of it; a `{message}` that is a message of its own is said
        // by its pattern, so `invalid input: {field}: {message}` wins over a pattern that
        // swallows its start, while a quoted value that merely ends like a message does not.
        let mut candidates: Vec<&Entry> = self.patterns.matches(message).into_iter().map(|i| &self.entries[i]).collect();
        candidates.sort_by_key(|e| std::cmp::Reverse(e.literal));
        let best = candidates
            .into_iter()
            .take(MAX_CANDIDATES)
            .filter_map(|entry| {
                let captures = entry.regex.captures(message)?;
                let unsaid: usize = entry
                    .names
                    .iter()
                    .enumerate()
                    .filter_map(|(i, name)| Some((name, captures.get(i + 1)?.as_str())))
                    .filter(|(name, text)| *name != "message" || !self.patterns.is_match(text))
                    .map(|(_, text)| text.chars().count())
                    .sum();
                Some((unsaid, std::cmp::Reverse(entry.literal), entry, captures))
            })
            .min_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        let Some((_, _, entry, captures)) = best else { return Cow::Borrowed(message) };
        let value = |name: &str| -> Cow<'m, str> {
            let i = entry.names.iter().position(|n| n == name).map_or(0, |i| i + 1);
            let captured = captures.get(i).map_or("", |m| m.as_str());
            // `{message}` holds a whole message of its own.
            if name == "message" { self.translate(captured, depth + 1) } else { Cow::Borrowed(captured) }
        };
        let mut out = String::with_capacity(message.len() + 16);
        for part in &entry.zh_cn {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Hole(name) => out.push_str(&value(name)),
            }
        }
        Cow::Owned(out)
    }
}

/// A catalogue's `[table] key = "text"` as `table.key → text`.
fn flatten(source: &str) -> Result<BTreeMap<String, String>, String> {
    let table: toml::Table = source.parse().map_err(|e: toml::de::Error| e.to_string())?;
    let mut out = BTreeMap::new();
    for (name, value) in table {
        match value {
            toml::Value::String(text) => {
                out.insert(name, text);
            }
            toml::Value::Table(keys) => {
                for (key, value) in keys {
                    let toml::Value::String(text) = value else { return Err(format!("`{name}.{key}` is not a string")) };
                    out.insert(format!("{name}.{key}"), text);
                }
            }
            _ => return Err(format!("`{name}` is neither a string nor a table")),
        }
    }
    Ok(out)
}

/// A text with `{name}` placeholders (`{{` and `}}` are braces).
fn template(text: &str) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut literal = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                literal.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                literal.push('}');
            }
            '{' => {
                let name: String = chars.by_ref().take_while(|&c| c != '}').collect();
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
                    return Err(format!("`{{{name}}}` is not a placeholder (lowercase letters, digits, _)"));
                }
                if !literal.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut literal)));
                }
                if matches!(parts.last(), Some(Part::Hole(_))) {
                    return Err("two placeholders side by side cannot be told apart".into());
                }
                parts.push(Part::Hole(name));
            }
            '}' => return Err("a lone `}` (write `}}`)".into()),
            c => literal.push(c),
        }
    }
    if !literal.is_empty() {
        parts.push(Part::Text(literal));
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogues_parse_and_every_english_message_has_its_chinese() {
        // Parsing checks that both files have the same keys with the same placeholders.
        let catalogues = Catalogues::parse(include_str!("../locales/en.toml"), include_str!("../locales/zh-CN.toml"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(catalogues.entries.len() > 100, "{} messages", catalogues.entries.len());
        for entry in &catalogues.entries {
            assert!(
                entry.zh_cn.iter().any(|p| matches!(p, Part::Text(t) if t.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)))),
                "`{}` is not in Chinese",
                entry.key
            );
        }
    }

    /// Every message the code writes as a literal beside its code (`Violation::new(field, "CODE",
    /// "…")`, `Err(("CODE", format!("…")))`), or as the text of an error a caller sees, has a
    /// pattern: a message added without one would reach Chinese readers in English.
    #[test]
    fn every_message_in_the_code_has_a_pattern() {
        let catalogues = Catalogues::parse(include_str!("../locales/en.toml"), include_str!("../locales/zh-CN.toml"))
            .unwrap_or_else(|e| panic!("{e}"));
        let literal = r#"(format!\(\s*)?"((?:[^"\\]|\\.)*)""#;
        let sites = [
            format!(r#""[A-Z][A-Z0-9_]{{2,}}",\s*{literal}"#),
            format!(r#"Error::(?:Forbidden|NotFound|Unauthenticated|QueryTooComplex|Unavailable)\(\s*{literal}"#),
            format!(r#"message:\s*{literal}"#),
        ];
        let sites: Vec<Regex> = sites.iter().map(|s| Regex::new(s).unwrap()).collect();
        let argument = Regex::new(r"\{[^{}]*\}").unwrap();
        let continuation = Regex::new(r"\\\n\s*").unwrap();
        let english: Vec<String> = flatten(include_str!("../locales/en.toml")).unwrap().into_values().collect();
        let mut missing = Vec::new();
        let mut seen = 0;
        let mut files = vec![std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src"))];
        while let Some(path) = files.pop() {
            if path.is_dir() {
                files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") || path.ends_with("locale.rs") {
                continue;
            }
            let source = std::fs::read_to_string(&path).unwrap();
            let code = source.split("#[cfg(test)]").next().unwrap_or_default();
            for site in &sites {
                for found in site.captures_iter(code) {
                    let formatted = found.get(1).is_some();
                    let text = continuation.replace_all(&found[2].replace("\\\"", "\""), "").into_owned();
                    // A code beside a code (a list of them), or words for people of their own
                    // (the seed's Chinese): not a message.
                    if !text.split(|c: char| !c.is_ascii_alphabetic()).any(|w| w.len() > 1 && w.chars().all(|c| c.is_ascii_lowercase())) {
                        continue;
                    }
                    seen += 1;
                    let sample = if formatted {
                        let braces = text.replace("{{", "\u{1}").replace("}}", "\u{2}");
                        argument.replace_all(&braces, "X").replace('\u{1}', "{").replace('\u{2}', "}")
                    } else {
                        text.clone()
                    };
                    if catalogues.patterns.is_match(&sample) {
                        continue;
                    }
                    // A message whose arguments are words the catalogue spells out (`no {kind}
                    // {id}` is `no customer {id}`, `no complaint {id}`…) matches some pattern's text.
                    let unbraced = text.replace("{{", "{").replace("}}", "}");
                    let holes = argument.replace_all(&unbraced, "\u{3}");
                    let template = format!("^{}$", regex::escape(&holes).replace('\u{3}', ".*"));
                    let template = Regex::new(&template).unwrap();
                    if !formatted || !english.iter().any(|e| template.is_match(e)) {
                        missing.push(format!("{}: {text}", path.display()));
                    }
                }
            }
        }
        assert!(seen > 100, "the scan finds the messages ({seen})");
        assert!(missing.is_empty(), "messages without a pattern in api/locales/en.toml:\n{}", missing.join("\n"));
    }

    #[test]
    fn a_message_is_matched_by_its_most_literal_pattern_and_nested_messages_are_translated() {
        let catalogues = Catalogues::parse(
            r#"
            [a]
            any = "invalid input: {field}: {message}"
            bound = "must be 0 to {bound}, got {n}"
            vague = "must be {what}"
            "#,
            r#"
            [a]
            any = "输入无效：{field}：{message}"
            bound = "须为 0 到 {bound}，实际为 {n}"
            vague = "须为{what}"
            "#,
        )
        .unwrap();
        let zh = |m| catalogues.translate(m, 0).into_owned();
        assert_eq!(zh("must be 0 to 100, got 500"), "须为 0 到 100，实际为 500");
        assert_eq!(zh("must be blue"), "须为blue");
        assert_eq!(zh("invalid input: first: must be 0 to 100, got -1"), "输入无效：first：须为 0 到 100，实际为 -1");
        assert_eq!(zh("something else"), "something else");
        // A quoted value that ends like a message is not one.
        assert_eq!(zh("invalid input: id: 'must be 0 to 1, got' is not an id"), "输入无效：id：'must be 0 to 1, got' is not an id");
    }

    #[test]
    fn long_messages_and_answers_beyond_their_budget_stay_english() {
        let long = format!("'{}' is not an id", "x".repeat(MAX_MESSAGE_BYTES));
        assert_eq!(Locale::ZhCn.translate(&long), long);
        let message = "internal error";
        assert_ne!(Locale::ZhCn.translate(message), message);
        // An answer of many errors translates what its budget pays for, in order.
        let padded = format!("'{}' is not an id", "y".repeat(900));
        let mut errors: Vec<ServerError> = (0..40).map(|_| ServerError::new(padded.clone(), None)).collect();
        Locale::ZhCn.localize(&mut errors);
        let translated = errors.iter().filter(|e| e.message != padded).count();
        assert!(translated > 0 && translated <= BUDGET_BYTES / padded.len(), "{translated} translated");
        assert_eq!(errors[39].message, padded);
    }

    #[test]
    fn languages_are_chosen_by_claim_then_header_then_english() {
        assert_eq!(Locale::negotiate("zh-CN,zh;q=0.9,en;q=0.8"), Some(Locale::ZhCn));
        assert_eq!(Locale::negotiate("en-US,en;q=0.9,zh-CN;q=0.8"), Some(Locale::En));
        assert_eq!(Locale::negotiate("fr-FR, zh-Hans;q=0.5"), Some(Locale::ZhCn));
        assert_eq!(Locale::negotiate("zh-TW"), None);
        assert_eq!(Locale::negotiate("zh;q=0, en;q=0.1"), Some(Locale::En));
        assert_eq!(Locale::negotiate("*"), None);
        assert_eq!(Locale::choose(Some(Locale::En), Some("zh-CN")), Locale::En);
        assert_eq!(Locale::choose(None, Some("zh-CN")), Locale::ZhCn);
        assert_eq!(Locale::choose(None, Some("de")), Locale::En);
    }

    #[test]
    fn placeholders_are_checked() {
        assert!(template("a {b} c").is_ok());
        assert!(template("{a}{b}").is_err());
        assert!(template("{A}").is_err());
        assert!(template("x }").is_err());
        assert_eq!(template("{{x}}").unwrap(), vec![Part::Text("{x}".into())]);
    }
}
