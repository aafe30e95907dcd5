//! Secret hygiene, daemon-wide: distinct secrets are planted in every place driftwarden reads
//! one — database URLs (PostgreSQL and MariaDB, with real roles), config values under
//! secret-looking keys and inside URLs and connection strings, an HTTP source's headers, query
//! and body, the API token file, a webhook's URL and signing secret, Alertmanager basic auth and
//! the HMAC key — then the real binary runs with debug logs (text and JSON) through collections,
//! drift, failed sources, alerts, reports, every CLI output, every dashboard page and API route
//! and `/metrics`. Everything it emitted, and every file it left in its state folder, is
//! searched for each secret and its common encodings. The test also checks that the secrets
//! did reach where they must (the HTTP server saw the bearer token, the webhook signature
//! verifies, Alertmanager saw basic auth, MariaDB accepted the password), so it is not vacuous.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::helpers::db::{Engine, TestDb};
use crate::helpers::free_port;
use crate::helpers::{Demo, Run};

// ---------------------------------------------------------------------------------------------
// Planted secrets and the search for them.

/// One planted secret.
#[derive(Clone, Debug)]
struct Planted {
    label: String,
    value: String,
    /// The random part, unique to this run: found even inside encodings that keep it.
    core: String,
}

/// Every secret planted by the test, each distinct and random per run.
#[derive(Default)]
struct Secrets(Vec<Planted>);

impl Secrets {
    /// Plants `s3cr3t-<24 random hex>-<label>`.
    fn plant(&mut self, label: &str) -> String {
        let mut bytes = [0u8; 12];
        getrandom::fill(&mut bytes).unwrap();
        let core = hex::encode(bytes);
        let value = format!("s3cr3t-{core}-{label}");
        self.0.push(Planted {
            label: label.to_string(),
            value: value.clone(),
            core,
        });
        value
    }
}

