//! The file, HTTP and command collectors against real files, a real local HTTP server and real
//! programs.

use std::collections::BTreeMap;
use std::path::{Path as FsPath, PathBuf};
use std::time::{Duration, Instant};

use driftwarden::collectors::{command, file, http, CollectError};
use driftwarden::config::{FileFormat, Secret};
use driftwarden::snapshot::{Node, Path, Tree};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

// ---------------------------------------------------------------------------------------------
// helpers

fn fixture(name: &str) -> PathBuf {
    FsPath::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/config")
        .join(name)
}

async fn collect_fixture(name: &str, format: FileFormat) -> Tree {
    file::collect(&fixture(name), format)
        .await
        .unwrap_or_else(|err| panic!("{name}: {err}"))
}

#[track_caller]
fn at<'a>(tree: &'a Tree, path: &str) -> &'a Node {
    tree.get(&tree_path(path))
        .unwrap_or_else(|| panic!("no {path:?} in {tree}"))
}

#[track_caller]
fn tree_path(path: &str) -> Path {
    Path::parse(path).unwrap_or_else(|err| panic!("{err}"))
}

fn text(value: &str) -> Node {
    Node::str(value)
}

fn has(tree: &Tree, path: &str) -> bool {
    tree.get(&tree_path(path)).is_some()
}

