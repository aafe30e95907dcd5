//! Hostile input: documents nested to overflow a stack, files far too large, devices that
//! never end, binary and non-UTF-8 text, YAML alias bombs, identifiers full of control
//! characters, and HTTP servers that stream forever, lie about their size or never answer.
//! Each must end in a clear error naming the file or source (or in safely escaped output),
//! never in a panic, a hang or gigabytes of memory.

use std::path::{Path as FsPath, PathBuf};
use std::time::Duration;

use axum::body::Body;
use axum::routing::get;
use axum::Router;
use driftwarden::collectors::{self, file, CollectError};
use driftwarden::config::{self, FileFormat, SourceConfig, SourceKind};
use driftwarden::rules::RuleSet;
use driftwarden::snapshot::redact::Redactor;
use driftwarden::snapshot::Path;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::helpers::{driftwarden_in, sqlite_exec};

/// Stack of tokio's blocking threads, where file sources are parsed (and of test threads).
const PARSER_STACK: usize = 2 * 1024 * 1024;

const MIB: u64 = 1024 * 1024;

fn write(dir: &FsPath, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// A sparse file of `len` bytes: the size is real to the OS but costs no disk.
fn sparse(dir: &FsPath, name: &str, len: u64) -> PathBuf {
    let path = dir.join(name);
    std::fs::File::create(&path).unwrap().set_len(len).unwrap();
    path
}

/// The error of a parse that must fail, run on a thread with the parser threads' stack.
fn parse_on_small_stack(text: String, format: FileFormat, name: &'static str) -> CollectError {
    std::thread::Builder::new()
        .stack_size(PARSER_STACK)
        .spawn(move || file::parse(&text, format, name))
        .unwrap()
        .join()
        .expect("the parser must not crash")
        .expect_err("the document must be refused")
}

/// A config in `dir` with the given sources and a key file inside `dir`.
fn config_with(dir: &FsPath, sources: &str) -> PathBuf {
    write(
        dir,
        "driftwarden.toml",
        format!("[secrets]\nkey_file = \"hmac.key\"\n{sources}"),
    )
}

fn source(config: &config::Config, env: &str, name: &str) -> SourceConfig {
    config.source(env, name).unwrap().clone()
}

async fn collect(source: &SourceConfig) -> Result<(), CollectError> {
    let redactor = Redactor::new(b"test-key".to_vec(), &[]);
    // Generous outer bound: a hang fails the test instead of blocking the suite.
    tokio::time::timeout(
        Duration::from_secs(60),
        collectors::collect(source, &redactor),
    )
    .await
    .expect("collection must end on its own")
    .map(|_| ())
}

// ---------------------------------------------------------------------------------------------
// Nesting

#[test]
fn documents_nested_deeper_than_the_limit_are_errors_in_every_format_and_shape() {
    const N: usize = 100_000;
    let cases: Vec<(FileFormat, &str, String)> = vec![
        (FileFormat::Json, "arrays.json", "[".repeat(N)),
        (FileFormat::Json, "objects.json", "{\"a\":".repeat(N)),
        (FileFormat::Yaml, "flow.yaml", "[".repeat(N)),
        (FileFormat::Yaml, "flow-maps.yaml", "{a: ".repeat(N)),
        (
            FileFormat::Yaml,
            "block.yaml",
            (0..2_000)
                .map(|i| format!("{}k:\n", " ".repeat(i)))
                .collect(),
        ),
        (
            FileFormat::Yaml,
            "block-lists.yaml",
            (0..2_000)
                .map(|i| format!("{}-\n", " ".repeat(i)))
                .collect(),
        ),
        (
            FileFormat::Toml,
            "arrays.toml",
            format!("a = {}", "[".repeat(N)),
        ),
        (
            FileFormat::Toml,
            "inline.toml",
            format!("a = {}", "{b = ".repeat(N)),
        ),
        (
            FileFormat::Toml,
            "dotted.toml",
            format!("{} = 1\n", vec!["k"; N].join(".")),
        ),
        (
            FileFormat::Toml,
            "header.toml",
            format!("[{}]\nx = 1\n", vec!["k"; N].join(".")),
        ),
        (
            FileFormat::Properties,
            "dotted.properties",
            format!("{}=1\n", vec!["k"; N].join(".")),
        ),
    ];
    for (format, name, text) in cases {
        let err = parse_on_small_stack(text, format, name);
        let message = err.to_string();
        assert!(message.starts_with(name), "{message}");
        assert!(
            message.contains("nested too deeply") || message.contains("recursion"),
            "{name}: {message}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Size

#[tokio::test]
async fn a_200_mb_config_file_source_is_refused_naming_the_file_and_max_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let huge = sparse(dir.path(), "huge.yaml", 200 * MIB);
    let err = file::collect(&huge, FileFormat::Yaml).await.unwrap_err();
    assert_eq!(err.reason(), "query");
    let message = err.to_string();
    assert!(
        message.starts_with(&huge.display().to_string()),
        "{message}"
    );
    assert!(
        message.contains("(209715200 bytes) than the source's max_bytes (16 MiB)"),
        "{message}"
    );
    assert!(message.contains("raise max_bytes"), "{message}");
}

#[tokio::test]
async fn a_file_source_takes_its_own_max_bytes_and_a_device_stops_at_it() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "app.json",
        format!("{{\"pad\": \"{}\"}}", "x".repeat(2048)),
    );
    let config = config::load(&config_with(
        dir.path(),
        r#"
[environments.e.sources.small]
kind = "file"
path = "app.json"
max_bytes = 1024
[environments.e.sources.roomy]
kind = "file"
path = "app.json"
max_bytes = 4096
[environments.e.sources.endless]
kind = "file"
path = "/dev/zero"
format = "json"
max_bytes = 65536
"#,
    ))
    .unwrap();
    let small = source(&config, "e", "small");
    assert!(matches!(
        small.kind,
        SourceKind::File {
            max_bytes: 1024,
            ..
        }
    ));
    let message = collect(&small).await.unwrap_err().to_string();
    assert!(message.contains("app.json"), "{message}");
    assert!(message.contains("max_bytes (1 KiB)"), "{message}");
    collect(&source(&config, "e", "roomy")).await.unwrap();

    // /dev/zero reports a size of 0 and never ends: only the cap stops the read.
    let err = collect(&source(&config, "e", "endless")).await.unwrap_err();
    assert_eq!(err.reason(), "query", "{err}");
    assert!(
        err.to_string()
            .starts_with("/dev/zero: file is larger than the source's max_bytes (64 KiB)"),
        "{err}"
    );
}

#[test]
fn a_huge_or_endless_driftwarden_config_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let huge = sparse(dir.path(), "driftwarden.toml", 200 * MIB);
    let err = config::load(&huge).unwrap_err();
    assert_eq!(err.file, huge);
    assert!(err.message.contains("larger than 4 MiB"), "{err}");
    let err = config::load(FsPath::new("/dev/zero")).unwrap_err();
    assert!(err.to_string().starts_with("/dev/zero: "), "{err}");
    assert!(err.message.contains("larger than 4 MiB"), "{err}");
}

