//! `compose.yaml` and the `Dockerfile` cannot run here (no container engine), so their syntax
//! and wiring are checked: valid YAML with the Compose keys, a build that points at the
//! Dockerfile, the three ports, and a Dockerfile made only of known instructions. Grafana
//! does not run here either: its provisioning files are checked to reach Lookout on :3000, to
//! link the data sources to each other by uid, and to hold every uid the demo dashboards name.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn compose_file_builds_lookout_from_the_dockerfile_and_publishes_its_ports() {
    let text = std::fs::read_to_string(root().join("compose.yaml")).unwrap();
    let compose: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    let top: Vec<&str> = compose.as_mapping().unwrap().keys().map(|k| k.as_str().unwrap()).collect();
    assert!(
        top.iter().all(|k| ["services", "volumes", "networks", "configs", "secrets", "name"].contains(k)),
        "{top:?}"
    );
    let lookout = &compose["services"]["lookout"];
    let dockerfile = lookout["build"]["dockerfile"].as_str().unwrap();
    assert!(root().join(lookout["build"]["context"].as_str().unwrap()).join(dockerfile).is_file());
    let ports: Vec<&str> = lookout["ports"].as_sequence().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    assert_eq!(ports, ["3000:3000", "4317:4317", "4318:4318"]);
    for volume in lookout["volumes"].as_sequence().unwrap() {
        let name = volume.as_str().unwrap().split(':').next().unwrap();
        assert!(compose["volumes"].get(name).is_some(), "named volume {name} is declared");
    }
}

#[test]
fn compose_demo_profile_runs_lookout_demo_with_the_demo_ports() {
    let text = std::fs::read_to_string(root().join("compose.yaml")).unwrap();
    let compose: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    let demo = &compose["services"]["demo"];
    assert_eq!(demo["profiles"][0].as_str(), Some("demo"));
    assert_eq!(demo["command"][0].as_str(), Some("demo"));
    let ports: Vec<&str> = demo["ports"].as_sequence().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    for port in ["3000:3000", "8080:8080", "5672:5672", "15672:15672"] {
        assert!(ports.contains(&port), "{port} in {ports:?}");
    }
    // The command's flags are ones `lookout demo` knows.
    let args: Vec<&str> = demo["command"].as_sequence().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lookout")).args(&args).arg("--help").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn dockerfile_uses_known_instructions_and_runs_lookout() {
    let text = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    let known =
        ["FROM", "RUN", "COPY", "WORKDIR", "USER", "EXPOSE", "VOLUME", "ENTRYPOINT", "CMD", "ENV", "ARG", "LABEL"];
    let mut instructions = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let word = line.split_whitespace().next().unwrap();
        assert!(known.contains(&word), "unknown Dockerfile instruction {word:?}");
        instructions.push(word);
    }
    assert_eq!(instructions[0], "FROM");
    assert!(text.contains("EXPOSE 3000 4317 4318"));
    assert!(text.contains("cargo build --release --locked --bin lookout"));
    for json_form in
        text.lines().filter(|l| l.starts_with("ENTRYPOINT") || l.starts_with("CMD") || l.starts_with("VOLUME"))
    {
        let args = json_form.split_once(' ').unwrap().1;
        serde_json::from_str::<Vec<String>>(args).unwrap_or_else(|e| panic!("{json_form}: {e}"));
    }
    let copied = text.lines().find(|l| l.starts_with("COPY config/")).unwrap().split_whitespace().nth(1).unwrap();
    assert!(root().join(copied).is_file(), "{copied} exists");
}

/// `compose.yaml`, parsed.
fn compose() -> serde_yaml_ng::Value {
    serde_yaml_ng::from_str(&std::fs::read_to_string(root().join("compose.yaml")).unwrap()).unwrap()
}

/// A service's `host:container[:mode]` bind mounts as (host path in the repo, container path).
fn bind_mounts(service: &serde_yaml_ng::Value) -> Vec<(std::path::PathBuf, String)> {
    let volumes = service["volumes"].as_sequence().unwrap();
    let binds = volumes.iter().map(|v| v.as_str().unwrap()).filter(|v| v.starts_with("./"));
    binds
        .map(|v| {
            let mut parts = v.split(':');
            (root().join(parts.next().unwrap()), parts.next().unwrap().to_owned())
        })
        .collect()
}

/// The repo folder `compose.yaml` mounts at Grafana's provisioning path.
fn grafana_provisioning_dir() -> std::path::PathBuf {
    let mounts = bind_mounts(&compose()["services"]["grafana"]);
    mounts.into_iter().find(|(_, target)| target == "/etc/grafana/provisioning").unwrap().0
}