/// The (target, line, column, message) of a parse error; panics on any other result.
#[track_caller]
fn parse_error(
    result: Result<Tree, CollectError>,
) -> (String, Option<usize>, Option<usize>, String) {
    match result {
        Err(CollectError::Parse {
            target,
            line,
            column,
            message,
        }) => (target, line, column, message),
        other => panic!("expected a parse error, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// files: each format

#[tokio::test]
async fn yaml_file_gives_nested_keys_lists_by_index_merges_and_only_the_first_document() {
    let tree = collect_fixture("app.yaml", FileFormat::Yaml).await;
    assert_eq!(at(&tree, "server/host"), &text("0.0.0.0"));
    assert_eq!(at(&tree, "server/port"), &Node::Int(8080));
    assert_eq!(at(&tree, "database/pool"), &Node::Int(5));
    assert_eq!(at(&tree, "database/replicas/1/host"), &text("replica-2"));
    assert_eq!(at(&tree, "database/replicas/0/lag_ms"), &Node::Int(20));
    assert_eq!(at(&tree, "features/0"), &text("search"));
    assert_eq!(
        at(&tree, "worker/retries"),
        &Node::Int(7),
        "own key beats merge"
    );
    assert_eq!(at(&tree, "worker/backoff"), &Node::Float(2.5), "merged in");
    assert!(!has(&tree, "worker/<<"));
    assert_eq!(at(&tree, "enabled"), &Node::Bool(true));
    assert_eq!(at(&tree, "nothing"), &Node::Null);
    assert!(!has(&tree, "ignored"), "the second document is not read");
}

#[tokio::test]
async fn json_file_keeps_types_and_addresses_list_items_by_index() {
    let tree = collect_fixture("app.json", FileFormat::Json).await;
    assert_eq!(at(&tree, "server/port"), &Node::Int(8080));
    assert_eq!(at(&tree, "database/replicas/1/lag_ms"), &Node::Int(35));
    assert_eq!(at(&tree, "features/1"), &text("checkout"));
    assert_eq!(at(&tree, "timeout"), &Node::Float(2.5));
    assert_eq!(at(&tree, "nothing"), &Node::Null);
    assert_eq!(tree.leaf_count(), 13);
}

#[tokio::test]
async fn toml_file_gives_tables_arrays_of_tables_and_dates_as_text() {
    let tree = collect_fixture("app.toml", FileFormat::Toml).await;
    assert_eq!(at(&tree, "title"), &text("shop"));
    assert_eq!(at(&tree, "released"), &text("2024-05-01T10:00:00Z"));
    assert_eq!(at(&tree, "server/port"), &Node::Int(8080));
    assert_eq!(at(&tree, "database/replicas/0/host"), &text("replica-1"));
    assert_eq!(at(&tree, "database/replicas/1/lag_ms"), &Node::Int(35));
}

#[tokio::test]
async fn env_file_handles_export_quotes_escapes_comments_and_keeps_every_value_a_string() {
    let tree = collect_fixture("app.env", FileFormat::Env).await;
    assert_eq!(at(&tree, "APP_NAME"), &text("shop"));
    assert_eq!(
        at(&tree, "POOL"),
        &text("6"),
        "last duplicate wins, still a string"
    );
    assert_eq!(
        at(&tree, "DATABASE_URL"),
        &text("postgres://app@db:5432/shop")
    );
    assert_eq!(at(&tree, "GREETING"), &text("hello\nworld"));
    assert_eq!(
        at(&tree, "LITERAL"),
        &text("keep \\n as is # not a comment")
    );
    assert_eq!(at(&tree, "LOG_LEVEL"), &text("info"));
    assert_eq!(
        at(&tree, "COLOR"),
        &text("#ff0000"),
        "# without a space before it"
    );
    assert_eq!(at(&tree, "EMPTY"), &text(""));
    assert_eq!(at(&tree, "SPACED"), &text("padded value"));
    assert_eq!(at(&tree, "MULTILINE"), &text("first\nsecond"));
    assert!(!has(&tree, "export POOL"));
}

#[tokio::test]
async fn properties_file_nests_dotted_keys_joins_continuations_and_keeps_conflicting_keys_flat() {
    let tree = collect_fixture("app.properties", FileFormat::Properties).await;
    assert_eq!(
        at(&tree, "spring/datasource/url"),
        &text("jdbc:postgresql://db:5432/shop")
    );
    assert_eq!(at(&tree, "spring/datasource/username"), &text("app"));
    assert_eq!(at(&tree, "spring/jpa/show-sql"), &text("false"));
    assert_eq!(at(&tree, "server/port"), &text("8080"), "`key value` form");
    assert_eq!(
        at(&tree, "app/description"),
        &text("first part, second part")
    );
    assert_eq!(at(&tree, "app/path"), &text("C:\\data\\shop"));
    // `logging.level` is both a value and a prefix: both keys stay flat, nothing is lost.
    assert_eq!(at(&tree, "logging.level"), &text("INFO"));
    assert_eq!(at(&tree, "logging.level.org.hibernate"), &text("WARN"));
    assert!(!has(&tree, "logging"));
}

#[tokio::test]
async fn ini_file_nests_sections_keeps_root_keys_and_the_last_duplicate_wins() {
    let tree = collect_fixture("app.ini", FileFormat::Ini).await;
    assert_eq!(at(&tree, "name"), &text("shop"));
    assert_eq!(at(&tree, "server/host"), &text("0.0.0.0"));
    assert_eq!(at(&tree, "server/port"), &text("8080"));
    assert_eq!(at(&tree, "database/pool"), &text("10"));
    assert_eq!(at(&tree, "database/password"), &text("p;ss#word"));
    assert_eq!(at(&tree, "database/skip-name-resolve"), &Node::Null);
}

#[tokio::test]
async fn the_same_setting_in_yaml_and_env_is_visibly_typed_differently() {
    let yaml = collect_fixture("app.yaml", FileFormat::Yaml).await;
    let env = file::parse("POOL=5\n", FileFormat::Env, "x.env").unwrap();
    assert_eq!(at(&yaml, "database/pool"), &Node::Int(5));
    assert_eq!(at(&env, "POOL"), &text("5"), "no type guessing");
    assert_ne!(at(&yaml, "database/pool"), at(&env, "POOL"));
}

#[test]
fn a_document_whose_root_is_not_a_map_is_kept_under_document() {
    let tree = file::parse("[1, {\"a\": 2}]", FileFormat::Json, "list.json").unwrap();
    assert_eq!(at(&tree, "document/1/a"), &Node::Int(2));
    let tree = file::parse("just text\n", FileFormat::Yaml, "scalar.yaml").unwrap();
    assert_eq!(at(&tree, "document"), &text("just text"));
    let tree = file::parse("# only a comment\n", FileFormat::Yaml, "empty.yaml").unwrap();
    assert_eq!(tree, Node::map());
}

// ---------------------------------------------------------------------------------------------
// files: errors

#[tokio::test]
async fn malformed_yaml_is_a_parse_error_naming_the_file_and_line() {
    let (target, line, column, message) =
        parse_error(file::collect(&fixture("bad.yaml"), FileFormat::Yaml).await);
    assert!(target.ends_with("bad.yaml"), "{target}");
    assert_eq!(line, Some(6), "{message}");
    assert!(column.is_some());
    assert!(
        message.contains("mapping values are not allowed"),
        "{message}"
    );
}

#[tokio::test]
async fn malformed_json_is_a_parse_error_naming_the_file_and_line() {
    let err = file::collect(&fixture("bad.json"), FileFormat::Json).await;
    let shown = format!("{}", err.as_ref().unwrap_err());
    let (target, line, column, message) = parse_error(err);
    assert!(target.ends_with("bad.json"), "{target}");
    assert_eq!((line, column), (Some(5), Some(3)), "{message}");
    assert!(message.contains("trailing comma"), "{message}");
    assert!(shown.ends_with("bad.json:5:3: trailing comma"), "{shown}");
}

#[tokio::test]
async fn malformed_toml_is_a_parse_error_naming_the_file_and_line() {
    let (target, line, _, message) =
        parse_error(file::collect(&fixture("bad.toml"), FileFormat::Toml).await);
    assert!(target.ends_with("bad.toml"), "{target}");
    assert_eq!(line, Some(6), "{message}");
}

#[tokio::test]
async fn malformed_env_is_a_parse_error_naming_the_file_and_line() {
    let (target, line, _, message) =
        parse_error(file::collect(&fixture("bad.env"), FileFormat::Env).await);
    assert!(target.ends_with("bad.env"), "{target}");
    assert_eq!(line, Some(4));
    assert!(message.contains("KEY=value"), "{message}");
    let (_, line, _, message) = parse_error(file::parse(
        "A=1\nB=\"never closed\nC=3\n",
        FileFormat::Env,
        "x.env",
    ));
    assert_eq!(line, Some(2), "the line the quote opened on");
    assert!(message.contains("unterminated"), "{message}");
}

#[test]
fn malformed_ini_and_properties_are_parse_errors_at_their_line() {
    let (_, line, _, _) = parse_error(file::parse(
        "[ok]\na=1\n[broken\n",
        FileFormat::Ini,
        "x.ini",
    ));
    assert_eq!(line, Some(3));
    let (_, line, _, message) = parse_error(file::parse(
        "a=1\nb=\\u00zz\n",
        FileFormat::Properties,
        "x.properties",
    ));
    assert_eq!(line, Some(2), "{message}");
}

#[tokio::test]
async fn a_missing_file_is_a_connect_error_with_a_hint() {
    let err = file::collect(&fixture("no-such-file.yaml"), FileFormat::Yaml)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "connect");
    match &err {
        CollectError::Connect { message, hint, .. } => {
            assert_eq!(message, "file does not exist");
            assert!(hint.is_some());
        }
        other => panic!("{other:?}"),
    }
    let dir = tempfile::tempdir().unwrap();
    let err = file::collect(dir.path(), FileFormat::Yaml)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "connect", "{err}");
}

#[tokio::test]
async fn invalid_utf8_is_a_parse_error_at_the_bad_byte() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("latin1.yaml");
    std::fs::write(&path, b"name: shop\ncity: M\xfcnchen\n").unwrap();
    let (_, line, column, message) = parse_error(file::collect(&path, FileFormat::Yaml).await);
    assert_eq!((line, column), (Some(2), Some(8)));
    assert!(message.contains("UTF-8"), "{message}");
}

