//! What putting a backup back into a running 3CX V20 asks of its XAPI, and the shape a
//! backup records (public spec: `3cx/xapi-tutorial`, swagger.yaml):
//!
//! - `GET SystemStatus` → `Version`, `FQDN`;
//! - `GET <collection>?$count=true&$top=0` → `@odata.count` of Users, Trunks,
//!   OutboundRules, Groups, Queues and RingGroups (counts only: no name is read);
//! - `GET Backups` → whether a placed file is listed, at what size;
//! - `GET Backups('<name>')/Pbx.GetBackupExtras()` → `{Footprint, IsEncrypted, Version}`;
//! - `POST Backups('<name>')/Pbx.Restore {"footprint", "password"}` → 204, and the PBX
//!   restarts its services.
//!
//! Each call is one question; waiting, bounds and decisions are the caller's.

use reqwest::Method;
use serde::Deserialize;

use super::{ThreeCx, backup_path};
use crate::manifest::{Fingerprint, PbxShape, check_version};
use crate::source::SourceError;

/// What 3CX says of a file in its backup repository before restoring it.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Extras {
    pub footprint: Option<i64>,
    pub is_encrypted: Option<bool>,
    pub version: Option<String>,
}

/// Who the PBX says it is.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default)]
pub struct Identity {
    pub version: Option<String>,
    #[serde(rename = "FQDN")]
    pub fqdn: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Counted {
    #[serde(rename = "@odata.count")]
    count: u64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Entry {
    file_name: String,
    size: u64,
}

/// The collections a fingerprint counts, in [`Fingerprint`]'s order.
const COLLECTIONS: [&str; 6] = [
    "Users",
    "Trunks",
    "OutboundRules",
    "Groups",
    "Queues",
    "RingGroups",
];

impl ThreeCx {
    /// The PBX's version and FQDN; its version is refused unless it is digits and dots.
    pub async fn identity(&self) -> Result<Identity, SourceError> {
        let http = self.http.client()?;
        let resp = self
            .api(&http, Method::GET, "/xapi/v1/SystemStatus", None)
            .await?;
        let id: Identity = self.http.json("read the status of", resp).await?;
        if let Some(v) = &id.version
            && let Err(why) = check_version(v)
        {
            return Err(self.http.fail(
                "read the version of",
                format!("Version {:?} {why}", crate::escape::text(v)),
            ));
        }
        Ok(id)
    }

    /// The counts of the PBX's configuration, read at once with one token.
    pub async fn fingerprint(&self) -> Result<Fingerprint, SourceError> {
        let http = self.http.client()?;
        self.credential_once(&http).await;
        let http = &http;
        let counts = futures::future::join_all(COLLECTIONS.iter().map(|c| async move {
            let path = format!("/xapi/v1/{c}?$count=true&$top=0&$select=Id");
            let resp = self.api(http, Method::GET, &path, None).await?;
            let n: Counted = self.http.json(&format!("count {c} on"), resp).await?;
            Ok::<u64, SourceError>(n.count)
        }))
        .await
        .into_iter()
        .collect::<Result<Vec<u64>, SourceError>>()?;
        Ok(Fingerprint {
            users: counts[0],
            trunks: counts[1],
            outbound_rules: counts[2],
            groups: counts[3],
            queues: counts[4],
            ring_groups: counts[5],
        })
    }

    /// The version and fingerprint, what can be read of them.
    pub(super) async fn read_shape(&self) -> PbxShape {
        let (identity, fingerprint) = futures::join!(self.identity(), self.fingerprint());
        let version = identity
            .inspect_err(|e| tracing::warn!(source = %self.name, error = %e, "the PBX's version is not recorded"))
            .ok()
            .and_then(|i| i.version);
        let fingerprint = fingerprint
            .inspect_err(|e| tracing::warn!(source = %self.name, error = %e, "the PBX's configuration counts are not recorded (the API client may need read access to users, trunks, outbound rules, groups, queues and ring groups)"))
            .ok();
        PbxShape {
            version,
            fingerprint,
        }
    }

    /// The size at which the PBX lists `name` in its backup repository, if it does.
    pub async fn listed_size(&self, name: &str) -> Result<Option<u64>, SourceError> {
        let http = self.http.client()?;
        let resp = self
            .api(&http, Method::GET, "/xapi/v1/Backups", None)
            .await?;
        let list: super::ODataList<Entry> = self.http.json("list backups of", resp).await?;
        Ok(list
            .value
            .into_iter()
            .find(|e| e.file_name == name)
            .map(|e| e.size))
    }

    /// `GetBackupExtras` of a listed file.
    pub async fn extras(&self, name: &str) -> Result<Extras, SourceError> {
        let http = self.http.client()?;
        let path = format!("{}/Pbx.GetBackupExtras()", backup_path(name));
        let resp = self.api(&http, Method::GET, &path, None).await?;
        let extras: Extras = self
            .http
            .json("read the backup's extras from", resp)
            .await?;
        if let Some(v) = &extras.version
            && let Err(why) = check_version(v)
        {
            return Err(self.http.fail(
                "read the backup's extras from",
                format!("Version {:?} {why}", crate::escape::text(v)),
            ));
        }
        Ok(extras)
    }

    /// `Pbx.Restore`: 3CX restores the file and restarts its services. What 3CX answers
    /// to a refusal (a newer version, a wrong password, a footprint) is in the error.
    pub async fn restore(
        &self,
        name: &str,
        footprint: i64,
        password: &str,
    ) -> Result<(), SourceError> {
        let http = self.http.client()?;
        let path = format!("{}/Pbx.Restore", backup_path(name));
        let body = serde_json::json!({"footprint": footprint, "password": password});
        self.api(&http, Method::POST, &path, Some(body)).await?;
        Ok(())
    }

    /// Deletes a file from the PBX's backup repository through the API.
    pub async fn delete_listed(&self, name: &str) -> Result<(), SourceError> {
        let http = self.http.client()?;
        self.api(&http, Method::DELETE, &backup_path(name), None)
            .await
            .map(drop)
    }

    /// One token before calls made at once, so that they share it.
    async fn credential_once(&self, http: &reqwest::Client) {
        use super::Login;
        let _ = self.credential(http, false).await;
    }
}