#[test]
fn huge_and_binary_rules_files_are_refused_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let huge = sparse(dir.path(), "huge.toml", 200 * MIB);
    let err = RuleSet::load(std::slice::from_ref(&huge), false).unwrap_err();
    assert_eq!(err.file, huge);
    assert!(
        err.message
            .starts_with("cannot read rules file: the file is larger than 4 MiB"),
        "{err}"
    );

    // A binary file (a gzip header) where rules were expected, on line 2.
    let binary = write(
        dir.path(),
        "binary.toml",
        b"# rules\n\x1f\x8b\x08\x00\x00\x00\x00\x00",
    );
    let err = RuleSet::load(std::slice::from_ref(&binary), false).unwrap_err();
    assert_eq!(err.file, binary);
    assert_eq!((err.line, err.column), (Some(2), Some(2)));
    assert!(err.message.contains("not UTF-8"), "{err}");

    // Valid UTF-8 full of control characters is a located TOML error, not a crash.
    let controls = write(dir.path(), "controls.toml", "[[rule]]\nid = \"a\0\x1b\"\n");
    let err = RuleSet::load(std::slice::from_ref(&controls), false).unwrap_err();
    assert_eq!(err.file, controls);
    assert_eq!(err.line, Some(2), "{err}");
}

#[test]
fn a_binary_config_and_secret_files_that_never_end_are_refused_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let png = write(
        dir.path(),
        "driftwarden.toml",
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    );
    let err = config::load(&png).unwrap_err();
    assert_eq!(
        (err.file.as_path(), err.line, err.column),
        (png.as_path(), Some(1), Some(1))
    );
    assert!(err.message.contains("not UTF-8"), "{err}");

    let config = config_with(
        dir.path(),
        "[environments.e.sources.api]\nkind = \"http\"\nurl_file = \"/dev/zero\"\n",
    );
    let err = config::load(&config).unwrap_err();
    assert_eq!(err.file, config);
    assert!(
        err.message
            .contains("cannot read secret file /dev/zero: the file is larger than 64 KiB"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// Encoding

#[tokio::test]
async fn invalid_utf8_in_every_config_format_is_an_error_at_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (FileFormat::Json, "a.json", "{\n\"a\": 1,\n\"b\": \"x\u{1}"),
        (FileFormat::Yaml, "a.yaml", "a: 1\nb: 2\nc: x\u{1}"),
        (FileFormat::Toml, "a.toml", "a = 1\nb = 2\nc = \"x\u{1}"),
        (FileFormat::Env, "a.env", "A=1\nB=2\nC=x\u{1}"),
        (FileFormat::Properties, "a.properties", "a=1\nb=2\nc=x\u{1}"),
        (FileFormat::Ini, "a.ini", "[s]\nb=2\nc=x\u{1}"),
    ];
    for (format, name, text) in cases {
        // The \u{1} placeholder becomes a Latin-1 byte that is not UTF-8.
        let bytes: Vec<u8> = text
            .bytes()
            .map(|b| if b == 1 { 0xe9 } else { b })
            .collect();
        let path = write(dir.path(), name, bytes);
        let err = file::collect(&path, format).await.unwrap_err();
        assert_eq!(err.reason(), "parse", "{err}");
        let message = err.to_string();
        assert!(
            message.starts_with(&format!("{}:3:", path.display())),
            "{message}"
        );
        assert!(message.contains("not valid UTF-8"), "{message}");
    }
}