/// A Grafana provisioning file, checked for `apiVersion: 1` and for values that Grafana's
/// expansion of `$VAR` and `${VAR}` would change: none here mean to, so every `$` is `$$`.
fn provisioning_file(kind: &str) -> serde_yaml_ng::Value {
    fn no_expansion(value: &serde_yaml_ng::Value) {
        match value {
            serde_yaml_ng::Value::String(s) => assert!(!s.replace("$$", "").contains('$'), "unescaped `$` in {s:?}"),
            serde_yaml_ng::Value::Sequence(items) => items.iter().for_each(no_expansion),
            serde_yaml_ng::Value::Mapping(map) => map.values().for_each(no_expansion),
            _ => {}
        }
    }
    let text = std::fs::read_to_string(grafana_provisioning_dir().join(kind).join("lookout.yaml")).unwrap();
    let file: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    assert_eq!(file["apiVersion"].as_u64(), Some(1));
    no_expansion(&file);
    file
}

/// The provisioned data sources' uids and types.
fn provisioned_datasources() -> std::collections::BTreeMap<String, String> {
    let file = provisioning_file("datasources");
    let sources = file["datasources"].as_sequence().unwrap();
    sources.iter().map(|d| (d["uid"].as_str().unwrap().to_owned(), d["type"].as_str().unwrap().to_owned())).collect()
}

#[test]
fn compose_grafana_publishes_3001_and_mounts_provisioning_from_the_repo() {
    let compose = compose();
    let grafana = &compose["services"]["grafana"];
    let image = grafana["image"].as_str().unwrap();
    let tag = image.rsplit_once(':').map(|(_, tag)| tag).unwrap_or_default();
    assert!(image.starts_with("grafana/grafana") && tag.starts_with(char::is_numeric), "pinned: {image}");
    let ports: Vec<&str> = grafana["ports"].as_sequence().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    assert_eq!(ports, ["3001:3000"]);
    for (key, value) in [
        ("GF_AUTH_ANONYMOUS_ENABLED", "true"),
        ("GF_AUTH_ANONYMOUS_ORG_ROLE", "Admin"),
        ("GF_AUTH_DISABLE_LOGIN_FORM", "true"),
    ] {
        assert_eq!(grafana["environment"][key].as_str(), Some(value), "{key}");
    }
    assert_eq!(grafana["depends_on"][0].as_str(), Some("lookout"));
    let volumes: Vec<&str> = grafana["volumes"].as_sequence().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(volumes.contains(&"./config/grafana/provisioning:/etc/grafana/provisioning:ro"), "{volumes:?}");
    for (host, target) in bind_mounts(grafana) {
        assert!(host.is_dir(), "{} (mounted at {target}) is a folder in the repo", host.display());
    }
    for kind in ["datasources", "dashboards"] {
        assert!(grafana_provisioning_dir().join(kind).join("lookout.yaml").is_file(), "{kind}/lookout.yaml");
    }
}

#[test]
fn grafana_datasources_reach_lookout_and_the_demo_on_port_3000() {
    let compose = compose();
    let services = compose["services"].as_mapping().unwrap();
    let file = provisioning_file("datasources");
    let sources = file["datasources"].as_sequence().unwrap();
    let kinds: Vec<(&str, &str)> =
        sources.iter().map(|d| (d["type"].as_str().unwrap(), d["uid"].as_str().unwrap())).collect();
    assert_eq!(kinds, [("prometheus", "lookout-prometheus"), ("loki", "lookout-loki"), ("tempo", "lookout-tempo")]);
    assert_eq!(sources[0]["isDefault"].as_bool(), Some(true));
    assert_eq!(sources[0]["jsonData"]["httpMethod"].as_str(), Some("POST"));
    for source in sources {
        let url = source["url"].as_str().unwrap();
        let (host, port) = url.strip_prefix("http://").unwrap().split_once(':').unwrap();
        assert_eq!(port, "3000", "{url}");
        // The services that answer to `host`: by their name, or by a network alias.
        let answering: Vec<&str> = services
            .iter()
            .filter(|(name, service)| {
                name.as_str() == Some(host)
                    || service["networks"]["default"]["aliases"]
                        .as_sequence()
                        .is_some_and(|aliases| aliases.iter().any(|a| a.as_str() == Some(host)))
            })
            .map(|(name, _)| name.as_str().unwrap())
            .collect();
        assert_eq!(answering, ["lookout", "demo"], "{url} reaches Lookout and the demo");
        for name in answering {
            let ports = compose["services"][name]["ports"].as_sequence().unwrap();
            assert!(ports.iter().any(|p| p.as_str().unwrap().ends_with(":3000")), "{name} listens on 3000");
        }
    }
}