#[tokio::test]
async fn a_file_over_the_default_16_mib_is_refused_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.json");
    let huge = std::fs::File::create(&path).unwrap();
    huge.set_len(16 * 1024 * 1024 + 1).unwrap(); // sparse: costs no disk
    let started = Instant::now();
    let err = file::collect(&path, FileFormat::Json).await.unwrap_err();
    assert_eq!(err.reason(), "query");
    assert!(
        err.to_string()
            .contains("file is larger (16777217 bytes) than the source's max_bytes (16 MiB)"),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn deeply_nested_json_yaml_and_toml_give_errors_not_stack_overflows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deep.json");
    std::fs::write(&path, "[".repeat(100_000)).unwrap();
    let (_, _, _, message) = parse_error(file::collect(&path, FileFormat::Json).await);
    assert!(message.contains("nested too deeply"), "{message}");

    let (_, _, _, message) = parse_error(file::parse(
        &"[".repeat(100_000),
        FileFormat::Yaml,
        "deep.yaml",
    ));
    assert!(message.contains("nested too deeply"), "{message}");
    let block: String = (0..300)
        .map(|i| format!("{}k{i}:\n", "  ".repeat(i)))
        .collect();
    let (_, _, _, message) = parse_error(file::parse(&block, FileFormat::Yaml, "deep.yaml"));
    assert!(message.contains("nested too deeply"), "{message}");

    let toml = format!("a = {}", "[".repeat(100_000));
    let (_, _, _, message) = parse_error(file::parse(&toml, FileFormat::Toml, "deep.toml"));
    assert!(message.contains("nested too deeply"), "{message}");

    let dotted = format!("{}=1\n", vec!["k"; 500].join("."));
    let (_, line, _, message) = parse_error(file::parse(
        &dotted,
        FileFormat::Properties,
        "deep.properties",
    ));
    assert_eq!(line, Some(1));
    assert!(message.contains("nested too deeply"), "{message}");
}