// ---------------------------------------------------------------------------------------------
// YAML alias bombs

#[test]
fn yaml_alias_bombs_nested_flat_and_of_long_strings_are_refused() {
    // Nested: 9 levels of 9 references, 9^9 ≈ 387 million strings.
    let mut nested = String::from("a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n");
    let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
    for pair in names.windows(2) {
        let refs = vec![format!("*{}", pair[0]); 9].join(",");
        nested.push_str(&format!("{0}: &{0} [{refs}]\n", pair[1]));
    }
    // Flat: one anchored list of 10,000 items referenced 10,000 times (10^8 values from
    // 60 KB). Within serde_yaml_ng's own alias limit, this took gigabytes before the budget.
    let n = 10_000;
    let flat = format!(
        "a: &a [{}]\nb: [{}]\n",
        vec!["x"; n].join(","),
        vec!["*a"; n].join(",")
    );
    // Long strings: 64 KB referenced 100,000 times is 6.4 GB of text.
    let strings = format!(
        "s: &s {}\nt: [{}]\n",
        "y".repeat(64 * 1024),
        vec!["*s"; 100_000].join(",")
    );
    for (name, bomb) in [
        ("nested.yaml", nested),
        ("flat.yaml", flat),
        ("strings.yaml", strings),
    ] {
        let err = parse_on_small_stack(bomb, FileFormat::Yaml, name);
        let message = err.to_string();
        assert!(message.starts_with(name), "{message}");
        assert!(message.contains("alias bomb"), "{message}");
    }
}