#[test]
fn grafana_datasources_link_to_each_other_by_uid() {
    let uids = provisioned_datasources();
    let kind_of = |uid: &serde_yaml_ng::Value| uids.get(uid.as_str().unwrap()).map(String::as_str);
    let file = provisioning_file("datasources");
    let [prometheus, loki, tempo] = [0, 1, 2].map(|i| &file["datasources"][i]["jsonData"]);

    // Exemplars: OTLP metrics' carry `trace_id`; the span metrics' carry the generator's label.
    let destinations = prometheus["exemplarTraceIdDestinations"].as_sequence().unwrap();
    let names: Vec<&str> = destinations.iter().map(|d| d["name"].as_str().unwrap()).collect();
    let generated = lookout_ingest::generator::GeneratorOptions::default().trace_id_label_name;
    assert_eq!(names, ["trace_id", generated.as_str()]);
    for destination in destinations {
        assert_eq!(kind_of(&destination["datasourceUid"]), Some("tempo"), "{destination:?}");
    }

    // Logs → traces: the `trace_id` structured metadata label, to Tempo, the value unexpanded.
    let derived = &loki["derivedFields"][0];
    assert_eq!(derived["matcherType"].as_str(), Some("label"));
    assert_eq!(derived["matcherRegex"].as_str(), Some("trace_id"));
    assert_eq!(derived["url"].as_str(), Some("$${__value.raw}"));
    assert_eq!(kind_of(&derived["datasourceUid"]), Some("tempo"));

    // Traces → logs, metrics and the service graph.
    let to_logs = &tempo["tracesToLogsV2"];
    assert_eq!(kind_of(&to_logs["datasourceUid"]), Some("loki"));
    assert_eq!(to_logs["filterByTraceID"].as_bool(), Some(true));
    assert_eq!(to_logs["tags"][0]["key"].as_str(), Some("service.name"));
    assert_eq!(to_logs["tags"][0]["value"].as_str(), Some("service_name"));
    assert_eq!(kind_of(&tempo["lokiSearch"]["datasourceUid"]), Some("loki"));
    assert_eq!(kind_of(&tempo["serviceMap"]["datasourceUid"]), Some("prometheus"));
    assert_eq!(kind_of(&tempo["tracesToMetrics"]["datasourceUid"]), Some("prometheus"));
    assert_eq!(tempo["nodeGraph"]["enabled"].as_bool(), Some(true));
    // Lookout has no gRPC streaming API for Grafana to use instead of HTTP.
    assert_eq!(tempo["streamingEnabled"]["search"].as_bool(), Some(false));
}

/// Every `"datasource": {…}` object in a dashboard, as (uid, type).
fn dashboard_datasources(value: &serde_json::Value, out: &mut Vec<(String, String)>) {
    match value {
        serde_json::Value::Object(object) => {
            for (key, child) in object {
                if key == "datasource" {
                    let uid = child["uid"].as_str().unwrap_or_else(|| panic!("datasource without a uid: {child}"));
                    out.push((uid.to_owned(), child["type"].as_str().unwrap_or_default().to_owned()));
                } else {
                    dashboard_datasources(child, out);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|item| dashboard_datasources(item, out)),
        _ => {}
    }
}

#[test]
fn demo_dashboards_use_only_provisioned_datasource_uids() {
    let uids = provisioned_datasources();
    let mut dashboards = 0;
    for entry in std::fs::read_dir(root().join("demo/dashboards")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        dashboards += 1;
        let dashboard: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let mut used = Vec::new();
        dashboard_datasources(&dashboard, &mut used);
        assert!(!used.is_empty(), "{} names no data source", path.display());
        for (uid, kind) in used {
            assert_eq!(uids.get(&uid), Some(&kind), "{}: data source {uid} ({kind}) is provisioned", path.display());
        }
    }
    assert!(dashboards > 0);
}

#[test]
fn grafana_dashboard_provider_reads_the_mounted_demo_dashboards() {
    let file = provisioning_file("dashboards");
    let providers = file["providers"].as_sequence().unwrap();
    assert_eq!(providers.len(), 1);
    let provider = &providers[0];
    assert_eq!(provider["type"].as_str(), Some("file"));
    assert_eq!(provider["folder"].as_str(), Some("Lookout demo"));
    let path = provider["options"]["path"].as_str().unwrap();
    let mounts = bind_mounts(&compose()["services"]["grafana"]);
    let (host, _) = mounts.iter().find(|(_, target)| target == path).unwrap_or_else(|| panic!("{path} is mounted"));
    assert_eq!(host, &root().join("demo/dashboards"));
}
