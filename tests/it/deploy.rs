//! The files under `deploy/`: every YAML and JSON file parses, and the manifests, alert rules,
//! dashboard and sample configs say what the daemon needs (probes, ports, hardening, metric
//! names it really emits, configs it really accepts).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value as Json;
use serde_yaml_ng::Value as Yaml;

use driftwarden::rules::RuleSet;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn deploy(path: &str) -> PathBuf {
    root().join("deploy").join(path)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Every document of a (possibly multi-document) YAML file.
fn yaml_documents(path: &Path) -> Vec<Yaml> {
    let text = read(path);
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|doc| Yaml::deserialize(doc).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .filter(|doc| !doc.is_null())
        .collect()
}

fn yaml(path: &str) -> Yaml {
    let mut docs = yaml_documents(&deploy(path));
    assert_eq!(docs.len(), 1, "{path}: expected one YAML document");
    docs.remove(0)
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn has_extension(path: &Path, extensions: &[&str]) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| extensions.contains(&e))
}

fn str_at<'a>(value: &'a Yaml, keys: &[&str]) -> Option<&'a str> {
    keys.iter().try_fold(value, |v, k| v.get(*k))?.as_str()
}

/// Metric names the daemon emits, read from the source of its state collector (and `up`, which
/// Prometheus adds to every target).
fn emitted_metrics() -> BTreeSet<String> {
    let source = read(&root().join("src/sinks/metrics.rs"));
    let mut names: BTreeSet<String> = source
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| {
            s.starts_with("driftwarden_")
                && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
        .map(str::to_string)
        .collect();
    assert!(
        names.contains("driftwarden_findings_open") && names.len() > 10,
        "could not read the metric names from src/sinks/metrics.rs: {names:?}"
    );
    names.insert("up".to_string());
    names
}

/// Metric names a PromQL expression selects: identifiers that start with `driftwarden_` and
/// identifiers followed by a `{` matcher (label names never are).
fn metrics_in(expr: &str) -> Vec<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = Vec::new();
    let mut i = 0;
    let mut in_string = None;
    while i < chars.len() {
        let c = chars[i];
        if let Some(quote) = in_string {
            if c == '\\' {
                i += 1;
            } else if c == quote {
                in_string = None;
            }
            i += 1;
            continue;
        }
        if c == '"' || c == '\'' || c == '`' {
            in_string = Some(c);
            i += 1;
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || "_:".contains(chars[i])) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let next = chars[i..].iter().find(|c| !c.is_whitespace());
            if word.starts_with("driftwarden_") || next == Some(&'{') {
                names.push(word);
            }
            continue;
        }
        // Numbers such as 7e3 or 0x1f must not start an identifier.
        if c.is_ascii_digit() {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
            continue;
        }
        i += 1;
    }
    names
}

fn assert_known_metrics(expr: &str, known: &BTreeSet<String>, context: &str) {
    let used = metrics_in(expr);
    assert!(!used.is_empty(), "{context}: no metric in {expr:?}");
    for name in used {
        assert!(
            known.contains(&name),
            "{context}: metric {name} is not emitted by the daemon (src/sinks/metrics.rs)"
        );
    }
}

fn alert_rules(groups: &Yaml) -> Vec<&Yaml> {
    groups
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_sequence().unwrap())
        .collect()
}

#[test]
fn metric_extraction_sees_selectors_and_not_labels_or_functions() {
    let expr = r#"time() - max by (environment_name, source) (driftwarden_x_seconds{a="up{"}) > 3600 or absent(up{job="d"} == 1) and on() vector(7e3)"#;
    assert_eq!(metrics_in(expr), ["driftwarden_x_seconds", "up"]);
}

#[test]
fn every_yaml_and_json_file_under_deploy_parses() {
    let mut files = Vec::new();
    files_under(&root().join("deploy"), &mut files);
    let mut parsed = 0;
    for path in &files {
        if has_extension(path, &["yml", "yaml"]) {
            assert!(
                !yaml_documents(path).is_empty(),
                "{}: empty",
                path.display()
            );
            parsed += 1;
        } else if has_extension(path, &["json"]) {
            serde_json::from_str::<Json>(&read(path))
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            parsed += 1;
        }
    }
    // rules + tests + prometheus.yml, 7 Kubernetes files, dashboard, compose + 3 of its files.
    assert!(parsed >= 15, "only {parsed} YAML/JSON files under deploy/");
}