#[test]
fn yaml_anchors_used_as_intended_still_load() {
    let mut text = String::from("defaults: &defaults\n  pool: 5\n  host: db\n");
    for i in 0..1_000 {
        text.push_str(&format!("svc{i}:\n  <<: *defaults\n  name: svc{i}\n"));
    }
    let tree = file::parse(&text, FileFormat::Yaml, "services.yaml").unwrap();
    assert_eq!(
        tree.get(&Path::parse("svc999/pool").unwrap())
            .and_then(|n| n.as_f64()),
        Some(5.0)
    );
}

// ---------------------------------------------------------------------------------------------
// Control characters in identifiers

/// Names with a newline, a terminal escape (clear screen, red, set title), a NUL, a carriage
/// return, DEL, an 8-bit CSI and a right-to-left override.
const EVIL_TABLE: &str = "t\n\u{1b}[2J\u{1b}[31mred";
const EVIL_COLUMN: &str = "c\u{1b}]0;pwned\u{7}\r\u{7f}";
const EVIL_KEY: &str = "k\u{0}\u{1b}[2J\nx\u{9b}31m\u{202e}";

fn sql_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Characters that must never reach a terminal raw.
fn is_dangerous(c: char) -> bool {
    (c.is_control() && c != '\n') || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[tokio::test]
async fn control_characters_in_sqlite_names_and_config_keys_are_kept_and_escaped_in_output() {
    let dir = tempfile::tempdir().unwrap();
    for env in ["prod", "stage"] {
        let db = dir.path().join(format!("{env}.db"));
        std::fs::File::create(&db).unwrap();
        sqlite_exec(&db, "CREATE TABLE plain (id INTEGER);").await;
    }
    sqlite_exec(
        &dir.path().join("stage.db"),
        &format!(
            "CREATE TABLE {} ({} TEXT);",
            sql_ident(EVIL_TABLE),
            sql_ident(EVIL_COLUMN)
        ),
    )
    .await;
    let prod = serde_json::json!({"view": "line one\nline two\n", "plain": 1});
    let stage = serde_json::json!({
        EVIL_KEY: "v\u{1b}[5m",
        "view": "line one\n\u{1b}[2Jline two\u{9b}\n",
        "plain": 1,
    });
    write(dir.path(), "prod.json", prod.to_string());
    write(dir.path(), "stage.json", stage.to_string());
    let config = config_with(
        dir.path(),
        r#"
[[pairs]]
name = "p"
baseline = "prod"
candidate = "stage"
[environments.prod.sources.db]
kind = "sqlite"
path = "prod.db"
[environments.stage.sources.db]
kind = "sqlite"
path = "stage.db"
[environments.prod.sources.conf]
kind = "file"
path = "prod.json"
[environments.stage.sources.conf]
kind = "file"
path = "stage.json"
"#,
    );

    // The snapshot keeps every name exactly, and its paths parse back to them.
    let loaded = config::load(&config).unwrap();
    let redactor = Redactor::new(b"test-key".to_vec(), &[]);
    let db = collectors::collect(&source(&loaded, "stage", "db"), &redactor)
        .await
        .unwrap();
    let table = format!("main.{EVIL_TABLE}");
    let column = Path::from_segments(["schema", "tables", &table, "columns", EVIL_COLUMN]);
    assert!(db.tree.get(&column).is_some(), "{}", db.tree);
    assert_eq!(Path::parse(&column.to_string()).unwrap(), column);
    let conf = collectors::collect(&source(&loaded, "stage", "conf"), &redactor)
        .await
        .unwrap();
    assert!(conf.tree.get(&Path::from_segments([EVIL_KEY])).is_some());

    // Text output: the findings are there, escaped, and nothing can drive the terminal.
    let run = driftwarden_in(dir.path(), &["check", "--config", "driftwarden.toml"]);
    assert_eq!(run.code, 1, "{}", run.all());
    for c in run.all().chars() {
        assert!(!is_dangerous(c), "raw {c:?} in:\n{}", run.all());
    }
    assert!(
        run.stdout.contains("main.t%0A%1B[2J%1B[31mred"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("k%00%1B[2J%0Ax"), "{}", run.stdout);
    assert!(
        run.stdout.contains("+\\u{1b}[2Jline two\\u{9b}"),
        "{}",
        run.stdout
    );

    // `diff` prints the raw changes the same safe way.
    let run = driftwarden_in(
        dir.path(),
        &["diff", "--config", "driftwarden.toml", "--pair", "p"],
    );
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.stdout.contains("k%00%1B[2J%0Ax"), "{}", run.stdout);
    for c in run.all().chars() {
        assert!(!is_dangerous(c), "raw {c:?} in:\n{}", run.all());
    }

    // JSON output keeps the exact names (escaped by JSON), for programs.
    let run = driftwarden_in(
        dir.path(),
        &["check", "--config", "driftwarden.toml", "--format", "json"],
    );
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let text = report.to_string();
    assert!(text.contains("k%00%1B[2J%0Ax"), "{text}");
}

// ---------------------------------------------------------------------------------------------
// HTTP servers that misbehave

/// An HTTP source for `url` with `max_bytes` and `timeout`, loaded through a config file.
fn http_source(dir: &FsPath, url: &str, max_bytes: u64, timeout: &str) -> SourceConfig {
    let config = config_with(
        dir,
        &format!(
            "[environments.e.sources.api]\nkind = \"http\"\nurl = \"{url}\"\n\
             max_bytes = {max_bytes}\ntimeout = \"{timeout}\"\n"
        ),
    );
    source(&config::load(&config).unwrap(), "e", "api")
}

async fn axum_server(router: Router) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}")
}