#[test]
fn a_yaml_alias_bomb_is_refused_quickly() {
    let mut bomb = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
    for pair in names.windows(2) {
        let refs = vec![format!("*{}", pair[0]); 9].join(",");
        bomb.push_str(&format!("{0}: &{0} [{refs}]\n", pair[1]));
    }
    // Fully expanded this would be 9^9 ≈ 387 million strings.
    let started = Instant::now();
    let (_, _, _, message) = parse_error(file::parse(&bomb, FileFormat::Yaml, "bomb.yaml"));
    assert!(message.contains("alias"), "{message}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

// ---------------------------------------------------------------------------------------------
// HTTP against a real local server

/// What the test server does with a request.
enum Reply {
    /// Writes these bytes, then closes.
    Full(Vec<u8>),
    /// Accepts the request and never answers.
    Silent,
    /// Answers 200 and streams a body that never ends.
    Endless,
}

/// A hand-rolled HTTP/1.1 server on `127.0.0.1:0`. Hand-rolled because no external service
/// can run where these tests run, and a tiny TcpListener is enough: it is still a real socket,
/// so the client under test does real connects, writes and streamed reads. Every request head
/// it receives is passed on through `requests`.
struct TestServer {
    base: String,
    requests: mpsc::UnboundedReceiver<String>,
}

async fn serve(handler: fn(&str) -> Reply) -> TestServer {
    let listener = match TcpListener::bind("127.0.0.1:0").await {
        Ok(listener) => listener,
        Err(err) => panic!("cannot bind a local port: {err}"),
    };
    let base = match listener.local_addr() {
        Ok(addr) => format!("http://{addr}"),
        Err(err) => panic!("no local address: {err}"),
    };
    let (sender, requests) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let sender = sender.clone();
            tokio::spawn(answer(socket, handler, sender));
        }
    });
    TestServer { base, requests }
}

async fn answer(
    mut socket: TcpStream,
    handler: fn(&str) -> Reply,
    sender: mpsc::UnboundedSender<String>,
) {
    let head = read_head(&mut socket).await;
    let reply = handler(&head);
    sender.send(head).ok();
    match reply {
        Reply::Full(bytes) => {
            socket.write_all(&bytes).await.ok();
            socket.shutdown().await.ok();
        }
        Reply::Silent => tokio::time::sleep(Duration::from_secs(60)).await,
        Reply::Endless => {
            let head =
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n[";
            if socket.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let chunk = "1,".repeat(8192);
            while socket.write_all(chunk.as_bytes()).await.is_ok() {}
        }
    }
}

/// Reads the request line and headers (a GET has no body).
async fn read_head(socket: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut buffer = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
        match socket.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buffer[..n]),
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

fn respond(status: &str, content_type: &str, body: &str) -> Reply {
    Reply::Full(
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

const ENV_JSON: &str = r#"{"activeProfiles": ["prod"], "propertySources": [{"name": "application.yml", "properties": {"server.port": {"value": 8080}, "pool": 5}}]}"#;

async fn get(
    url: &str,
    headers: &[(&str, &str)],
    pointer: Option<&str>,
    max_bytes: u64,
    timeout: Duration,
) -> Result<Tree, CollectError> {
    let headers: BTreeMap<String, Secret> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), Secret::new(*v)))
        .collect();
    http::collect(&Secret::new(url), &headers, pointer, max_bytes, timeout).await
}

