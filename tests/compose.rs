//! `compose.yaml` and the `Dockerfile` cannot run here (no container engine), so their syntax
//! and wiring are checked: valid YAML with the Compose keys, a build that points at the
//! Dockerfile, the three ports, and a Dockerfile made only of known instructions.

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