/// A raw TCP server that reads each request, then writes `reply` and keeps the connection
/// open without another byte.
async fn raw_server(reply: &'static [u8]) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                // Read the request head (a GET has no body), then answer.
                let mut head = Vec::new();
                let mut buffer = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buffer).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buffer[..n]),
                    }
                }
                socket.write_all(reply).await.ok();
                tokio::time::sleep(Duration::from_secs(120)).await;
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn an_http_body_that_streams_forever_is_cut_at_max_bytes() {
    let endless = futures_util::stream::repeat_with(|| {
        Ok::<_, std::io::Error>(axum::body::Bytes::from_static(b"[1,2,3,4,5,6,7,8,9,0],"))
    });
    let router = Router::new().route(
        "/env",
        get(move || async move { Body::from_stream(endless) }),
    );
    let base = axum_server(router).await;
    let dir = tempfile::tempdir().unwrap();
    let source = http_source(dir.path(), &format!("{base}/env"), 256 * 1024, "60s");
    let err = collect(&source).await.unwrap_err();
    // The cap ended it, not the 60 s timeout.
    assert_eq!(err.reason(), "query", "{err}");
    let message = err.to_string();
    assert!(message.starts_with(&format!("{base}/env")), "{message}");
    assert!(
        message.ends_with("response body exceeds 262144 bytes"),
        "{message}"
    );
}

#[tokio::test]
async fn an_http_content_length_of_a_terabyte_is_refused_before_reading() {
    let base = raw_server(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1099511627776\r\n\r\n[1,",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let err = collect(&http_source(dir.path(), &base, MIB, "60s"))
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "query", "{err}");
    assert!(
        err.to_string()
            .ends_with("response body exceeds 1048576 bytes"),
        "{err}"
    );
}

#[tokio::test]
async fn an_http_server_that_never_sends_headers_or_drips_its_body_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let silent = raw_server(b"").await;
    let err = collect(&http_source(dir.path(), &silent, MIB, "500ms"))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        CollectError::Timeout {
            after: Duration::from_millis(500)
        }
    );

    // Headers, then a body that never completes and stays under the cap.
    let dripping = raw_server(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\":",
    )
    .await;
    let err = collect(&http_source(dir.path(), &dripping, MIB, "500ms"))
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "timeout", "{err}");
}
