//! An in-process daemon on a random port over a freshly built demo (the zero-to-production
//! `spawn_app` idea), with typed request helpers.

use std::net::SocketAddr;
use std::time::Duration;

use driftwarden::app::{Daemon, DaemonOptions};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::Demo;

/// A running daemon and the demo it watches.
pub struct TestDaemon {
    pub demo: Demo,
    pub addr: SocketAddr,
    pub shutdown: CancellationToken,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    client: reqwest::Client,
}

/// Builds the demo and starts a daemon on it. Scheduled runs are an hour apart (after the
/// first), so tests drive collections with `POST /api/v1/run`.
pub async fn spawn_daemon() -> TestDaemon {
    spawn_daemon_with(|_| {}).await
}

/// Like [`spawn_daemon`], after `edit` changed the demo (config, rules, files).
pub async fn spawn_daemon_with(edit: impl FnOnce(&Demo)) -> TestDaemon {
    let demo = Demo::build();
    demo.edit(
        "driftwarden.toml",
        "interval = \"15s\"",
        "interval = \"1h\"",
    );
    edit(&demo);
    start(demo).await
}

/// Starts a daemon on an existing demo folder.
pub async fn start(demo: Demo) -> TestDaemon {
    let options = DaemonOptions {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        shutdown_grace: Duration::from_secs(5),
        replica: None,
    };
    let daemon = Daemon::build(&demo.path().join("driftwarden.toml"), options)
        .await
        .expect("daemon builds");
    let addr = daemon.addr().unwrap();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(daemon.run_until_stopped(shutdown.clone()));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let daemon = TestDaemon {
        demo,
        addr,
        shutdown,
        task: Some(task),
        client,
    };
    daemon.wait_ready().await;
    daemon
}

impl TestDaemon {
    /// `GET path` → (status, body text).
    pub async fn get_text(&self, path: &str) -> (u16, String) {
        let response = self
            .client
            .get(format!("http://{}{path}", self.addr))
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// `GET path` → (status, JSON).
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let (status, text) = self.get_text(path).await;
        (
            status,
            serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {text}")),
        )
    }

    /// `POST path` with a JSON body and an optional bearer token → (status, JSON).
    pub async fn post_as(&self, path: &str, body: Value, token: Option<&str>) -> (u16, Value) {
        let mut request = self
            .client
            .post(format!("http://{}{path}", self.addr))
            .json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {text}")),
        )
    }

    /// `POST path` with a JSON body → (status, JSON).
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.post_as(path, body, None).await
    }

    /// Collects everything now and waits for it.
    pub async fn run_all(&self) -> Value {
        let (status, body) = self.post("/api/v1/run", serde_json::json!({})).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Open findings of the demo pair.
    pub async fn open_findings(&self) -> Vec<Value> {
        let (status, body) = self
            .get("/api/v1/findings?pair=staging-vs-production&state=open")
            .await;
        assert_eq!(status, 200, "{body}");
        body.as_array().unwrap().clone()
    }

    /// The /metrics text.
    pub async fn metrics(&self) -> String {
        let (status, text) = self.get_text("/metrics").await;
        assert_eq!(status, 200);
        text
    }

    /// Waits until /readyz says ready (every source attempted once).
    pub async fn wait_ready(&self) {
        for _ in 0..200 {
            if self.get_text("/readyz").await.0 == 200 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "daemon not ready after 10 s: {:?}",
            self.get_text("/readyz").await
        );
    }

    /// Stops the daemon and waits for it.
    pub async fn stop(mut self) -> Demo {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
        std::mem::replace(&mut self.demo, Demo::empty())
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The value of a metric series in the text exposition (labels exactly as written).
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|line| line.starts_with(series) && line[series.len()..].starts_with(' '))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}
