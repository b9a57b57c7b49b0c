//! Where dashboards come from: built in, provisioned from folders (read again on every call) and
//! saved from the UI as `<store_dir>/<uid>.json`. Merged by uid; a later source wins.
//!
//! Every method here does file work and blocks; the API calls them in `spawn_blocking`.

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use lookout_storage::Tenant;
use serde::Serialize;
use serde_json::Value;
use tracing::warn;

use super::grafana;
use super::model::{self, Dashboard, MAX_DASHBOARD_BYTES};
use super::{BuiltinDashboard, DashboardOptions};
use crate::{Error, Result};

/// Where a dashboard comes from, in the order they override each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Source {
    /// Compiled into the binary.
    Builtin,
    /// A file in a provisioning folder.
    Provisioned,
    /// Saved from the UI.
    Saved,
}

/// A dashboard and where it came from.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Entry {
    /// The dashboard.
    pub dashboard: Dashboard,
    /// Its source.
    pub source: Source,
    /// The file it was read from: a file name for builtin ones, else a path.
    pub file: String,
    /// What the Grafana import left out, when it was a Grafana dashboard.
    pub skipped: Vec<String>,
}

/// A provisioned or saved file that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub(crate) struct FileError {
    /// The file (or folder).
    pub file: String,
    /// Why.
    pub error: String,
}

/// All dashboards, the winner for each uid, and the files that failed.
#[derive(Debug, Default)]
pub(crate) struct Catalog {
    /// By uid.
    pub entries: BTreeMap<String, Entry>,
    /// Files that failed, in the order read.
    pub errors: Vec<FileError>,
}

/// The dashboard store.
#[derive(Debug)]
pub(crate) struct Store {
    builtin: Vec<Entry>,
    provision_paths: Vec<PathBuf>,
    store_dir: PathBuf,
    /// Held across a save's version check and write, and a delete.
    write_lock: Mutex<()>,
    /// File errors already logged, so that each is logged once rather than on every listing.
    reported: Mutex<HashSet<FileError>>,
}

impl Store {
    /// Reads the builtin dashboards; one that does not load is a bug, reported as an error.
    pub(crate) fn new(options: DashboardOptions, builtin: &[BuiltinDashboard]) -> Result<Store> {
        let mut entries = Vec::new();
        for b in builtin.iter().chain(&options.builtin) {
            let (dashboard, skipped) = read_dashboard(b.json)
                .map_err(|e| Error::Builtin { file: b.file_name.to_owned(), message: e.to_string() })?;
            entries.push(Entry { dashboard, source: Source::Builtin, file: b.file_name.to_owned(), skipped });
        }
        Ok(Store {
            builtin: entries,
            provision_paths: options.provision_paths,
            store_dir: options.store_dir,
            write_lock: Mutex::new(()),
            reported: Mutex::new(HashSet::new()),
        })
    }

    /// Every dashboard `tenant` sees, merged by uid.
    pub(crate) fn list(&self, tenant: &Tenant) -> Catalog {
        self.load(tenant, None)
    }

    /// The dashboard `uid` as it is shown: the saved copy, else the provisioned file, else builtin.
    pub(crate) fn get(&self, tenant: &Tenant, uid: &str) -> Result<Entry> {
        model::check_uid(uid)?;
        self.load(tenant, Some(uid)).entries.remove(uid).ok_or_else(|| Error::NotFound { uid: uid.to_owned() })
    }