#[test]
fn every_kubernetes_object_is_named_and_kustomize_lists_them() {
    let mut files = Vec::new();
    files_under(&deploy("kubernetes"), &mut files);
    let mut kinds = BTreeSet::new();
    for path in files.iter().filter(|p| has_extension(p, &["yaml", "yml"])) {
        for doc in yaml_documents(path) {
            let what = path.display();
            let kind = str_at(&doc, &["kind"]).unwrap_or_else(|| panic!("{what}: no kind"));
            assert!(
                str_at(&doc, &["apiVersion"]).is_some(),
                "{what}: no apiVersion"
            );
            if kind != "Kustomization" {
                let name = str_at(&doc, &["metadata", "name"]);
                assert!(
                    name.is_some_and(|n| !n.is_empty()),
                    "{what}: no metadata.name"
                );
            }
            kinds.insert(kind.to_string());
        }
    }
    for kind in [
        "Deployment",
        "Service",
        "ConfigMap",
        "Secret",
        "ServiceMonitor",
        "PrometheusRule",
        "Kustomization",
    ] {
        assert!(kinds.contains(kind), "no {kind} under deploy/kubernetes");
    }

    let kustomization = yaml("kubernetes/kustomization.yaml");
    let resources: Vec<&str> = kustomization["resources"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    for resource in &resources {
        assert!(
            deploy("kubernetes").join(resource).is_file(),
            "kustomization lists missing {resource}"
        );
    }
    assert!(
        !resources.contains(&"secret.example.yaml"),
        "the example Secret must not be applied"
    );
}

#[test]
fn deployment_probes_listens_and_is_hardened() {
    let deployment = yaml("kubernetes/deployment.yaml");
    assert_eq!(deployment["kind"].as_str(), Some("Deployment"));
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"].as_bool(), Some(true));
    assert_eq!(
        str_at(pod, &["securityContext", "seccompProfile", "type"]),
        Some("RuntimeDefault")
    );
    let containers = pod["containers"].as_sequence().unwrap();
    assert_eq!(containers.len(), 1);
    let c = &containers[0];

    // The probes use the named port, which must be the one --listen binds.
    let port = c["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|p| p["name"].as_str() == Some("http"))
        .expect("a port named http");
    assert_eq!(port["containerPort"].as_u64(), Some(9977));
    let args: Vec<&str> = c["command"]
        .as_sequence()
        .unwrap()
        .iter()
        .chain(c["args"].as_sequence().unwrap())
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(
        args.windows(2).any(|w| w == ["--listen", "0.0.0.0:9977"]),
        "{args:?}"
    );
    assert!(args.windows(2).any(|w| w[0] == "--config"), "{args:?}");
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        let get = &c[probe]["httpGet"];
        assert_eq!(get["path"].as_str(), Some(path), "{probe}");
        let probe_port = &get["port"];
        assert!(
            probe_port.as_str() == Some("http") || probe_port.as_u64() == Some(9977),
            "{probe} port {probe_port:?}"
        );
    }

    let security = &c["securityContext"];
    assert_eq!(security["runAsNonRoot"].as_bool(), Some(true));
    assert_eq!(security["readOnlyRootFilesystem"].as_bool(), Some(true));
    assert_eq!(security["allowPrivilegeEscalation"].as_bool(), Some(false));
    let dropped: Vec<&str> = security["capabilities"]["drop"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();
    assert_eq!(dropped, ["ALL"]);
    for kind in ["requests", "limits"] {
        assert!(
            str_at(&c["resources"], &[kind, "memory"]).is_some(),
            "no memory {kind}"
        );
    }

    // Database URLs come from the Secret, under the names the config interpolates.
    let config_map = yaml("kubernetes/configmap.yaml");
    let config = str_at(&config_map, &["data", "driftwarden.toml"]).unwrap();
    for env in c["env"].as_sequence().unwrap() {
        if let Some(secret) = str_at(env, &["valueFrom", "secretKeyRef", "name"]) {
            assert_eq!(secret, "driftwarden-secrets");
        }
    }
    for var in ["PROD_DB_URL", "STAGING_DB_URL"] {
        assert!(
            config.contains(&format!("${{{var}}}")),
            "config lacks ${{{var}}}"
        );
        let env = c["env"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|e| e["name"].as_str() == Some(var))
            .unwrap_or_else(|| panic!("no env {var}"));
        assert_eq!(
            str_at(env, &["valueFrom", "secretKeyRef", "key"]),
            Some(var)
        );
    }

    // The state directory is a writable emptyDir mounted where the config puts state_dir.
    let state = c["volumeMounts"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|m| m["name"].as_str() == Some("state"))
        .expect("a state volume mount");
    let state_dir = state["mountPath"].as_str().unwrap();
    assert!(config.contains(&format!("state_dir = \"{state_dir}\"")));
    let volume = pod["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|v| v["name"].as_str() == Some("state"))
        .unwrap();
    assert!(volume.get("emptyDir").is_some());
}

#[test]
fn prometheus_rule_carries_the_same_groups_as_the_rules_file() {
    let rules = yaml("prometheus/driftwarden.rules.yml");
    let operator = yaml("kubernetes/prometheusrule.yaml");
    assert_eq!(operator["kind"].as_str(), Some("PrometheusRule"));
    assert!(
        operator["spec"]["groups"] == rules["groups"],
        "deploy/kubernetes/prometheusrule.yaml differs from deploy/prometheus/driftwarden.rules.yml: \
         run deploy/prometheus/sync-prometheusrule.sh"
    );
}

#[test]
fn every_alert_has_severity_annotations_a_runbook_section_and_a_promtool_test() {
    let rules = yaml("prometheus/driftwarden.rules.yml");
    let runbook = read(&root().join("docs/runbook.md"));
    let tests = read(&deploy("prometheus/driftwarden.rules.test.yml"));
    let known = emitted_metrics();
    let alerts = alert_rules(&rules["groups"]);
    assert!(alerts.len() >= 7, "{} alerts", alerts.len());
    for rule in alerts {
        let name = rule["alert"].as_str().expect("only alerting rules");
        let severity = str_at(rule, &["labels", "severity"]);
        assert!(
            matches!(severity, Some("critical" | "warning" | "info")),
            "{name}: severity {severity:?}"
        );
        for annotation in ["summary", "description", "runbook_url"] {
            let text = str_at(rule, &["annotations", annotation]);
            assert!(
                text.is_some_and(|t| !t.is_empty()),
                "{name}: no {annotation}"
            );
        }
        let url = str_at(rule, &["annotations", "runbook_url"]).unwrap();
        let anchor = url
            .split_once("docs/runbook.md#")
            .map(|(_, a)| a)
            .unwrap_or_else(|| panic!("{name}: runbook_url {url} is not docs/runbook.md#…"));
        assert_eq!(anchor, name.to_lowercase(), "{name}: anchor");
        assert!(
            runbook.lines().any(|l| l == format!("## {name}")),
            "docs/runbook.md has no section `## {name}`"
        );
        assert!(
            tests.contains(&format!("alertname: {name}\n")),
            "no promtool test for {name}"
        );
        assert_known_metrics(rule["expr"].as_str().unwrap(), &known, name);
    }
}

#[test]
fn dashboard_queries_use_metrics_the_daemon_emits() {
    let path = deploy("grafana/driftwarden.json");
    let dashboard: Json = serde_json::from_str(&read(&path)).unwrap();
    let known = emitted_metrics();
    assert_eq!(dashboard["__inputs"][0]["name"], "DS_PROMETHEUS");
    let panels = dashboard["panels"].as_array().unwrap();
    assert!(panels.len() >= 8, "{} panels", panels.len());
    for panel in panels {
        let title = panel["title"].as_str().unwrap();
        assert_eq!(panel["datasource"]["uid"], "${DS_PROMETHEUS}", "{title}");
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{title}: no targets");
        for target in targets {
            let expr = target["expr"].as_str().unwrap_or_default();
            assert!(!expr.trim().is_empty(), "{title}: empty expr");
            assert!(expr.contains("driftwarden_"), "{title}: {expr}");
            assert_known_metrics(expr, &known, title);
        }
    }
    for variable in dashboard["templating"]["list"].as_array().unwrap() {
        if let Some(query) = variable["definition"].as_str() {
            assert_known_metrics(query, &known, variable["name"].as_str().unwrap());
        }
    }
    // What the issue asks the dashboard to show.
    let all = serde_json::to_string(panels).unwrap();
    for metric in [
        "driftwarden_findings_open",
        "driftwarden_pair_state",
        "driftwarden_source_up",
        "driftwarden_collection_duration_seconds",
        "driftwarden_snapshot_leaves",
        "driftwarden_schema_objects",
        "driftwarden_changes_since_last_open",
        "driftwarden_config_last_reload_successful",
    ] {
        assert!(all.contains(metric), "no panel shows {metric}");
    }
}

#[test]
fn compose_mounts_existing_files_and_prometheus_loads_the_rules() {
    let compose = yaml("docker-compose.yml");
    let services = compose["services"].as_mapping().unwrap();
    for name in [
        "staging-db",
        "production-db",
        "driftwarden",
        "prometheus",
        "alertmanager",
        "grafana",
    ] {
        assert!(services.contains_key(name), "no service {name}");
    }
    for (name, service) in services {
        let Some(volumes) = service.get("volumes").and_then(Yaml::as_sequence) else {
            continue;
        };
        for volume in volumes {
            let spec = volume.as_str().unwrap();
            if let Some(local) = spec.strip_prefix("./") {
                let local = local.split(':').next().unwrap();
                assert!(deploy(local).exists(), "{name:?} mounts missing ./{local}");
            }
        }
    }
    let dockerfile = read(&deploy("Dockerfile"));
    assert!(dockerfile.contains("EXPOSE 9977"));
    assert!(dockerfile.contains(r#""--listen", "0.0.0.0:9977""#));

    let prometheus = yaml("prometheus/prometheus.yml");
    let job = prometheus["scrape_configs"][0]["job_name"].as_str();
    assert_eq!(
        job,
        Some("driftwarden"),
        "the absent alert expects job=driftwarden"
    );
    for file in prometheus["rule_files"].as_sequence().unwrap() {
        assert!(deploy("prometheus").join(file.as_str().unwrap()).is_file());
    }
}

/// Loads a sample config the way the daemon does (config, then its rules and the defaults).
fn assert_config_loads(config: &Path) {
    let env = |name: &str| match name {
        "PROD_DB_URL" | "STAGING_DB_URL" => Some(format!("postgres://ro:pw@{name}:5432/app")),
        _ => None,
    };
    let config = driftwarden::config::load_with_env(config, &env)
        .unwrap_or_else(|e| panic!("{}: {e}", config.display()));
    assert!(!config.pairs.is_empty());
    let rules = RuleSet::load(&config.rules, config.default_rules)
        .unwrap_or_else(|e| panic!("rules of {}: {e}", config.file.display()));
    assert!(rules.rules().iter().any(|r| r.id == "builtin-stats"));
}

#[test]
fn sample_configs_are_accepted_by_the_daemon() {
    // The ConfigMap, laid out as the Deployment mounts it.
    let dir = tempfile::tempdir().unwrap();
    let config_map = yaml("kubernetes/configmap.yaml");
    let deployment = yaml("kubernetes/deployment.yaml");
    let volume = deployment["spec"]["template"]["spec"]["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|v| v.get("configMap").is_some())
        .unwrap();
    for item in volume["configMap"]["items"].as_sequence().unwrap() {
        let key = item["key"].as_str().unwrap();
        let target = dir.path().join(item["path"].as_str().unwrap());
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        let text = str_at(&config_map, &["data", key]).unwrap_or_else(|| panic!("no key {key}"));
        std::fs::write(target, text).unwrap();
    }
    assert_config_loads(&dir.path().join("driftwarden.toml"));

    // The compose stack's config, from its folder.
    assert_config_loads(&deploy("compose/driftwarden.toml"));
}