const SECOND: Duration = Duration::from_secs(1);
const MIB: u64 = 1024 * 1024;

#[tokio::test]
async fn http_json_200_gives_the_tree_and_the_server_receives_the_authorization_header() {
    let mut server = serve(|head| {
        if head
            .to_ascii_lowercase()
            .contains("\r\nauthorization: bearer t0ken\r\n")
        {
            respond("200 OK", "application/json", ENV_JSON)
        } else {
            respond("401 Unauthorized", "text/plain", "no token")
        }
    })
    .await;
    let url = format!("{}/actuator/env", server.base);
    let tree = get(
        &url,
        &[("Authorization", "Bearer t0ken")],
        None,
        MIB,
        5 * SECOND,
    )
    .await
    .unwrap();
    assert_eq!(at(&tree, "activeProfiles/0"), &text("prod"));
    assert_eq!(
        at(&tree, "propertySources/0/properties/server.port/value"),
        &Node::Int(8080)
    );
    let head = server.requests.recv().await.unwrap();
    assert!(head.starts_with("GET /actuator/env HTTP/1.1\r\n"), "{head}");
    let lower = head.to_ascii_lowercase();
    assert!(lower.contains("\r\nuser-agent: driftwarden/"), "{head}");
}

#[tokio::test]
async fn http_pointer_keeps_only_the_selected_sub_document() {
    let server = serve(|_| respond("200 OK", "application/json", ENV_JSON)).await;
    let tree = get(
        &server.base,
        &[],
        Some("/propertySources/0/properties"),
        MIB,
        5 * SECOND,
    )
    .await
    .unwrap();
    assert_eq!(at(&tree, "pool"), &Node::Int(5));
    assert!(!has(&tree, "activeProfiles"));

    let err = get(
        &server.base,
        &[],
        Some("/propertySources/4/properties"),
        MIB,
        5 * SECOND,
    )
    .await
    .unwrap_err();
    assert_eq!(err.reason(), "query");
    assert!(err.to_string().contains("JSON pointer"), "{err}");
    assert!(err.to_string().contains("not found"), "{err}");
}

#[tokio::test]
async fn http_503_is_a_query_error_that_does_not_show_the_password_in_the_url() {
    let server = serve(|_| respond("503 Service Unavailable", "text/plain", "down")).await;
    let url = server.base.replace("http://", "http://ops:hunter2@");
    let err = get(&url, &[], None, MIB, 5 * SECOND).await.unwrap_err();
    assert_eq!(err.reason(), "query");
    let shown = err.to_string();
    assert!(shown.ends_with("HTTP 503 Service Unavailable"), "{shown}");
    assert!(!shown.contains("hunter2"), "{shown}");
}

#[tokio::test]
async fn http_401_and_403_are_auth_errors() {
    let server = serve(|_| respond("401 Unauthorized", "text/plain", "who are you")).await;
    let err = get(&server.base, &[], None, MIB, 5 * SECOND)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "auth", "{err}");
    let server = serve(|_| respond("403 Forbidden", "text/plain", "no")).await;
    let err = get(&server.base, &[], None, MIB, 5 * SECOND)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "auth", "{err}");
    assert!(err.to_string().contains("HTTP 403 Forbidden"), "{err}");
}

#[tokio::test]
async fn http_non_json_body_is_a_parse_error_with_location_and_hint() {
    let server = serve(|_| {
        respond(
            "200 OK",
            "text/html",
            "<html>\n<body>maintenance</body>\n</html>",
        )
    })
    .await;
    let (_, line, column, message) =
        parse_error(get(&server.base, &[], None, MIB, 5 * SECOND).await);
    assert_eq!((line, column), (Some(1), Some(1)));
    assert!(
        message.contains("the endpoint did not return JSON"),
        "{message}"
    );
    assert!(message.contains("text/html"), "{message}");
}

#[tokio::test]
async fn http_refused_port_is_a_connect_error() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }; // dropped: nothing listens there now
    let err = get(
        &format!("http://127.0.0.1:{port}/"),
        &[("X-Api-Key", "k3y")],
        None,
        MIB,
        5 * SECOND,
    )
    .await
    .unwrap_err();
    assert_eq!(err.reason(), "connect", "{err}");
    assert!(!err.to_string().contains("k3y"));
}