    /// Saves the dashboard in `body` as `uid`, if its version is the one stored; returns the new
    /// version.
    pub(crate) fn save_json(&self, tenant: &Tenant, uid: &str, body: &[u8]) -> Result<u64> {
        model::check_uid(uid)?;
        let mut dashboard: Dashboard = serde_json::from_slice(body).map_err(Error::Json)?;
        if dashboard.uid != uid {
            return Err(Error::Invalid(format!(
                "uid: {:?} in the body does not match {uid:?} in the path",
                dashboard.uid
            )));
        }
        dashboard.validate()?;
        let _guard = self.write_lock.lock().unwrap_or_else(PoisonError::into_inner);
        let current = self.load(tenant, Some(uid)).entries.get(uid).map(|e| e.dashboard.version);
        if let Some(current) = current
            && current != dashboard.version
        {
            return Err(Error::Conflict { uid: uid.to_owned(), current, yours: dashboard.version });
        }
        dashboard.version = current.map_or(1, |v| v + 1);
        let compact = serde_json::to_vec(&dashboard).map_err(Error::Json)?;
        if compact.len() > MAX_DASHBOARD_BYTES {
            return Err(Error::TooLarge { limit: MAX_DASHBOARD_BYTES });
        }
        let mut pretty = serde_json::to_vec_pretty(&dashboard).map_err(Error::Json)?;
        pretty.push(b'\n');
        write_atomically(&self.saved_dir(tenant), &format!("{uid}.json"), &pretty)?;
        Ok(dashboard.version)
    }

    /// Deletes the saved copy of `uid`; a builtin or provisioned one cannot be deleted.
    pub(crate) fn delete(&self, tenant: &Tenant, uid: &str) -> Result<()> {
        model::check_uid(uid)?;
        let _guard = self.write_lock.lock().unwrap_or_else(PoisonError::into_inner);
        let path = self.saved_path(tenant, uid);
        match fs::remove_file(&path) {
            Ok(()) => sync_dir(&self.saved_dir(tenant)),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                if self.load(tenant, Some(uid)).entries.contains_key(uid) {
                    Err(Error::Provisioned { uid: uid.to_owned() })
                } else {
                    Err(Error::NotFound { uid: uid.to_owned() })
                }
            }
            Err(source) => Err(Error::Io { op: "deleting", path, source }),
        }
    }

    /// Where `tenant`'s saved dashboards are: the store directory itself for the default tenant
    /// (as before tenants existed), `tenants/<id>/` under it for the others.
    fn saved_dir(&self, tenant: &Tenant) -> PathBuf {
        if *tenant == Tenant::default() {
            self.store_dir.clone()
        } else {
            self.store_dir.join("tenants").join(tenant.as_str())
        }
    }

    fn saved_path(&self, tenant: &Tenant, uid: &str) -> PathBuf {
        self.saved_dir(tenant).join(format!("{uid}.json"))
    }

    /// Merges builtin, provisioned and `tenant`'s saved dashboards; with `only`, of the saved
    /// ones only that uid's file is read.
    fn load(&self, tenant: &Tenant, only: Option<&str>) -> Catalog {
        let mut catalog = Catalog::default();
        for entry in &self.builtin {
            catalog.entries.insert(entry.dashboard.uid.clone(), entry.clone());
        }
        let mut provisioned_by: BTreeMap<String, String> = BTreeMap::new();
        for dir in &self.provision_paths {
            let files = match json_files(dir) {
                Ok(files) => files,
                Err(e) => {
                    catalog.errors.push(FileError { file: dir.display().to_string(), error: e.to_string() });
                    continue;
                }
            };
            for path in files {
                let file = path.display().to_string();
                let (dashboard, skipped) = match read_file(&path) {
                    Ok(read) => read,
                    Err(error) => {
                        catalog.errors.push(FileError { file, error });
                        continue;
                    }
                };
                if let Some(earlier) = provisioned_by.insert(dashboard.uid.clone(), file.clone()) {
                    let error = format!("uid {:?} is also provisioned by {earlier}; this file wins", dashboard.uid);
                    catalog.errors.push(FileError { file: file.clone(), error });
                }
                let entry = Entry { dashboard, source: Source::Provisioned, file, skipped };
                catalog.entries.insert(entry.dashboard.uid.clone(), entry);
            }
        }
        let saved_dir = self.saved_dir(tenant);
        let saved = match only {
            Some(uid) => Ok(vec![saved_dir.join(format!("{uid}.json"))]),
            None => json_files(&saved_dir),
        };
        match saved {
            Ok(files) => {
                for path in files {
                    match read_saved(&path) {
                        Ok(Some(dashboard)) => {
                            let file = path.display().to_string();
                            let entry = Entry { dashboard, source: Source::Saved, file, skipped: Vec::new() };
                            catalog.entries.insert(entry.dashboard.uid.clone(), entry);
                        }
                        Ok(None) => {}
                        Err(error) => catalog.errors.push(FileError { file: path.display().to_string(), error }),
                    }
                }
            }
            // Nothing has been saved yet.
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => catalog.errors.push(FileError { file: saved_dir.display().to_string(), error: e.to_string() }),
        }
        self.report(&catalog.errors);
        catalog
    }

    /// Logs each file error the first time it is seen.
    fn report(&self, errors: &[FileError]) {
        if errors.is_empty() {
            return;
        }
        let mut reported = self.reported.lock().unwrap_or_else(PoisonError::into_inner);
        for e in errors {
            if reported.insert(e.clone()) {
                warn!(file = %e.file, error = %e.error, "cannot read dashboard file");
            }
        }
    }
}