/// Characters a URL's user-info keeps as they are (RFC 3986 unreserved).
const USERINFO: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Standard (or URL-safe) base64 with padding; small enough to write here.
fn base64(bytes: &[u8], url_safe: bool) -> String {
    let alphabet: &[u8; 64] = if url_safe {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    } else {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    };
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(alphabet[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The forms a secret may take in output: as is, percent-encoded (user-info style and fully),
/// its random core (which survives JSON or HTML escaping and partial masking), and base64 at
/// each of the three alignments it can have inside a longer encoded text (basic auth encodes
/// `user:password`), standard and URL-safe, without the edge characters that depend on the
/// neighbouring bytes.
fn forms(planted: &Planted) -> Vec<String> {
    let value = &planted.value;
    let mut forms = vec![
        value.clone(),
        utf8_percent_encode(value, USERINFO).to_string(),
        utf8_percent_encode(value, NON_ALPHANUMERIC).to_string(),
        planted.core.clone(),
    ];
    for offset in 0..3 {
        let mut bytes = vec![b'x'; offset];
        bytes.extend_from_slice(value.as_bytes());
        for url_safe in [false, true] {
            let encoded = base64(&bytes, url_safe);
            let skip = if offset == 0 { 0 } else { 4 };
            forms.push(encoded[skip..encoded.len() - 4].to_string());
        }
    }
    forms.sort();
    forms.dedup();
    forms
}

/// Every occurrence of any form of any planted secret in `text`, described with its context.
fn leaks(secrets: &[Planted], place: &str, text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for planted in secrets {
        for form in forms(planted) {
            if let Some(at) = text.find(&form) {
                let mut start = at.saturating_sub(80);
                while !text.is_char_boundary(start) {
                    start -= 1;
                }
                let mut end = (at + form.len() + 80).min(text.len());
                while !text.is_char_boundary(end) {
                    end += 1;
                }
                found.push(format!(
                    "secret {:?} (as {form:?}) in {place}: …{}…",
                    planted.label,
                    &text[start..end]
                ));
                break;
            }
        }
    }
    found
}

/// Everything driftwarden emitted, by where it came from.
#[derive(Default)]
struct Emitted(Vec<(String, String)>);

impl Emitted {
    fn add(&mut self, place: impl Into<String>, text: impl Into<String>) {
        self.0.push((place.into(), text.into()));
    }

    fn add_run(&mut self, place: &str, run: &Run) {
        self.add(format!("{place} (stdout)"), run.stdout.clone());
        self.add(format!("{place} (stderr)"), run.stderr.clone());
    }

    /// Every file under `dir`, read as bytes (the SQLite store, its WAL, keys, anything else).
    fn add_files(&mut self, dir: &Path) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                self.add_files(&path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                self.add(
                    path.display().to_string(),
                    String::from_utf8_lossy(&bytes).into_owned(),
                );
            }
        }
    }
}

#[test]
fn the_search_finds_a_planted_secret_in_every_form_it_looks_for() {
    let mut secrets = Secrets::default();
    let secret = secrets.plant("control@pass");
    let planted = &secrets.0;
    let hit = |text: &str| !leaks(planted, "control", text).is_empty();
    assert!(hit(&format!("password is {secret}.")));
    assert!(hit(&format!(
        "postgres://u:{}@h/db",
        utf8_percent_encode(&secret, USERINFO)
    )));
    assert!(hit(&format!(
        "q={}",
        utf8_percent_encode(&secret, NON_ALPHANUMERIC)
    )));
    for user in ["", "a", "am", "amuser"] {
        let header = base64(format!("{user}:{secret}").as_bytes(), false);
        assert!(hit(&format!("Authorization: Basic {header}")), "{user}");
        let header = base64(format!("{user}:{secret}").as_bytes(), true);
        assert!(hit(&header), "{user}");
    }
    // The random part alone is enough (a secret cut or escaped differently).
    assert!(hit(&format!(
        "<td>{}</td>",
        secret.replace("s3cr3t-", "s3cr3t&#45;")
    )));
    assert!(!hit(
        "postgres://u:***@h/db redacted:hmac-sha256:0123456789abcdef01234567"
    ));
    assert_eq!(
        base64(b"any carnal pleas", false),
        "YW55IGNhcm5hbCBwbGVhcw=="
    );
    assert_eq!(base64(b"\xfb\xff", true), "-_8=");
}

// ---------------------------------------------------------------------------------------------
// A local server playing the HTTP source, the webhook receiver and Alertmanager.

/// One request the local server received.
#[derive(Clone, Debug)]
struct Received {
    uri: String,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
    status: u16,
}

/// The HTTP source's endpoints redirect once (`/start/ENV` → `/env/ENV`, same host) and answer
/// JSON; `/api/v2/alerts` plays Alertmanager and `/hooks/…` the webhook receiver, each failing
/// its first request (500) so the daemon logs a delivery error.
#[derive(Clone, Default)]
struct LocalServer {
    log: Arc<Mutex<Vec<Received>>>,
    bodies: Arc<Mutex<BTreeMap<String, Value>>>,
    alertmanager_failures: Arc<AtomicUsize>,
    webhook_failures: Arc<AtomicUsize>,
}

impl LocalServer {
    async fn start(&self) -> String {
        self.alertmanager_failures.store(1, Ordering::SeqCst);
        self.webhook_failures.store(1, Ordering::SeqCst);
        let this = self.clone();
        let app = axum::Router::new().fallback(
            move |uri: Uri, headers: HeaderMap, body: axum::body::Bytes| {
                let this = this.clone();
                async move { this.answer(uri, headers, body.to_vec()) }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("127.0.0.1:{}", addr.port())
    }

    fn answer(&self, uri: Uri, headers: HeaderMap, body: Vec<u8>) -> Response {
        let path = uri.path().to_string();
        let fail = |counter: &AtomicUsize| {
            counter
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        };
        let response = if let Some(env) = path.strip_prefix("/start/") {
            let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
            (
                StatusCode::TEMPORARY_REDIRECT,
                [("location", format!("/env/{env}{query}"))],
            )
                .into_response()
        } else if let Some(env) = path.strip_prefix("/env/") {
            match self.bodies.lock().unwrap().get(env) {
                Some(body) => axum::Json(body.clone()).into_response(),
                None => StatusCode::NOT_FOUND.into_response(),
            }
        } else if path == "/api/v2/alerts" {
            if fail(&self.alertmanager_failures) {
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            } else {
                StatusCode::OK.into_response()
            }
        } else if path.starts_with("/hooks/") {
            if fail(&self.webhook_failures) {
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            } else {
                StatusCode::OK.into_response()
            }
        } else {
            StatusCode::NOT_FOUND.into_response()
        };
        self.log.lock().unwrap().push(Received {
            uri: uri.to_string(),
            headers: headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body,
            status: response.status().as_u16(),
        });
        response
    }

    fn received(&self, path_prefix: &str) -> Vec<Received> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.uri.starts_with(path_prefix))
            .cloned()
            .collect()
    }

    async fn wait_for(&self, path_prefix: &str, what: impl Fn(&[Received]) -> bool) {
        for _ in 0..300 {
            if what(&self.received(path_prefix)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "{path_prefix}: never got what was expected: {:#?}",
            self.received(path_prefix)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Databases: real roles whose passwords are planted secrets.

/// Runs statements as the server's admin when dropped: the roles outlive the test databases.
struct AdminOnDrop {
    engine: Engine,
    url: String,
    statements: Vec<String>,
}

impl Drop for AdminOnDrop {
    fn drop(&mut self) {
        use sqlx::Connection;
        let (engine, url, statements) = (self.engine, self.url.clone(), self.statements.clone());
        // Drop runs inside the test's runtime; a thread with its own runtime does the work.
        let done = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                for sql in statements {
                    let sql = sqlx::AssertSqlSafe(sql);
                    match engine {
                        Engine::Postgres => {
                            let mut conn = sqlx::PgConnection::connect(&url).await.ok()?;
                            sqlx::raw_sql(sql).execute(&mut conn).await.ok()?;
                        }
                        Engine::Mysql => {
                            let mut conn = sqlx::MySqlConnection::connect(&url).await.ok()?;
                            sqlx::raw_sql(sql).execute(&mut conn).await.ok()?;
                        }
                    }
                }
                Some(())
            })
        })
        .join();
        if !matches!(done, Ok(Some(()))) {
            eprintln!(
                "warning: clean-up of test roles failed: {:?}",
                self.statements
            );
        }
    }
}

/// `db`'s URL with another user and password (percent-encoded as a URL requires).
fn url_as(db: &TestDb, user: &str, password: &str, database: &str) -> String {
    let mut url = reqwest::Url::parse(&db.url).unwrap();
    url.set_username(user).unwrap();
    url.set_password(Some(password)).unwrap();
    url.set_path(&format!("/{database}"));
    url.to_string()
}

// ---------------------------------------------------------------------------------------------
// The real binary.

/// A client for the daemon's API, with a timeout so a hung request fails the test.
fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// The binary with debug logs in `format`, the HMAC key from the environment.
fn driftwarden(demo: &Demo, hmac_key: &str, log_format: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_driftwarden"));
    command
        .args(["-vv", "--log-format", log_format])
        .current_dir(demo.dir.path())
        .env("CI", "true")
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "debug")
        .env("DRIFTWARDEN_HMAC_KEY", hmac_key)
        .env_remove("DRIFTWARDEN_CONFIG")
        .env_remove("DRIFTWARDEN_LOG_FORMAT")
        .env_remove("DRIFTWARDEN_LISTEN");
    command
}