#[tokio::test]
async fn http_server_that_never_answers_is_a_timeout() {
    let server = serve(|_| Reply::Silent).await;
    let started = Instant::now();
    let err = get(&server.base, &[], None, MIB, Duration::from_millis(300))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        CollectError::Timeout {
            after: Duration::from_millis(300)
        }
    );
    assert!(started.elapsed() < 5 * SECOND);
}

#[tokio::test]
async fn http_body_streaming_forever_is_cut_at_max_bytes_without_hanging() {
    let server = serve(|_| Reply::Endless).await;
    let started = Instant::now();
    let result = tokio::time::timeout(
        20 * SECOND,
        get(&server.base, &[], None, 64 * 1024, 60 * SECOND),
    )
    .await
    .expect("the cap, not a timeout, must stop the read");
    let err = result.unwrap_err();
    assert_eq!(err.reason(), "query");
    assert!(
        err.to_string()
            .ends_with("response body exceeds 65536 bytes"),
        "{err}"
    );
    assert!(started.elapsed() < 10 * SECOND);
}

#[tokio::test]
async fn http_declared_content_length_over_max_bytes_is_refused() {
    let server = serve(|_| {
        respond(
            "200 OK",
            "application/json",
            &format!("[{}0]", "0,".repeat(600)),
        )
    })
    .await;
    let err = get(&server.base, &[], None, 1000, 5 * SECOND)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .ends_with("response body exceeds 1000 bytes"),
        "{err}"
    );
}

