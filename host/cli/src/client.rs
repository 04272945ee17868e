//! A small blocking client for the server's API, used by the CLI's remote commands. Errors from
//! the server (`{"error": {"code", "message", "hint"}}`) become errors that say what the server
//! said; a server that cannot be reached is an error that names the URL.

use std::io::{Read, Write};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;

/// Where the server is and who we are.
pub struct Client {
    agent: ureq::Agent,
    server: String,
    token: Option<String>,
}

impl Client {
    /// A client for `server` (such as `http://127.0.0.1:8080`), sending `token` if given.
    pub fn new(server: &str, token: Option<String>) -> Result<Client> {
        let server = server.trim_end_matches('/').to_string();
        if !server.starts_with("http://") {
            bail!(
                "the server URL `{server}` must start with http:// (put a TLS-terminating proxy in front of the server for https)"
            );
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        Ok(Client {
            agent,
            server,
            token,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server)
    }

    fn authorize<B>(&self, request: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.token {
            Some(token) => request.header("Authorization", &format!("Bearer {token}")),
            None => request,
        }
    }

    fn unreachable(&self, e: ureq::Error) -> anyhow::Error {
        anyhow!(
            "cannot reach the server at {} ({e}); is `tessera serve` running there? (--server or TESSERA_SERVER)",
            self.server
        )
    }

    /// GET a JSON document.
    pub fn get_json(&self, path: &str) -> Result<Value> {
        let response = self
            .authorize(self.agent.get(&self.url(path)))
            .call()
            .map_err(|e| self.unreachable(e))?;
        json(checked(response)?)
    }

    /// POST with an empty body; the answer is JSON.
    pub fn post_empty(&self, path: &str) -> Result<Value> {
        let response = self
            .authorize(self.agent.post(&self.url(path)))
            .send_empty()
            .map_err(|e| self.unreachable(e))?;
        json(checked(response)?)
    }

    /// POST a JSON document; the answer is JSON.
    pub fn post_json(&self, path: &str, body: &Value) -> Result<Value> {
        let response = self
            .authorize(self.agent.post(&self.url(path)))
            .header("Content-Type", "application/json")
            .send(body.to_string())
            .map_err(|e| self.unreachable(e))?;
        json(checked(response)?)
    }

    /// DELETE a resource; the answer has no body.
    pub fn delete(&self, path: &str) -> Result<()> {
        let response = self
            .authorize(self.agent.delete(&self.url(path)))
            .call()
            .map_err(|e| self.unreachable(e))?;
        checked(response).map(drop)
    }

    /// POST `length` bytes from `body` with extra `headers`; the answer is JSON.
    pub fn post_reader(
        &self,
        path: &str,
        content_type: &str,
        length: u64,
        headers: &[(&str, &str)],
        body: &mut dyn Read,
    ) -> Result<Value> {
        let mut request = self
            .authorize(self.agent.post(&self.url(path)))
            .header("Content-Type", content_type)
            .header("Content-Length", &length.to_string());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request
            .send(ureq::SendBody::from_reader(body))
            .map_err(|e| self.unreachable(e))?;
        json(checked(response)?)
    }

    /// GET a body and copy it into `out`; `progress` hears the total (if known) and each chunk.
    pub fn download(
        &self,
        path: &str,
        out: &mut dyn Write,
        progress: &mut dyn FnMut(Option<u64>, u64),
    ) -> Result<u64> {
        let response = self
            .authorize(self.agent.get(&self.url(path)))
            .call()
            .map_err(|e| self.unreachable(e))?;
        let mut response = checked(response)?;
        let total = response
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let mut reader = response.body_mut().as_reader();
        let mut buffer = vec![0u8; 64 * 1024];
        let mut copied = 0u64;
        loop {
            let n = reader.read(&mut buffer).context("the download broke off")?;
            if n == 0 {
                break;
            }
            out.write_all(&buffer[..n])?;
            copied += n as u64;
            progress(total, copied);
        }
        Ok(copied)
    }
}

/// Turns an error answer into an error that says what the server said.
fn checked(response: ureq::http::Response<ureq::Body>) -> Result<ureq::http::Response<ureq::Body>> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let mut response = response;
    let text = response.body_mut().read_to_string().unwrap_or_default();
    let said = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| {
            let error = v.get("error")?;
            let mut message = error.get("message")?.as_str()?.to_string();
            for problem in error
                .get("errors")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                message.push_str(&format!("\n  {}", describe_problem(problem)));
            }
            for violation in error
                .get("violations")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                message.push_str(&format!(
                    "\n  policy {}@{}: {}",
                    violation
                        .get("policy")
                        .and_then(Value::as_str)
                        .unwrap_or("?"),
                    violation
                        .get("version")
                        .and_then(Value::as_u64)
                        .unwrap_or(0),
                    violation
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                ));
            }
            Some(match error.get("hint").and_then(Value::as_str) {
                Some(hint) => format!("{message}\n  hint: {hint}"),
                None => message,
            })
        })
        .unwrap_or(text);
    bail!("the server answered {status}: {said}")
}

/// One problem of rejected data: `row 3 (line 4), column x: value `y`: reason`.
fn describe_problem(problem: &Value) -> String {
    let mut place = Vec::new();
    if let Some(row) = problem.get("row").and_then(Value::as_u64) {
        place.push(match problem.get("line").and_then(Value::as_u64) {
            Some(line) => format!("row {row} (line {line})"),
            None => format!("row {row}"),
        });
    } else if let Some(line) = problem.get("line").and_then(Value::as_u64) {
        place.push(format!("line {line}"));
    }
    if let Some(column) = problem.get("column").and_then(Value::as_str) {
        place.push(format!("column {column}"));
    }
    if let Some(value) = problem.get("value").and_then(Value::as_str) {
        place.push(format!("value `{value}`"));
    }
    let reason = problem.get("reason").and_then(Value::as_str).unwrap_or("");
    if place.is_empty() {
        reason.to_string()
    } else {
        format!("{}: {reason}", place.join(", "))
    }
}

fn json(mut response: ureq::http::Response<ureq::Body>) -> Result<Value> {
    let text = response
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_string()
        .context("cannot read the server's answer")?;
    serde_json::from_str(&text).context("the server's answer is not JSON")
}