/// Runs a CLI command in both log formats, records both outputs, returns the text-format run.
fn cli(demo: &Demo, key: &str, emitted: &mut Emitted, args: &[&str]) -> Run {
    let mut first = None;
    for format in ["text", "json"] {
        let run: Run = driftwarden(demo, key, format)
            .args(args)
            .output()
            .unwrap()
            .into();
        emitted.add_run(
            &format!("`driftwarden {}` ({format} logs)", args.join(" ")),
            &run,
        );
        first.get_or_insert(run);
    }
    first.unwrap()
}

/// `driftwarden run` as a process, its output in files.
struct DaemonProcess {
    child: Child,
    base: String,
    out: PathBuf,
    err: PathBuf,
}

impl DaemonProcess {
    async fn start(demo: &Demo, key: &str, log_format: &str, logs: &Path) -> DaemonProcess {
        let addr = format!("127.0.0.1:{}", free_port());
        let out = logs.join(format!("daemon-{log_format}.stdout"));
        let err = logs.join(format!("daemon-{log_format}.stderr"));
        let child = driftwarden(demo, key, log_format)
            .args(["run", "--config", &demo.config(), "--listen", &addr])
            .args(["--shutdown-grace", "5s"])
            .stdout(Stdio::from(std::fs::File::create(&out).unwrap()))
            .stderr(Stdio::from(std::fs::File::create(&err).unwrap()))
            .spawn()
            .unwrap();
        let daemon = DaemonProcess {
            child,
            base: format!("http://{addr}"),
            out,
            err,
        };
        let client = http_client();
        for _ in 0..600 {
            if let Ok(r) = client.get(format!("{}/readyz", daemon.base)).send().await {
                if r.status().is_success() {
                    return daemon;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "the daemon did not become ready: {}",
            std::fs::read_to_string(&daemon.err).unwrap_or_default()
        );
    }

    /// SIGTERM, wait, and hand back (stdout, stderr).
    fn stop(mut self) -> (String, String) {
        use nix::sys::signal::{kill, Signal};
        use nix::unistd::Pid;
        kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM).unwrap();
        for _ in 0..300 {
            if self.child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        if self.child.try_wait().unwrap().is_none() {
            self.child.kill().ok();
            panic!("the daemon did not stop on SIGTERM");
        }
        (
            std::fs::read_to_string(&self.out).unwrap(),
            std::fs::read_to_string(&self.err).unwrap(),
        )
    }
}

impl Drop for DaemonProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.child.kill().ok();
            self.child.wait().ok();
        }
    }
}

/// An HTTP client that records every answer body it gets from the daemon.
struct Api {
    client: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    async fn get(&self, path: &str, emitted: &mut Emitted) -> (u16, String) {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let headers = format!("{:?}", response.headers());
        let text = response.text().await.unwrap();
        emitted.add(format!("GET {path} (headers)"), headers);
        emitted.add(format!("GET {path}"), text.clone());
        (status, text)
    }

    async fn get_json(&self, path: &str, emitted: &mut Emitted) -> Value {
        let (status, text) = self.get(path, emitted).await;
        assert_eq!(status, 200, "GET {path}: {text}");
        serde_json::from_str(&text).unwrap()
    }