#[tokio::test]
async fn http_redirects_are_followed_on_the_same_host_and_refused_to_another() {
    let server = serve(|head| {
        if head.starts_with("GET /old ") {
            Reply::Full(b"HTTP/1.1 302 Found\r\nLocation: /new\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec())
        } else if head.starts_with("GET /away ") {
            // Same port, but another host name: headers must not follow.
            let port = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("host: 127.0.0.1:").map(str::to_string))
                .unwrap_or_default();
            Reply::Full(format!("HTTP/1.1 302 Found\r\nLocation: http://localhost:{port}/new\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").into_bytes())
        } else {
            respond("200 OK", "application/json", r#"{"moved": true}"#)
        }
    })
    .await;
    let tree = get(&format!("{}/old", server.base), &[], None, MIB, 5 * SECOND)
        .await
        .unwrap();
    assert_eq!(at(&tree, "moved"), &Node::Bool(true));
    let err = get(&format!("{}/away", server.base), &[], None, MIB, 5 * SECOND)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "query");
    assert!(err.to_string().contains("another host"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// commands

fn argv(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn here() -> PathBuf {
    std::env::temp_dir()
}

#[tokio::test]
async fn command_json_stdout_becomes_the_tree_and_a_pointer_selects_part_of_it() {
    let cmd = argv(&["sh", "-c", r#"echo '{"a": 1, "b": {"list": [10, 20]}}'"#]);
    let tree = command::collect(&cmd, &here(), None, MIB).await.unwrap();
    assert_eq!(at(&tree, "a"), &Node::Int(1));
    assert_eq!(at(&tree, "b/list/1"), &Node::Int(20));
    let tree = command::collect(&cmd, &here(), Some("/b"), MIB)
        .await
        .unwrap();
    assert_eq!(at(&tree, "list/0"), &Node::Int(10));
}

#[tokio::test]
async fn command_runs_in_its_working_directory_without_a_shell() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("state.json"), r#"{"from": "file"}"#).unwrap();
    let tree = command::collect(&argv(&["cat", "state.json"]), dir.path(), None, MIB)
        .await
        .unwrap();
    assert_eq!(at(&tree, "from"), &text("file"));
    // No shell: `$HOME` reaches the program as text.
    let (_, line, _, _) =
        parse_error(command::collect(&argv(&["echo", "$HOME"]), dir.path(), None, MIB).await);
    assert_eq!(line, Some(1));
}

#[tokio::test]
async fn command_nonzero_exit_is_a_query_error_quoting_the_end_of_stderr() {
    let cmd = argv(&[
        "sh",
        "-c",
        "for i in 1 2 3 4 5 6 7; do echo \"line $i\" >&2; done; echo 'cannot reach postgres://app:hunter2@db/shop' >&2; exit 3",
    ]);
    let err = command::collect(&cmd, &here(), None, MIB)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "query");
    let shown = err.to_string();
    assert!(
        shown.starts_with("sh: exited with status 3: line 4 | line 5"),
        "{shown}"
    );
    assert!(!shown.contains("line 3"), "{shown}");
    assert!(shown.contains("postgres://app:***@db/shop"), "{shown}");
    assert!(!shown.contains("hunter2"), "{shown}");
}

#[tokio::test]
async fn command_stderr_with_terminal_escapes_is_quoted_as_text() {
    // A failing tool that clears the screen, rewrites the line and flips the text direction:
    // the error reaches logs, the CLI and the API, so none of that may act on a terminal.
    let cmd = argv(&[
        "sh",
        "-c",
        "printf 'fine\\033[2J\\rforged line\\342\\200\\256evil\\n' >&2; exit 1",
    ]);
    let err = command::collect(&cmd, &here(), None, MIB)
        .await
        .unwrap_err();
    let shown = err.to_string();
    assert!(
        shown.ends_with("fine\\u{1b}[2J\\u{d}forged line\\u{202e}evil"),
        "{shown:?}"
    );
    assert!(
        !shown.contains(['\u{1b}', '\r', '\n', '\u{202e}']),
        "{shown:?}"
    );
}

#[tokio::test]
async fn command_program_not_found_is_a_connect_error_with_a_hint() {
    let err = command::collect(&argv(&["driftwarden-no-such-program"]), &here(), None, MIB)
        .await
        .unwrap_err();
    match err {
        CollectError::Connect { message, hint, .. } => {
            assert_eq!(message, "program not found");
            assert!(hint.unwrap().contains("PATH"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn command_non_json_stdout_is_a_parse_error_with_location() {
    let cmd = argv(&["sh", "-c", "echo '{\"ok\": 1,'; echo 'oops'"]);
    let (target, line, column, message) =
        parse_error(command::collect(&cmd, &here(), None, MIB).await);
    assert_eq!(target, "sh");
    assert_eq!((line, column), (Some(2), Some(1)), "{message}");
    assert!(message.contains("did not print JSON"), "{message}");
}

#[tokio::test]
async fn command_stdout_over_max_bytes_is_cut_and_the_program_stopped() {
    let started = Instant::now();
    let result = tokio::time::timeout(
        20 * SECOND,
        command::collect(&argv(&["yes"]), &here(), None, 4096),
    )
    .await
    .expect("the cap must stop an endless command");
    let err = result.unwrap_err();
    assert_eq!(err.reason(), "query");
    assert!(
        err.to_string().ends_with("stdout exceeds 4096 bytes"),
        "{err}"
    );
    assert!(started.elapsed() < 10 * SECOND);
}

/// Whether process `pid` is gone or a zombie waiting to be reaped (dead either way).
#[cfg(target_os = "linux")]
fn is_dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // "pid (comm) S ...": the state follows the last ')'.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
    }
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_sleeping_command_under_a_timeout_returns_promptly_and_its_process_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    // `exec` makes the shell's pid the sleep's pid, so the pid file names the process to check.
    let cmd = argv(&["sh", "-c", "echo $$ > pid; exec sleep 30"]);
    let started = Instant::now();
    let outcome = tokio::time::timeout(SECOND, command::collect(&cmd, dir.path(), None, MIB)).await;
    assert!(outcome.is_err(), "the timeout must fire first");
    assert!(started.elapsed() < 3 * SECOND, "{:?}", started.elapsed());

    let pid: u32 = std::fs::read_to_string(dir.path().join("pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let deadline = Instant::now() + 5 * SECOND;
    while !is_dead(pid) {
        assert!(
            Instant::now() < deadline,
            "process {pid} still running after the timeout"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_timed_out_command_takes_its_background_children_with_it() {
    let dir = tempfile::tempdir().unwrap();
    // The grandchild keeps stdout open, so only killing the whole process group ends it.
    let cmd = argv(&["sh", "-c", "sleep 30 & echo $! > pid; wait"]);
    let outcome = tokio::time::timeout(SECOND, command::collect(&cmd, dir.path(), None, MIB)).await;
    assert!(outcome.is_err(), "the timeout must fire first");
    let pid: u32 = std::fs::read_to_string(dir.path().join("pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let deadline = Instant::now() + 5 * SECOND;
    while !is_dead(pid) {
        assert!(
            Instant::now() < deadline,
            "background process {pid} survived the timeout"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