/// Reads dashboard JSON: a Lookout dashboard (with `rows`) as it is, a Grafana dashboard (with
/// `panels`, or wrapped in `{"dashboard": ...}`) through the import. Returns what the import
/// skipped.
pub(crate) fn read_dashboard(text: &str) -> Result<(Dashboard, Vec<String>)> {
    let value: Value = serde_json::from_str(text).map_err(Error::Json)?;
    let has = |key: &str| value.get(key).is_some();
    if has("rows") && !has("panels") && !has("schemaVersion") && !has("dashboard") {
        // Read again from the text so that serde's errors carry line and column.
        let dashboard: Dashboard = serde_json::from_str(text).map_err(Error::Json)?;
        dashboard.validate()?;
        return Ok((dashboard, Vec::new()));
    }
    if !has("panels") && !has("dashboard") && !has("rows") {
        return Err(Error::Invalid(
            "neither a Lookout dashboard (no \"rows\") nor a Grafana dashboard (no \"panels\")".into(),
        ));
    }
    let imported = grafana::import(&value)?;
    Ok((imported.dashboard, imported.skipped))
}

fn read_file(path: &Path) -> std::result::Result<(Dashboard, Vec<String>), String> {
    let text = fs::read_to_string(path).map_err(|e| e.to_string())?;
    read_dashboard(&text).map_err(|e| e.to_string())
}

/// A saved dashboard, `None` if there is no such file. Its uid must match its file name.
fn read_saved(path: &Path) -> std::result::Result<Option<Dashboard>, String> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let dashboard: Dashboard = serde_json::from_str(&text).map_err(|e| Error::Json(e).to_string())?;
    dashboard.validate().map_err(|e| e.to_string())?;
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
    if stem != dashboard.uid {
        return Err(format!("uid {:?} does not match the file name", dashboard.uid));
    }
    Ok(Some(dashboard))
}

/// The `*.json` files in `dir` (not hidden ones), by name.
fn json_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name.ends_with(".json") && !name.starts_with('.') && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Writes `dir/name` so that a crash leaves the old file or the new one: a temporary file in the
/// same folder, fsync, rename over, fsync the folder. Creates `dir` if needed.
fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let io = |op: &'static str, path: &Path| {
        let path = path.to_owned();
        move |source| Error::Io { op, path, source }
    };
    fs::create_dir_all(dir).map_err(io("creating", dir))?;
    let tmp = dir.join(format!(".{name}.tmp"));
    let written = File::create(&tmp)
        .and_then(|mut file| {
            file.write_all(bytes)?;
            file.sync_all()
        })
        .map_err(io("writing", &tmp))
        .and_then(|()| fs::rename(&tmp, dir.join(name)).map_err(io("renaming", &tmp)));
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written?;
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|source| Error::Io {
        op: "syncing",
        path: dir.to_owned(),
        source,
    })
}
