//! The plugin commands' side of a running server: install, upgrade and attach through its
//! GraphQL API with a token, and fetch a customer's real snapshot. Through the API, a command
//! goes where the server's users go, checked as they are, and cannot land in a database the
//! server never reads.

use anyhow::{Context as _, bail};
use serde_json::{Value, json};

/// A running server and the token to call it with.
pub struct Server {
    url: String,
    token: String,
    client: reqwest::Client,
}

impl Server {
    /// # Errors
    /// A URL that is not `http(s)://…`, or no token.
    pub fn new(url: &str, token: Option<String>) -> anyhow::Result<Self> {
        let url = url.trim_end_matches('/');
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            bail!("--url must be the server's address, like http://127.0.0.1:8080");
        }
        let Some(token) = token.filter(|t| !t.trim().is_empty()) else {
            bail!(
                "a token is needed to call the server at {url}: --token or GUANXI_TOKEN (mint one with \
                 `guanxi token --tenant SLUG --role ADMIN --user you`); or write straight into a database with \
                 --database-url and --tenant"
            );
        };
        let endpoint = if url.ends_with("/graphql") { url.to_owned() } else { format!("{url}/graphql") };
        Ok(Self { url: endpoint, token: token.trim().to_owned(), client: reqwest::Client::new() })
    }

    /// Runs one operation; GraphQL errors become one error with every message and violation.
    async fn gql(&self, query: &str, variables: Value) -> anyhow::Result<Value> {
        let response = self
            .client
            .post(&self.url)
            .bearer_auth(&self.token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .with_context(|| format!("no answer from {}: is the server running there?", self.url))?;
        let status = response.status();
        if status == reqwest::StatusCode::PAYLOAD_TOO_LARGE {
            bail!(
                "the server refused a request this large ({status}): its GUANXI_MAX_BODY_BYTES (1 MiB by default) \
                 bounds a component sent through the API to about 750 KB; raise it, or install with --database-url"
            );
        }
        let body: Value = response
            .json()
            .await
            .with_context(|| format!("{} answered {status}, not GraphQL: is --url the Guanxi server?", self.url))?;
        if let Some(errors) = body.get("errors").and_then(Value::as_array).filter(|e| !e.is_empty()) {
            bail!("{}", errors.iter().map(describe).collect::<Vec<_>>().join("\n"));
        }
        body.get("data").cloned().with_context(|| format!("{} answered {status} without data", self.url))
    }

    /// Installs the component as `name`, or upgrades the plugin of that name when `upgrade`;
    /// sets `config` when given; attaches a validator to `attach` (`ENTITY.field`).
    ///
    /// # Errors
    /// The server refused a step; the message is its own.
    pub async fn install(
        &self,
        wasm_base64: &str,
        name: &str,
        config: Option<Value>,
        upgrade: bool,
        attach: Option<(String, String)>,
    ) -> anyhow::Result<Value> {
        const FIELDS: &str = "id name version sha256 capabilities scoreKeys enabled";
        let existing = if upgrade {
            let data = self.gql("{ plugins { id name } }", json!({})).await?;
            data["plugins"].as_array().and_then(|ps| ps.iter().find(|p| p["name"] == name)).map(|p| p["id"].clone())
        } else {
            None
        };
        let mut plugin = match existing {
            Some(id) => {
                let q = format!(
                    "mutation($id: ID!, $w: String!) {{ upgradePlugin(id: $id, wasmBase64: $w) {{ {FIELDS} }} }}"
                );
                let mut p = self.gql(&q, json!({ "id": id, "w": wasm_base64 })).await?["upgradePlugin"].take();
                if let Some(config) = config {
                    let q = format!(
                        "mutation($id: ID!, $c: JSON) {{ configurePlugin(id: $id, config: $c) {{ {FIELDS} }} }}"
                    );
                    p = self.gql(&q, json!({ "id": id, "c": config })).await?["configurePlugin"].take();
                }
                p
            }
            None => {
                let q = format!("mutation($i: InstallPluginInput!) {{ installPlugin(input: $i) {{ {FIELDS} }} }}");
                let input = json!({ "name": name, "wasmBase64": wasm_base64, "config": config });
                self.gql(&q, json!({ "i": input })).await.map_err(|e| {
                    if e.to_string().contains("installed already") {
                        e.context("pass --upgrade to replace its component")
                    } else {
                        e
                    }
                })?["installPlugin"]
                    .take()
            }
        };
        if let Some((entity, field)) = attach {
            let q = "mutation($p: ID!, $e: EntityKind!, $f: String!) { \
                     attachValidator(pluginId: $p, entity: $e, field: $f) { key name validators { name } } }";
            let attached = self.gql(q, json!({ "p": plugin["id"], "e": entity, "f": field })).await;
            let mut attached = attached.context("installed, but not attached")?;
            plugin["attachedTo"] = attached["attachValidator"].take();
        }
        plugin["server"] = json!(self.url);
        Ok(plugin)
    }

    /// `Customer.scoringSnapshot` of one customer, as the server would hand it to a scorer now.
    ///
    /// # Errors
    /// The server refused (no such customer, a role that may not see it).
    pub async fn snapshot(&self, customer_id: &str) -> anyhow::Result<Value> {
        let q = "query($id: ID!) { customer(id: $id) { scoringSnapshot } }";
        let mut data = self.gql(q, json!({ "id": customer_id })).await?;
        match data["customer"]["scoringSnapshot"].take() {
            Value::Null => {
                bail!("no customer {customer_id} for this token: give the customer's id as the API shows it")
            }
            snapshot => Ok(snapshot),
        }
    }
}

/// One GraphQL error as a line: its message, code and violations.
fn describe(error: &Value) -> String {
    let message = error["message"].as_str().unwrap_or("an error");
    let code = error["extensions"]["code"].as_str().map(|c| format!(" ({c})")).unwrap_or_default();
    let violations = error["extensions"]["violations"].as_array().map_or_else(String::new, |vs| {
        vs.iter()
            .map(|v| {
                format!(
                    "\n  {}: {} {}",
                    v["field"].as_str().unwrap_or("?"),
                    v["code"].as_str().unwrap_or("?"),
                    v["message"].as_str().unwrap_or("")
                )
            })
            .collect()
    });
    format!("{message}{code}{violations}")
}

/// `CUSTOMER.wechat_id` → (`CUSTOMER`, `wechat_id`).
///
/// # Errors
/// Not of that shape.
pub fn attach_target(text: &str) -> anyhow::Result<(String, String)> {
    match text.split_once('.') {
        Some((entity, field)) if !entity.is_empty() && !field.is_empty() => {
            Ok((entity.to_ascii_uppercase(), field.to_owned()))
        }
        _ => bail!("--attach takes ENTITY.field, like CUSTOMER.wechat_id"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_read_as_lines_with_their_violations() {
        let e = json!({ "message": "invalid input", "extensions": { "code": "BAD_USER_INPUT",
            "violations": [{ "field": "config", "code": "INVALID_CONFIG", "message": "window_days: a number" }] } });
        assert_eq!(describe(&e), "invalid input (BAD_USER_INPUT)\n  config: INVALID_CONFIG window_days: a number");
        assert_eq!(attach_target("customer.wechat_id").unwrap(), ("CUSTOMER".into(), "wechat_id".into()));
        assert!(attach_target("wechat_id").is_err());
        assert!(Server::new("127.0.0.1:8080", Some("t".into())).is_err());
        assert!(Server::new("http://x", None).err().is_some_and(|e| e.to_string().contains("--token")));
    }
}