    async fn post(
        &self,
        path: &str,
        body: Value,
        token: Option<&str>,
        emitted: &mut Emitted,
    ) -> (u16, Value) {
        let mut request = self.client.post(format!("{}{path}", self.base)).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        emitted.add(format!("POST {path}"), text.clone());
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn run_all(&self, emitted: &mut Emitted) -> Value {
        let token = self.token.clone();
        let (status, body) = self
            .post("/api/v1/run", json!({}), Some(&token), emitted)
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// GETs every route the daemon serves, for every pair, source, environment, snapshot and
    /// finding it knows, and the POST endpoints that answer with data.
    async fn visit_everything(&self, emitted: &mut Emitted) {
        for path in [
            "/",
            "/healthz",
            "/readyz",
            "/metrics",
            "/api/v1/environments",
            "/api/v1/sources",
            "/api/v1/pairs",
        ] {
            let (status, text) = self.get(path, emitted).await;
            assert!(
                status == 200 || path == "/readyz",
                "GET {path}: {status} {text}"
            );
        }
        let environments = self.get_json("/api/v1/environments", emitted).await;
        for env in environments.as_array().unwrap() {
            let name = env["name"].as_str().unwrap();
            self.get(&format!("/environments/{name}"), emitted).await;
            self.get_json(
                &format!("/api/v1/findings?environment={name}&state=all"),
                emitted,
            )
            .await;
        }
        let pairs = self.get_json("/api/v1/pairs", emitted).await;
        for pair in pairs.as_array().unwrap() {
            let name = pair["name"].as_str().unwrap();
            self.get(&format!("/pairs/{name}"), emitted).await;
            self.get_json(&format!("/api/v1/pairs/{name}/signoffs"), emitted)
                .await;
            for source in pair["sources"].as_array().unwrap() {
                let source = source["source"].as_str().unwrap();
                self.get(&format!("/pairs/{name}?source={source}"), emitted)
                    .await;
                self.get(
                    &format!("/api/v1/diff?pair={name}&source={source}"),
                    emitted,
                )
                .await;
            }
            // A sign-off while findings are open is refused, listing them.
            let token = self.token.clone();
            self.post(
                &format!("/api/v1/pairs/{name}/signoff"),
                json!({"by": "dana", "note": "release"}),
                Some(&token),
                emitted,
            )
            .await;
        }
        let findings = self
            .get_json("/api/v1/findings?state=all&limit=10000", emitted)
            .await;
        for finding in findings.as_array().unwrap() {
            if finding["kind"] == "pair" {
                let (pair, fingerprint) = (
                    finding["scope"].as_str().unwrap(),
                    finding["fingerprint"].as_str().unwrap(),
                );
                let (status, text) = self
                    .get(&format!("/pairs/{pair}/findings/{fingerprint}"), emitted)
                    .await;
                assert_eq!(status, 200, "{text}");
            }
        }
        let snapshots = self.get_json("/api/v1/snapshots?limit=1000", emitted).await;
        let mut by_source: BTreeMap<(String, String), Vec<i64>> = BTreeMap::new();
        for snapshot in snapshots.as_array().unwrap() {
            let id = snapshot["id"].as_i64().unwrap();
            self.get_json(&format!("/api/v1/snapshots/{id}"), emitted)
                .await;
            by_source
                .entry((
                    snapshot["environment"].as_str().unwrap().to_string(),
                    snapshot["source"].as_str().unwrap().to_string(),
                ))
                .or_default()
                .push(id);
        }
        for ids in by_source.values() {
            for pair in ids.windows(2) {
                self.get_json(
                    &format!("/api/v1/diff?from={}&to={}", pair[1], pair[0]),
                    emitted,
                )
                .await;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The test.

fn hmac_hex(key: &[u8], message: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

/// The `.env` file of the `app-secrets` source.
fn app_env(db_password: &str, url_password: &str, jdbc_password: &str, api_key: &str) -> String {
    format!(
        "APP_NAME=shop\n\
         DB_PASSWORD={db_password}\n\
         DATABASE_URL=postgres://app:{url_password}@db.internal:5432/shop?sslmode=require\n\
         JDBC_URL=jdbc:sqlserver://db.internal:1433;databaseName=shop;user=app;password={jdbc_password};encrypt=true\n\
         STRIPE_API_KEY={api_key}\n"
    )
}

/// The YAML file of the `app-keys` source.
fn app_yaml(api_key: &str, client_secret: &str, tokens: [&str; 2]) -> String {
    format!(
        "payments:\n  provider: stripe\n  api_key: {api_key}\n\
         oauth:\n  issuer: https://login.example.com\n  client_secret: {client_secret}\n\
         refresh_tokens:\n  - {}\n  - {}\n",
        tokens[0], tokens[1]
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_planted_secret_appears_in_anything_the_daemon_or_the_cli_emits() {
    let (Some(pg_prod), Some(pg_staging), Some(my_prod), Some(my_staging)) = (
        TestDb::postgres().await,
        TestDb::postgres().await,
        TestDb::mysql().await,
        TestDb::mysql().await,
    ) else {
        return;
    };
    let mut secrets = Secrets::default();
    let hmac_key = secrets.plant("hmac-key");

    // Database roles and users whose passwords are planted; `@` needs percent-encoding in URLs.
    let suffix = pg_prod.name.trim_start_matches("dw_test_").to_string();
    let (pg_role, my_user) = (format!("dw_sec_pg_{suffix}"), format!("dwsec{suffix}"));
    let pg_prod_pass = secrets.plant("pg@production");
    let pg_staging_pass = secrets.plant("pg@staging");
    let pg_qa_pass = secrets.plant("pg@qa");
    let my_prod_pass = secrets.plant("mysql@production");
    let my_staging_pass = secrets.plant("mysql@staging");
    let my_qa_pass = secrets.plant("mysql@qa-wrong");
    // The password travels in the URL; the PostgreSQL server trusts loopback, so one role is
    // enough for both sides (its password is set to production's, for the record).
    pg_prod
        .admin(&format!(
            "CREATE ROLE {pg_role} LOGIN PASSWORD '{pg_prod_pass}'"
        ))
        .await;
    let _pg_role_cleanup = AdminOnDrop {
        engine: Engine::Postgres,
        url: crate::helpers::db::with_database(&pg_prod.url, "postgres"),
        statements: vec![format!("DROP ROLE IF EXISTS {pg_role}")],
    };
    for db in [&pg_prod, &pg_staging] {
        db.execute("CREATE TABLE public.accounts (id INT PRIMARY KEY, email TEXT NOT NULL)")
            .await;
    }
    pg_staging
        .execute("ALTER TABLE public.accounts ADD COLUMN nickname TEXT")
        .await;
    for (db, password) in [(&my_prod, &my_prod_pass), (&my_staging, &my_staging_pass)] {
        let user = format!(
            "{my_user}{}",
            if db.name == my_prod.name { "p" } else { "s" }
        );
        db.admin(&format!(
            "CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'"
        ))
        .await;
        db.admin(&format!(
            "GRANT SELECT, SHOW VIEW ON `{}`.* TO '{user}'@'%'",
            db.name
        ))
        .await;
        db.execute("CREATE TABLE accounts (id INT PRIMARY KEY, email VARCHAR(200) NOT NULL)")
            .await;
    }
    let _my_user_cleanup = AdminOnDrop {
        engine: Engine::Mysql,
        url: crate::helpers::db::with_database(&my_prod.url, "mysql"),
        statements: vec![
            format!("DROP USER IF EXISTS '{my_user}p'@'%'"),
            format!("DROP USER IF EXISTS '{my_user}s'@'%'"),
        ],
    };
    let pg_prod_url = url_as(&pg_prod, &pg_role, &pg_prod_pass, &pg_prod.name);
    let pg_staging_url = url_as(&pg_staging, &pg_role, &pg_staging_pass, &pg_staging.name);
    // qa: a database that does not exist, and a wrong MariaDB password: both fail, and the
    // errors name their URL.
    let pg_qa_url = url_as(
        &pg_prod,
        &pg_role,
        &pg_qa_pass,
        &format!("{}_missing", pg_prod.name),
    );
    let my_prod_url = url_as(
        &my_prod,
        &format!("{my_user}p"),
        &my_prod_pass,
        &my_prod.name,
    );
    let my_staging_url = url_as(
        &my_staging,
        &format!("{my_user}s"),
        &my_staging_pass,
        &my_staging.name,
    );
    let my_qa_url = url_as(&my_prod, &format!("{my_user}p"), &my_qa_pass, &my_prod.name);
    assert!(pg_prod_url.contains("%40production@"), "{pg_prod_url}");
    // A base64-style password written into the URL without percent-encoding: the URL does not
    // parse, and the error names it.
    let pg_unencoded_pass = secrets.plant("qa/unencoded+b64=");
    let pg_server = reqwest::Url::parse(&pg_prod.url).unwrap();
    let pg_unencoded_url = format!(
        "postgres://{pg_role}:{pg_unencoded_pass}@{}:{}/{}",
        pg_server.host_str().unwrap(),
        pg_server.port().unwrap_or(5432),
        pg_prod.name
    );

    // The local HTTP source, webhook receiver and Alertmanager.
    let server = LocalServer::default();
    let host = server.start().await;
    let (bearer_prod, bearer_staging) = (secrets.plant("bearer-prod"), secrets.plant("bearer-stg"));
    let (api_key_prod, api_key_staging) =
        (secrets.plant("xapikey-prod"), secrets.plant("xapikey-stg"));
    let (query_prod, query_staging) = (secrets.plant("query-prod"), secrets.plant("query-stg"));
    let (body_prod, body_staging) = (secrets.plant("body-prod"), secrets.plant("body-stg"));
    let http_body = |client_secret: &str| {
        json!({"version": "1.4.2", "features": {"checkout_v2": true},
               "payments": {"client_secret": client_secret}})
    };
    server
        .bodies
        .lock()
        .unwrap()
        .insert("production".into(), http_body(&body_prod));
    server
        .bodies
        .lock()
        .unwrap()
        .insert("staging".into(), http_body(&body_staging));
    let api_token = secrets.plant("api-token");
    let webhook_secret = secrets.plant("webhook-signing");
    let webhook_path = secrets.plant("webhook-path");
    let (am_user, am_pass) = ("amuser", secrets.plant("alertmanager-basic"));

    // Config files under secret-looking keys, in URLs and connection strings; different on the
    // two sides so findings exist on the secret keys.
    let env_prod = [
        secrets.plant("env-dbpw-prod"),
        secrets.plant("env-url-prod"),
        secrets.plant("env-jdbc-prod"),
        secrets.plant("env-stripe-prod"),
    ];
    let env_staging = [
        secrets.plant("env-dbpw-stg"),
        secrets.plant("env-url-stg"),
        secrets.plant("env-jdbc-stg"),
        secrets.plant("env-stripe-stg"),
    ];
    let yaml_prod = [
        secrets.plant("yaml-apikey-prod"),
        secrets.plant("yaml-client-prod"),
        secrets.plant("yaml-refresh1-prod"),
        secrets.plant("yaml-refresh2-prod"),
    ];
    let yaml_staging = [
        secrets.plant("yaml-apikey-stg"),
        secrets.plant("yaml-client-stg"),
        secrets.plant("yaml-refresh1-stg"),
        secrets.plant("yaml-refresh2-stg"),
    ];

    let demo = Demo::build();
    demo.edit(
        "driftwarden.toml",
        "interval = \"15s\"",
        "interval = \"1h\"",
    );
    for (env, e, y) in [
        ("production", &env_prod, &yaml_prod),
        ("staging", &env_staging, &yaml_staging),
    ] {
        demo.write(
            &format!("config/{env}-secrets.env"),
            &app_env(&e[0], &e[1], &e[2], &e[3]),
        );
        demo.write(
            &format!("config/{env}-keys.yaml"),
            &app_yaml(&y[0], &y[1], [&y[2], &y[3]]),
        );
    }
    // A command source gets its secret as an argument (and prints it under a secret key); the
    // qa one fails, quoting its stderr, which names a password.
    let (cmd_prod, cmd_staging) = (secrets.plant("argv-prod"), secrets.plant("argv-stg"));
    let cmd_qa = secrets.plant("argv-qa-stderr");
    demo.write(
        "bin/emit.sh",
        "printf '{\"replicas\": 3, \"data\": {\"SMTP_PASSWORD\": \"%s\"}}' \"$1\"\n",
    );
    demo.write(
        "bin/fail.sh",
        "echo \"login to vault failed: password=$1 rejected\" >&2\nexit 3\n",
    );
    demo.write("secrets/api-token", &format!("{api_token}\n"));
    demo.write("secrets/webhook-secret", &format!("{webhook_secret}\n"));
    demo.write("secrets/staging-pg-url", &format!("{pg_staging_url}\n"));
    demo.write(
        "secrets/staging-bearer",
        &format!("Bearer {bearer_staging}\n"),
    );
    let am_url = format!("http://{am_user}:{am_pass}@{host}");
    demo.append(
        "driftwarden.toml",
        &format!(
            r#"
[server]
token_file = "secrets/api-token"

[[pairs]]
name = "qa-vs-production"
baseline = "production"
candidate = "qa"
sources = ["pg", "mysql", "cmd"]

[environments.production.sources.app-secrets]
kind = "file"
path = "config/production-secrets.env"

[environments.staging.sources.app-secrets]
kind = "file"
path = "config/staging-secrets.env"

[environments.production.sources.app-keys]
kind = "file"
path = "config/production-keys.yaml"

[environments.staging.sources.app-keys]
kind = "file"
path = "config/staging-keys.yaml"

[environments.production.sources.pg]
kind = "postgres"
url = "{pg_prod_url}"
row_counts = "estimate"

[environments.staging.sources.pg]
kind = "postgres"
url_file = "secrets/staging-pg-url"
row_counts = "estimate"

[environments.qa.sources.pg]
kind = "postgres"
url = "{pg_qa_url}"
timeout = "10s"

[environments.production.sources.mysql]
kind = "mysql"
url = "{my_prod_url}"
row_counts = "estimate"

[environments.staging.sources.mysql]
kind = "mysql"
url = "{my_staging_url}"
row_counts = "estimate"

[environments.qa.sources.pg-unencoded]
kind = "postgres"
url = "{pg_unencoded_url}"

[environments.qa.sources.mysql]
kind = "mysql"
url = "{my_qa_url}"
timeout = "10s"

[environments.production.sources.cmd]
kind = "command"
argv = ["sh", "bin/emit.sh", "{cmd_prod}"]

[environments.staging.sources.cmd]
kind = "command"
argv = ["sh", "bin/emit.sh", "{cmd_staging}"]

[environments.qa.sources.cmd]
kind = "command"
argv = ["sh", "bin/fail.sh", "{cmd_qa}"]

[environments.production.sources.api]
kind = "http"
url = "http://{host}/start/production?access_token={query_prod}"
headers = {{ Authorization = "Bearer {bearer_prod}", X-Api-Key = "{api_key_prod}" }}

[environments.staging.sources.api]
kind = "http"
url = "http://{host}/start/staging?access_token={query_staging}"
headers = {{ X-Api-Key = "{api_key_staging}" }}
header_files = {{ Authorization = "secrets/staging-bearer" }}

[[alerts]]
kind = "alertmanager"
url = "{am_url}"
resend = "1s"

[[alerts]]
kind = "webhook"
name = "hook"
url = "http://{host}/hooks/{webhook_path}"
secret_file = "secrets/webhook-secret"
min_severity = "info"
"#
        ),
    );
    let config = demo.config();
    let state_dir = demo.path().join(".driftwarden");
    let logs = tempfile::tempdir().unwrap();
    let mut emitted = Emitted::default();

    // ---- The daemon, text logs: collections, drift, a failed source, alerts, every route.
    let daemon = DaemonProcess::start(&demo, &hmac_key, "text", logs.path()).await;
    let api = Api {
        client: http_client(),
        base: daemon.base.clone(),
        token: api_token.clone(),
    };
    // The token file is in force: writes without it, or with another, are refused.
    let (status, _) = api.post("/api/v1/run", json!({}), None, &mut emitted).await;
    assert_eq!(status, 401);
    let (status, _) = api
        .post(
            "/api/v1/run",
            json!({}),
            Some("not-the-token"),
            &mut emitted,
        )
        .await;
    assert_eq!(status, 401);
    let runs = api.run_all(&mut emitted).await;
    let outcome = |env: &str, source: &str| {
        runs["runs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["environment"] == env && r["source"] == source)
            .cloned()
            .unwrap_or_else(|| panic!("no run of {env}/{source}: {runs}"))
    };
    for env in ["production", "staging"] {
        for source in ["pg", "mysql", "api", "app-secrets", "app-keys", "cmd"] {
            assert_eq!(outcome(env, source)["ok"], true, "{env}/{source}: {runs}");
        }
    }
    for source in ["pg", "mysql", "cmd", "pg-unencoded"] {
        assert_eq!(outcome("qa", source)["ok"], false, "qa/{source}: {runs}");
    }
    // The failures name their target, with the password masked.
    let sources = api.get_json("/api/v1/sources", &mut emitted).await;
    let qa_error = |source: &str| {
        sources
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["environment"] == "qa" && s["source"] == source)
            .map(|s| s["last_error"].to_string())
            .unwrap_or_else(|| panic!("no qa/{source} in {sources}"))
    };
    for source in ["pg", "mysql", "pg-unencoded"] {
        let error = qa_error(source);
        assert!(
            error.contains(":***@127.0.0.1"),
            "the error should name the URL with its password masked: {error}"
        );
    }
    let error = qa_error("cmd");
    assert!(
        error.contains("password=*** rejected"),
        "the error quotes stderr, masked: {error}"
    );

    // A finding exists on each secret key, shown as keyed hashes of the two values.
    let findings = api
        .get_json(
            "/api/v1/findings?pair=staging-vs-production&state=open",
            &mut emitted,
        )
        .await;
    let finding = |source: &str, path: &str| {
        findings
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["source"] == source && f["path"] == path)
            .cloned()
            .unwrap_or_else(|| panic!("no finding on {source} {path}: {findings:#}"))
    };
    let hashed = |value: &str| {
        format!(
            "redacted:hmac-sha256:{}",
            &hmac_hex(hmac_key.as_bytes(), value.as_bytes())[..24]
        )
    };
    let db_password = finding("app-secrets", "DB_PASSWORD");
    assert_eq!(
        db_password["baseline"],
        hashed(&env_prod[0]),
        "{db_password}"
    );
    assert_eq!(
        db_password["candidate"],
        hashed(&env_staging[0]),
        "{db_password}"
    );
    for (source, path) in [
        ("app-secrets", "DATABASE_URL"),
        ("app-secrets", "JDBC_URL"),
        ("app-secrets", "STRIPE_API_KEY"),
        ("app-keys", "payments/api_key"),
        ("app-keys", "oauth/client_secret"),
        ("app-keys", "refresh_tokens/0"),
        ("api", "payments/client_secret"),
        ("cmd", "data/SMTP_PASSWORD"),
    ] {
        let f = finding(source, path);
        assert_eq!(f["change"], "changed", "{f}");
        assert!(
            f["baseline"]
                .as_str()
                .unwrap()
                .contains("redacted:hmac-sha256:")
                && f["candidate"]
                    .as_str()
                    .unwrap()
                    .contains("redacted:hmac-sha256:"),
            "{f}"
        );
    }

    // The secrets reached where they must.
    let requests = server.received("/env/");
    for (env, bearer, key, query) in [
        ("production", &bearer_prod, &api_key_prod, &query_prod),
        ("staging", &bearer_staging, &api_key_staging, &query_staging),
    ] {
        let request = requests
            .iter()
            .find(|r| r.uri.starts_with(&format!("/env/{env}")))
            .unwrap_or_else(|| panic!("the HTTP source was not asked for {env}: {requests:#?}"));
        assert_eq!(request.headers["authorization"], format!("Bearer {bearer}"));
        assert_eq!(&request.headers["x-api-key"], key);
        assert!(
            request.uri.ends_with(&format!("access_token={query}")),
            "{request:?}"
        );
    }
    server
        .wait_for("/api/v2/alerts", |r| r.iter().any(|r| r.status == 200))
        .await;
    server
        .wait_for("/hooks/", |r| r.iter().any(|r| r.status == 200))
        .await;
    for request in server.received("/api/v2/alerts") {
        let expected = base64(format!("{am_user}:{am_pass}").as_bytes(), false);
        assert_eq!(
            request.headers.get("authorization"),
            Some(&format!("Basic {expected}")),
            "Alertmanager must get basic auth from the URL's user-info"
        );
    }
    for request in server.received("/hooks/") {
        assert_eq!(request.uri, format!("/hooks/{webhook_path}"));
        assert_eq!(
            request.headers["x-driftwarden-signature"],
            format!(
                "sha256={}",
                hmac_hex(webhook_secret.as_bytes(), &request.body)
            ),
            "the webhook signature must verify with the planted secret"
        );
    }

    // Temporal drift on secrets: staging's password and production's HTTP secret rotate.
    let rotated_db_password = secrets.plant("env-dbpw-stg-rotated");
    let rotated_body = secrets.plant("body-prod-rotated");
    demo.write(
        "config/staging-secrets.env",
        &app_env(
            &rotated_db_password,
            &env_staging[1],
            &env_staging[2],
            &env_staging[3],
        ),
    );
    server
        .bodies
        .lock()
        .unwrap()
        .insert("production".into(), http_body(&rotated_body));
    api.run_all(&mut emitted).await;
    let changed = api
        .get_json(
            "/api/v1/findings?environment=staging&source=app-secrets&state=open",
            &mut emitted,
        )
        .await;
    assert!(
        changed
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["path"] == "DB_PASSWORD" && f["candidate"] == hashed(&rotated_db_password)),
        "a rotated secret is a changed-since-last finding, as a hash: {changed:#}"
    );
    api.visit_everything(&mut emitted).await;
    let token = api_token.clone();
    // A credential written in the wrong shape (a header string instead of a table): the reload
    // is refused and the old config stays; the error names the line, never the value.
    let misplaced = secrets.plant("misplaced-header");
    let good_config = std::fs::read_to_string(&config).unwrap();
    demo.edit(
        "driftwarden.toml",
        &format!("headers = {{ X-Api-Key = \"{api_key_staging}\" }}"),
        &format!("headers = \"X-Api-Key: {misplaced}\""),
    );
    let (status, body) = api
        .post("/api/v1/reload", json!({}), Some(&token), &mut emitted)
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("string (value not shown)"),
        "{body}"
    );
    let lint = cli(
        &demo,
        &hmac_key,
        &mut emitted,
        &["rules", "lint", "--config", &config],
    );
    assert_eq!(lint.code, 2, "{}", lint.all());
    std::fs::write(&config, good_config).unwrap();
    for (path, body) in [
        (
            "/api/v1/acknowledge",
            json!({"environment": "staging", "source": "app-secrets", "note": "rotation"}),
        ),
        (
            "/api/v1/deploys",
            json!({"environment": "production", "minutes": 5, "note": "release"}),
        ),
        ("/api/v1/reload", json!({})),
    ] {
        let (status, body) = api.post(path, body, Some(&token), &mut emitted).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    let (out, err) = daemon.stop();
    assert!(
        err.contains("DEBUG"),
        "the daemon logged at debug level: {err}"
    );
    // What carries a secret is still logged, masked: the HTTP source's URL, the failed
    // webhook delivery (host only: the path is the credential) and Alertmanager's URL.
    assert!(err.contains("?access_token=***"), "{err}");
    assert!(
        err.contains(&format!("error=http://{host}/…: HTTP status server error")),
        "{err}"
    );
    assert!(
        err.contains(&format!("url=http://{am_user}:***@{host}")),
        "{err}"
    );
    emitted.add("daemon stdout (text logs)", out);
    emitted.add("daemon stderr (text logs)", err);

    // ---- Restarted with JSON logs: the store is read back, collected again, served again.
    server.alertmanager_failures.store(1, Ordering::SeqCst);
    let daemon = DaemonProcess::start(&demo, &hmac_key, "json", logs.path()).await;
    let api = Api {
        client: http_client(),
        base: daemon.base.clone(),
        token: api_token.clone(),
    };
    api.run_all(&mut emitted).await;
    api.visit_everything(&mut emitted).await;
    let before = server.received("/api/v2/alerts").len();
    server
        .wait_for("/api/v2/alerts", |r| r.len() > before + 1)
        .await;
    let (out, err) = daemon.stop();
    assert!(
        err.lines()
            .any(|l| l.starts_with('{') && l.contains("\"DEBUG\"")),
        "the daemon logged JSON at debug level: {err}"
    );
    emitted.add("daemon stdout (JSON logs)", out);
    emitted.add("daemon stderr (JSON logs)", err);

    // ---- The CLI: every command and output format, in both log formats.
    let reports = demo.path().join("reports");
    std::fs::create_dir_all(&reports).unwrap();
    for format in ["text", "json", "junit", "markdown"] {
        let run = cli(
            &demo,
            &hmac_key,
            &mut emitted,
            &["check", "--config", &config, "--format", format],
        );
        assert_eq!(run.code, 2, "qa is unknown: {}", run.all());
    }
    for format in ["html", "markdown", "junit", "json", "text"] {
        for from_store in [false, true] {
            let file = reports.join(format!("report-{from_store}.{format}"));
            let mut args = vec![
                "report",
                "--config",
                &config,
                "--format",
                format,
                "-o",
                file.to_str().unwrap(),
            ];
            if from_store {
                args.push("--from-store");
            }
            cli(&demo, &hmac_key, &mut emitted, &args);
            assert!(file.exists(), "{}", file.display());
        }
    }
    for pair in ["staging-vs-production", "qa-vs-production"] {
        cli(
            &demo,
            &hmac_key,
            &mut emitted,
            &["diff", "--config", &config, "--pair", pair],
        );
        cli(
            &demo,
            &hmac_key,
            &mut emitted,
            &["diff", "--config", &config, "--pair", pair, "--json"],
        );
        cli(
            &demo,
            &hmac_key,
            &mut emitted,
            &[
                "signoff", "--config", &config, "--pair", pair, "--by", "dana",
            ],
        );
    }
    for (source, path) in [
        ("app-secrets", "DB_PASSWORD"),
        ("app-secrets", "DATABASE_URL"),
        ("app-keys", "oauth/client_secret"),
        ("api", "payments/client_secret"),
        ("pg", "settings"),
    ] {
        cli(
            &demo,
            &hmac_key,
            &mut emitted,
            &[
                "explain",
                "--config",
                &config,
                "--pair",
                "staging-vs-production",
                "--source",
                source,
                path,
            ],
        );
    }
    for env in ["production", "staging", "qa"] {
        let run = cli(
            &demo,
            &hmac_key,
            &mut emitted,
            &["snapshot", "--config", &config, "--env", env],
        );
        if env == "qa" {
            assert_ne!(run.code, 0, "{}", run.all());
            assert!(
                run.all().contains("***@"),
                "the error names the masked URL: {}",
                run.all()
            );
        }
    }
    cli(
        &demo,
        &hmac_key,
        &mut emitted,
        &["rules", "lint", "--config", &config],
    );
    let check = cli(
        &demo,
        &hmac_key,
        &mut emitted,
        &["check", "--config", &config, "--format", "json"],
    );
    assert!(
        check.stdout.contains(&hashed(&env_prod[0])),
        "the CLI shows the secret change as the keyed hash: {}",
        check.stdout
    );

    // ---- Everything emitted and every file left behind, searched.
    emitted.add_files(&state_dir);
    emitted.add_files(&reports);
    emitted.add_files(logs.path());
    for request in server.received("/api/v2/alerts") {
        emitted.add(
            "Alertmanager push (body)",
            String::from_utf8_lossy(&request.body),
        );
    }
    for request in server.received("/hooks/") {
        emitted.add(
            "webhook delivery (body)",
            String::from_utf8_lossy(&request.body),
        );
        let mut headers = request.headers.clone();
        headers.remove("x-driftwarden-signature");
        emitted.add("webhook delivery (headers)", format!("{headers:?}"));
    }
    assert!(
        std::fs::read_dir(&state_dir)
            .unwrap()
            .any(|e| e.unwrap().file_name() == "store.db"),
        "the SQLite store is searched"
    );
    let planted = secrets.0.clone();
    let found: Vec<String> = emitted
        .0
        .iter()
        .flat_map(|(place, text)| leaks(&planted, place, text))
        .collect();
    assert!(
        found.is_empty(),
        "{} leak(s) of planted secrets:\n{}",
        found.len(),
        found.join("\n\n")
    );
}
